"""Pick confirmation latency through the API at a fixed rate, with a same-run reference.

Run (PostgreSQL on this machine)::

    .venv/bin/python bench/picking_confirm.py                  # 50/s for 20 s
    .venv/bin/python bench/picking_confirm.py --rates 10,25,50 --seconds 20 --workers 4

What it does:

1. creates its own database (``--database-url``, dropped and recreated), seeds a
   warehouse whose zone AUTO is worked by automation system ROBO, 40 items with
   stock at their pick faces, and enough orders (20 lines each) taken through
   the real intake → planning → wave release → dispatch (pull) to have one
   dispatched pick task per confirmation;
2. starts gunicorn (``--workers`` sync workers) on 127.0.0.1;
3. from a separate load process, sends requests open-loop (each at its
   scheduled time, whatever the previous ones do):
   phase A, the reference: ``GET /api/v1/warehouses`` (token auth, permission,
   one query) for ``--ref-seconds``; phase B: ``POST
   /api/v1/automation/pick-confirmations`` (Idempotency-Key, full quantity) for
   ``--seconds`` at each of ``--rates``, tasks in random order (several robots in different aisles:
   consecutive confirmations are for different items and orders); phase C:
   the reference again;
4. prints p50 / p90 / p99 / max per phase, the achieved rate and statuses, the
   gunicorn workers' CPU time per request and how busy the machine was, then
   checks the database: one confirmation and one posting per 200, every
   confirmed task DONE, ``inventory_verify`` clean.

A confirmation does, in one transaction: the idempotency record (advisory
lock), the order lock, the task lock, one ``reservation_consume`` posting
(posting key, two balance rows, ledger entries, reservation), the task and
order line updates with history, the confirmation row, ``pick.confirmed`` and
``reservation.consumed`` outbox events, the integration message log row.

Caveat: a 2-core machine shared with other engineers' test runs; gunicorn,
PostgreSQL and the load generator share the cores. Compare the phases of one
run. Target: confirmation p99 ≤ 100 ms at 50/s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_h6_bench_pick"


def _django(args) -> None:
    for key, value in _env(args).items():
        os.environ[key] = value
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _seed(tasks_wanted: int) -> dict:
    """Warehouse, automation zone and ROBO, stock, orders released and dispatched."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from integrations.automation import automation_dispatch
    from integrations.services import external_system_ensure
    from inventory.models import (
        InventoryStatus,
        Item,
        Location,
        LocationType,
        UnitOfMeasure,
        Warehouse,
        Zone,
    )
    from inventory.services import stock_receive
    from outbound.models import Wave, WavePolicy, WaveReleaseMode
    from outbound.services import (
        OrderLineInput,
        order_accept,
        order_plan,
        wave_release,
        waves_build,
    )
    from tasking.models import AutomationZone, PickTask

    n_items, n_lines = 40, 20
    wh = Warehouse.objects.create(code="PICK1", name="Picking bench DC")
    ea, _ = UnitOfMeasure.objects.get_or_create(code="EA", defaults={"description": "Each"})
    available, _ = InventoryStatus.objects.get_or_create(
        code="AVAILABLE", defaults={"description": "Available", "allocatable": True}
    )
    auto = Zone.objects.create(warehouse=wh, code="AUTO", name="Shuttle")
    stg = Zone.objects.create(warehouse=wh, code="STG", name="Staging")
    Location.objects.create(
        warehouse=wh,
        zone=stg,
        code="STG-01",
        barcode="LSTG01",
        type=LocationType.STAGING,
        pick_sequence=9000,
    )
    items = []
    for n in range(n_items):
        item = Item.objects.create(
            warehouse=wh, sku=f"SKU-{n:04d}", description=f"Item {n}", base_uom=ea
        )
        location = Location.objects.create(
            warehouse=wh,
            zone=auto,
            code=f"A-{n:03d}",
            barcode=f"LA{n:03d}",
            type=LocationType.PICK_FACE,
            pick_sequence=10 * n,
        )
        stock_receive(
            item=item,
            location=location,
            status=available,
            qty=Decimal("1000000"),
            posting_key=f"bench:{n}",
            source_ref="bench",
        )
        items.append(item)
    external_system_ensure(system_type="store", code="S001", warehouse_codes=["PICK1"])
    robot, robot_key, _ = external_system_ensure(
        system_type="automation", code="ROBO", warehouse_codes=["PICK1"], rotate=True
    )
    AutomationZone.objects.create(zone=auto, system=robot)
    WavePolicy.objects.update_or_create(
        warehouse=wh,
        defaults={
            "release_mode": WaveReleaseMode.MANUAL,
            "max_orders": 1000,
            "max_lines": 100_000,
            "max_units": Decimal("10000000"),
        },
    )
    ship_by = timezone.now() + timedelta(days=2)
    for o in range((tasks_wanted + n_lines - 1) // n_lines):
        order = order_accept(
            warehouse=wh,
            store_code="S001",
            external_order_id=f"B-{o:06d}",
            requested_ship_by=ship_by,
            lines=[
                OrderLineInput(
                    line_number=k + 1,
                    sku=items[(o + k) % n_items].sku,
                    qty=Decimal(1 + k % 3),
                )
                for k in range(n_lines)
            ],
        )
        order_plan(order_id=order.pk)
    while waves_build(warehouse_id=wh.pk):
        pass
    for wave in Wave.objects.filter(warehouse=wh, status="OPEN"):
        wave_release(wave_id=wave.pk)
    automation_dispatch()
    rows = (
        PickTask.objects.filter(status="DISPATCHED")
        .order_by("pk")
        .values_list("id", "qty_to_pick", "from_location__code")
    )
    return {"token": robot_key, "tasks": [[str(t), format(q, "f"), c] for t, q, c in rows]}


def _verify() -> dict:
    from inventory.models import InventoryPosting
    from inventory.selectors import inventory_verify
    from tasking.models import PickConfirmation, PickTask

    return {
        "confirmations": PickConfirmation.objects.count(),
        "pick_postings": InventoryPosting.objects.filter(posting_key__startswith="pick:").count(),
        "done": PickTask.objects.filter(status="DONE").count(),
        "problems": inventory_verify().problems[:5],
    }


def _env(args, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        SECRET_KEY=env.get("SECRET_KEY", "bench-secret-key"),
        DJANGO_DEBUG="0",
        CACHE_URL="locmemcache://bench",
        CELERY_BROKER_URL="memory://",
        CELERY_TASK_ALWAYS_EAGER="1",
        WMS_AUTOMATION_KICK="0",
        WMS_EVENT_BUS_URL="",
        DB_CONN_MAX_AGE="600",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _manage(args, *command, capture=False) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=_env(args),
        check=True,
        capture_output=capture,
        text=True,
    )
    return result.stdout if capture else ""


def _recreate_database(url: str) -> None:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_phase(port, token, rate, requests) -> tuple[float, list]:
    """Send ``requests`` open-loop at ``rate``/s from 32 threads; (seconds, samples)."""
    samples: list[tuple[float, float, int]] = []  # (latency s, lateness s, status)
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    counter = iter(range(len(requests)))

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            method, path, body = requests[i]
            headers = {"Authorization": f"Token {token}"}
            if body is not None:
                headers["Content-Type"] = "application/json"
                headers["Idempotency-Key"] = uuid.uuid4().hex
            sent = time.perf_counter()
            conn = HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = 0
            finally:
                conn.close()
            done = time.perf_counter()
            with lock:
                samples.append((done - sent, sent - due, status))

    threads = [threading.Thread(target=worker) for _ in range(32)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began, samples


def _load(port, token, phases, results) -> None:
    """Separate process: run the phases one after the other, report each."""
    for name, rate, requests in phases:
        elapsed, samples = _run_phase(port, token, rate, requests)
        results.put((name, rate, elapsed, samples))


def _cpu_seconds(pids) -> float:
    """User + system CPU seconds of the processes ``pids`` (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _workers(master_pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _pct(values, p) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument(
        "--rates", default="50", help="confirmation rates per second, e.g. 10,25,50"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="each confirmation phase")
    parser.add_argument("--ref-rate", type=float, default=50.0, help="reference GETs per second")
    parser.add_argument("--ref-seconds", type=float, default=10.0, help="each reference phase")
    parser.add_argument("--warmup", type=int, default=100, help="confirmations before measuring")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    per_rate = [int(rate * args.seconds) for rate in rates]
    tasks_needed = sum(per_rate) + args.warmup

    print(f"database {args.database_url}; seeding {tasks_needed} dispatched tasks ...", flush=True)
    began = time.perf_counter()
    _recreate_database(args.database_url)
    _manage(args, "migrate", "-v0")
    _django(args)
    seed = _seed(tasks_needed)
    from django.db import connections

    connections.close_all()  # the load process is forked: it must not share them
    tasks = seed["tasks"]
    random.Random(5).shuffle(tasks)
    print(f"seeded {len(tasks)} tasks in {time.perf_counter() - began:.0f} s", flush=True)
    if len(tasks) < tasks_needed:
        raise SystemExit(f"only {len(tasks)} tasks dispatched, {tasks_needed} needed")

    def confirm(task):
        task_id, qty, location = task
        body = {
            "pickTaskId": task_id,
            "qtyPicked": qty,
            "fromLocation": location,
            "correlationId": f"bench-{task_id[-8:]}",
        }
        return ("POST", "/api/v1/automation/pick-confirmations", json.dumps(body).encode())

    reference = ("GET", "/api/v1/warehouses", None)
    n_ref = int(args.ref_rate * args.ref_seconds)
    phases = [("warm-up (confirm)", rates[0], [confirm(t) for t in tasks[: args.warmup]])]
    phases.append(("A reference GET", args.ref_rate, [reference] * n_ref))
    offset = args.warmup
    for rate, count in zip(rates, per_rate, strict=True):
        batch = [confirm(t) for t in tasks[offset : offset + count]]
        phases.append((f"B confirm @ {rate:g}/s", rate, batch))
        offset += count
    phases.append(("C reference GET", args.ref_rate, [reference] * n_ref))

    port = _free_port()
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "wms.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=_env(args),
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("gunicorn did not come up")
            time.sleep(0.3)
        workers = _workers(gunicorn.pid)
        results = multiprocessing.Queue()
        load = multiprocessing.Process(target=_load, args=(port, seed["token"], phases, results))
        cpu, busy = _cpu_seconds(workers), _machine_busy()
        load.start()
        rows, usage = [], []
        for _ in phases:
            rows.append(results.get())
            cpu_now, busy_now = _cpu_seconds(workers), _machine_busy()
            usage.append(
                (
                    cpu_now - cpu,
                    (busy_now[0] - busy[0]) / max(1, busy_now[1] - busy[1]),
                )
            )
            cpu, busy = cpu_now, busy_now
        load.join()
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)

    print()
    print(
        f"{args.workers} gunicorn sync workers, open-loop load from 1 process (32 threads), "
        f"{os.cpu_count()} CPUs shared with PostgreSQL, the load and other test runs"
    )
    print(
        f"{'phase':20s} {'n':>5s} {'rate/s':>7s} {'p50 ms':>7s} {'p90 ms':>7s} "
        f"{'p99 ms':>7s} {'max ms':>7s} {'late p99':>8s} {'app CPU':>8s} {'busy':>5s}  statuses"
    )
    figures = {}
    for (name, _rate, elapsed, samples), (app_cpu, busy) in zip(rows, usage, strict=True):
        lat = [s[0] * 1000 for s in samples]
        late = [max(0.0, s[1]) * 1000 for s in samples]
        statuses: dict[int, int] = {}
        for sample in samples:
            statuses[sample[2]] = statuses.get(sample[2], 0) + 1
        figures[name] = (_pct(lat, 0.5), _pct(lat, 0.99))
        print(
            f"{name:20s} {len(samples):5d} {len(samples) / elapsed:7.1f} {_pct(lat, 0.5):7.1f} "
            f"{_pct(lat, 0.9):7.1f} {_pct(lat, 0.99):7.1f} {max(lat):7.1f} "
            f"{_pct(late, 0.99):8.1f} {1000 * app_cpu / len(samples):6.1f}ms "
            f"{100 * busy:4.0f}%  {statuses}"
        )
    ref = statistics.mean([figures["A reference GET"][1], figures["C reference GET"][1]])
    print(
        "(app CPU: gunicorn workers' CPU time per request; busy: the whole machine, "
        "all processes, during the phase)"
    )
    print()
    for rate in rates:
        p50, p99 = figures[f"B confirm @ {rate:g}/s"]
        print(
            f"confirmation at {rate:g}/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
            f"= {p99 / ref:.1f} x the reference GET p99 ({ref:.1f} ms, mean of A and C)"
            + (f"; target p99 ≤ 100 ms: {'met' if p99 <= 100 else 'NOT met'}" if rate == 50 else "")
        )
    check = _verify()
    answered = sum(
        1 for name, _r, _e, samples in rows if "confirm" in name for x in samples if x[2] == 200
    )
    print(
        f"database: {check['confirmations']} confirmations, {check['pick_postings']} pick "
        f"postings, {check['done']} tasks DONE for {answered} answers 200; "
        f"inventory_verify: {'clean' if not check['problems'] else check['problems']}"
    )


if __name__ == "__main__":
    main()
