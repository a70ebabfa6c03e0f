"""Order-to-ship throughput through the API: packing and shipping beside picking, same run.

Run (PostgreSQL on this machine)::

    .venv/bin/python bench/order_to_ship.py                    # 500 orders of 3 lines
    .venv/bin/python bench/order_to_ship.py --orders 200 --concurrency 8 --workers 4

What it does:

1. creates its own database (``--database-url``, dropped and recreated,
   migrated) and seeds a warehouse whose zone AUTO is worked by automation
   system ROBO (stock at 30 pick faces), a staging location, an outbound dock
   door, a carton type and a GS1 prefix; a store and the packing line PACK1;
2. gets two comparable sets of ``--orders`` orders of ``--lines`` lines (plus
   a small warm-up set each) to where the clock starts, fast and untimed,
   through the services in this process: accepted, planned, waved, released
   and dispatched to ROBO; the *picking* set stops there, the *shipping* set
   has its picks confirmed in-process (so its orders wait, picked, to be
   packed);
3. starts gunicorn (``--workers`` sync workers) on a free port and, from a
   separate load process with ``--concurrency`` threads (closed loop, bodies
   built before the clock starts), sends through the API: (a) ``POST
   /api/v1/automation/pick-confirmations`` for every task of the picking set,
   in random order; (b) ``POST /api/v1/automation/pack-confirmations``, one
   carton with all the lines per order of the shipping set; (c) ``POST
   /api/v1/automation/shipment-confirmations``, one order per shipment
   through the outbound door (the worst case: a truck per order);
4. prints requests/s, p50 and p99 per phase, then orders picked per second
   (the picking rate) beside orders packed and shipped per second, and
   whether shipping keeps up with picking (the issue's target); then checks
   the database: every order SHIPPED, one shipment and one finance event per
   order, ``inventory_verify`` clean.

A pick confirmation posts one reservation consumption into staging; a pack
confirmation checks the whole request, then writes the package (SSCC from the
database sequence), its lines, the quantities and the order PACKED in one
round trip; a shipment confirmation posts the staged stock out (one posting
per line), writes the shipment, the orders and the ``shipment.confirmed``
outbox event in one round trip and, last, the finance event, whose counter
serialises every shipment of the instance from that statement to commit
(inventory/finance.py). The ``waiting`` column shows what that costs: the
mean number of database sessions waiting on a lock, and of them on the
finance counter, sampled every 20 ms during the phase. The outbox relay and
webhooks do not run here (bench/outbox_relay.py measures the relay).

Figures (this machine, 2 shared CPUs, --orders 300): before the batched pack
and ship services (cfb139b) packed + shipped was 0.51 x the picking rate of
the same run (pack 5.1, ship 5.0 req/s; app CPU 49.9 and 42.6 ms a request,
picking 18.3 ms a confirmation); after (eb72e07) 1.27 x (pack 13.5, ship
10.6 req/s; 19.7 and 23.0 ms).

Caveat: a 2-core machine shared with other engineers' test runs; gunicorn,
PostgreSQL and the load generator share the cores. Compare the phases of one
run, not runs on different days.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_bench_order_to_ship"
N_ITEMS = 30
WAREHOUSE = "SHIP1"
STORE = "S001"
DOOR = "D-OUT-1"


def _env(args, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        SECRET_KEY=env.get("SECRET_KEY", "bench-secret-key"),
        DJANGO_DEBUG="0",
        CACHE_URL="locmemcache://bench",
        # Nothing consumes tasks here: intake's planning nudges (the seed plans
        # itself) land in the in-memory broker and stay there.
        CELERY_BROKER_URL="memory://localhost/",
        CELERY_TASK_ALWAYS_EAGER="0",
        WMS_AUTOMATION_KICK="0",
        WMS_EVENT_BUS_URL="",
        DB_CONN_MAX_AGE="600",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise SystemExit(f"order_to_ship: cannot (re)create database {name!r}: {exc}") from exc


def _migrate(args) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env=_env(args),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"order_to_ship: migrate failed:\n{result.stderr[-3000:]}")


def _django(args) -> None:
    for key, value in _env(args).items():
        os.environ[key] = value
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- the untimed part: seed, and orders taken to where the clock starts ---------------


def _seed() -> dict:
    """Warehouse, automation zone, stock, staging, door, carton; the API clients."""
    from decimal import Decimal

    from integrations.services import external_system_ensure
    from inventory.models import (
        DockDirection,
        DockDoor,
        InventoryStatus,
        Item,
        Location,
        LocationType,
        UnitOfMeasure,
        Warehouse,
        Zone,
    )
    from inventory.services import stock_receive
    from outbound.models import PackageKind, PackageType, WavePolicy, WaveReleaseMode
    from tasking.models import AutomationZone

    wh = Warehouse.objects.create(
        code=WAREHOUSE, name="Order-to-ship bench DC", gs1_company_prefix="8412345"
    )
    ea, _ = UnitOfMeasure.objects.get_or_create(code="EA", defaults={"description": "Each"})
    available, _ = InventoryStatus.objects.get_or_create(
        code="AVAILABLE", defaults={"description": "Available", "allocatable": True}
    )
    auto = Zone.objects.create(warehouse=wh, code="AUTO", name="Shuttle")
    stg = Zone.objects.create(warehouse=wh, code="STG", name="Staging")
    dck = Zone.objects.create(warehouse=wh, code="DCK", name="Docks")
    Location.objects.create(
        warehouse=wh, zone=stg, code="STG-01", barcode="LSTG01",
        type=LocationType.STAGING, pick_sequence=9000,
    )  # fmt: skip
    dock = Location.objects.create(
        warehouse=wh, zone=dck, code="DOCK-01", barcode="LDOCK01", type=LocationType.DOCK
    )
    DockDoor.objects.create(
        warehouse=wh, code=DOOR, name="Door out 1", direction=DockDirection.OUTBOUND, location=dock
    )
    PackageType.objects.create(
        code="CARTON-M", name="Carton M", kind=PackageKind.CARTON,
        tare_weight_kg=Decimal("0.4"), length_cm=40, width_cm=30, height_cm=30,
    )  # fmt: skip
    for n in range(N_ITEMS):
        item = Item.objects.create(
            warehouse=wh, sku=f"SKU-{n:04d}", description=f"Item {n}", base_uom=ea,
            unit_cost=Decimal("0.50") + Decimal(n) / 10,
        )  # fmt: skip
        face = Location.objects.create(
            warehouse=wh, zone=auto, code=f"A-{n:03d}", barcode=f"LA{n:03d}",
            type=LocationType.PICK_FACE, pick_sequence=10 * n,
        )  # fmt: skip
        stock_receive(
            item=item, location=face, status=available, qty=Decimal("1000000"),
            posting_key=f"bench:{n}", source_ref="bench",
        )  # fmt: skip
    external_system_ensure(system_type="store", code=STORE, warehouse_codes=[WAREHOUSE])
    robot, robot_key, _ = external_system_ensure(
        system_type="automation", code="ROBO", warehouse_codes=[WAREHOUSE], rotate=True
    )
    _line, pack_key, _ = external_system_ensure(
        system_type="automation", code="PACK1", warehouse_codes=[WAREHOUSE], rotate=True
    )
    AutomationZone.objects.create(zone=auto, system=robot)
    WavePolicy.objects.update_or_create(
        warehouse=wh,
        defaults={
            "release_mode": WaveReleaseMode.MANUAL,
            "max_orders": 100_000,
            "max_lines": 1_000_000,
            "max_units": Decimal("100000000"),
        },
    )
    return {"warehouse": wh, "robot": robot, "robot_key": robot_key, "pack_key": pack_key}


def _orders_released(warehouse, *, prefix: str, count: int, lines: int) -> list[str]:
    """``count`` orders accepted, planned, waved, released and dispatched to ROBO."""
    from datetime import timedelta
    from decimal import Decimal

    from django.conf import settings
    from django.utils import timezone

    from integrations.automation import automation_dispatch
    from outbound.models import Wave, WaveStatus
    from outbound.services import (
        OrderLineInput,
        order_accept,
        planning_job_run,
        wave_release,
        waves_build,
    )

    ship_by = timezone.now() + timedelta(days=2)
    ids = []
    for o in range(count):
        order = order_accept(
            warehouse=warehouse,
            store_code=STORE,
            external_order_id=f"{prefix}-{o:06d}",
            requested_ship_by=ship_by,
            lines=[
                OrderLineInput(
                    line_number=k + 1,
                    sku=f"SKU-{(o + 7 * k) % N_ITEMS:04d}",
                    qty=Decimal(1 + (o + k) % 3),
                )
                for k in range(lines)
            ],
        )
        ids.append(str(order.pk))
    for group in range(settings.WMS_PLANNING_GROUPS):
        while planning_job_run(warehouse_id=warehouse.pk, planning_group=group).more:
            pass
    while waves_build(warehouse_id=warehouse.pk):
        pass
    for wave in Wave.objects.filter(warehouse=warehouse, status=WaveStatus.OPEN):
        wave_release(wave_id=wave.pk)
    while automation_dispatch():
        pass
    return ids


def _tasks_of(order_ids) -> list[tuple[str, str, str]]:
    from tasking.models import PickTask, PickTaskStatus

    rows = (
        PickTask.objects.filter(order_id__in=order_ids, status=PickTaskStatus.DISPATCHED)
        .order_by("pk")
        .values_list("id", "qty_to_pick", "from_location__code")
    )
    return [(str(t), format(q, "f"), c) for t, q, c in rows]


def _picks_confirm(order_ids, robot) -> None:
    """Pick every task of these orders in-process (as ROBO would): they become packable."""
    from tasking.models import ConfirmationSource
    from tasking.services import pick_confirm

    for task_id, qty, location in _tasks_of(order_ids):
        pick_confirm(
            task_id=task_id, qty=qty, request_key=f"bench-seed:{task_id}", system=robot,
            source=ConfirmationSource.AUTOMATION, location_code=location,
        )  # fmt: skip


def _pack_lines(order_ids) -> dict[str, list[dict]]:
    from outbound.models import ReplenishmentOrderLine

    lines: dict[str, list[dict]] = {}
    for order_id, number, qty in (
        ReplenishmentOrderLine.objects.filter(order_id__in=order_ids)
        .order_by("order_id", "line_number")
        .values_list("order_id", "line_number", "qty_picked")
    ):
        lines.setdefault(str(order_id), []).append({"lineNumber": number, "qty": format(qty, "f")})
    return lines


def _verify(expected_shipped: int) -> list[str]:
    from inventory.models import FinanceEvent
    from inventory.selectors import inventory_verify
    from outbound.models import OrderStatus, ReplenishmentOrder, Shipment

    problems = []
    shipped = ReplenishmentOrder.objects.filter(status=OrderStatus.SHIPPED).count()
    shipments = Shipment.objects.count()
    finance = FinanceEvent.objects.filter(event_type="shipment.confirmed").count()
    if not shipped == shipments == finance == expected_shipped:
        problems.append(
            f"{shipped} orders SHIPPED, {shipments} shipments, {finance} finance events; "
            f"{expected_shipped} expected of each"
        )
    problems += inventory_verify().problems[:5]
    return problems


# --- the timed part: the API under load --------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_phase(port, threads, requests) -> tuple[float, list[tuple[float, int]]]:
    """Closed loop: ``threads`` clients each send the next request when the last answered."""
    samples: list[tuple[float, int]] = []
    lock = threading.Lock()
    pending = iter(requests)

    def client():
        local = []
        while True:
            with lock:
                request = next(pending, None)
            if request is None:
                break
            path, token, body = request
            headers = {
                "Authorization": f"Token {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            }
            started = time.perf_counter()
            conn = HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = 0
            finally:
                conn.close()
            local.append((time.perf_counter() - started, status))
        with lock:
            samples.extend(local)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    began = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return time.perf_counter() - began, samples


def _load(port, threads, phases, results) -> None:
    """The load process: the phases one after the other, each reported when done."""
    for name, requests in phases:
        elapsed, samples = _run_phase(port, threads, requests)
        results.put((name, elapsed, samples))


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


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class _LockWaits:
    """Samples, every 20 ms, how many of the bench database's backends wait on a lock, and
    how many of those wait on the finance counter (its ``UPDATE``): the mean over a phase
    is how many gunicorn workers stood waiting instead of working."""

    def __init__(self, url: str):
        self.url = url
        self.samples = self.waiting = self.on_counter = 0
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        statement = (
            "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) FILTER "
            "(WHERE wait_event_type = 'Lock' AND query ILIKE '%%financesequence%%') "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopped.wait(0.02):
                waiting, on_counter = conn.execute(statement).fetchone()
                with self.lock:
                    self.samples += 1
                    self.waiting += waiting
                    self.on_counter += on_counter

    def take(self) -> tuple[float, float]:
        """Mean backends waiting on any lock, on the finance counter, since the last take."""
        with self.lock:
            n = max(self.samples, 1)
            figures = (self.waiting / n, self.on_counter / n)
            self.samples = self.waiting = self.on_counter = 0
        return figures


def _pct(values, p) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p * (len(values) - 1)))]


def _gunicorn_start(args, port, log_path) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")), "wms.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
            "--timeout", "120", "--backlog", "2048", "--log-level", "warning",
        ],
        cwd=ROOT,
        env=_env(args),
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise SystemExit(
                f"order_to_ship: gunicorn exited with {process.returncode}:\n"
                + Path(log_path).read_text(errors="replace")[-3000:]
            )
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.terminate()
            process.wait(timeout=30)
            raise SystemExit(f"order_to_ship: gunicorn did not answer /healthz on port {port}")
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--orders", type=int, default=500, help="orders per set (pick, ship)")
    parser.add_argument("--lines", type=int, default=3, help="lines per order")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up orders per set")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    args = parser.parse_args()
    if args.orders < 1 or args.lines < 1:
        raise SystemExit("order_to_ship: --orders and --lines must be at least 1")

    began = time.perf_counter()
    print(f"database {args.database_url}; seeding ...", flush=True)
    _recreate_database(args.database_url)
    _migrate(args)
    _django(args)
    seed = _seed()
    wh = seed["warehouse"]
    pick_warm = _orders_released(wh, prefix="PW", count=args.warmup, lines=args.lines)
    pick_set = _orders_released(wh, prefix="P", count=args.orders, lines=args.lines)
    ship_warm = _orders_released(wh, prefix="SW", count=args.warmup, lines=args.lines)
    ship_set = _orders_released(wh, prefix="S", count=args.orders, lines=args.lines)
    _picks_confirm(ship_warm + ship_set, seed["robot"])
    pick_tasks, warm_tasks = _tasks_of(pick_set), _tasks_of(pick_warm)
    pack_lines = _pack_lines(ship_warm + ship_set)
    if len(pick_tasks) != args.orders * args.lines or len(pack_lines) != args.orders + args.warmup:
        raise SystemExit(
            f"order_to_ship: seeding gave {len(pick_tasks)} dispatched tasks "
            f"({args.orders * args.lines} wanted) and {len(pack_lines)} picked orders"
        )
    from django.db import connections

    connections.close_all()  # the load process is forked: it must not share them
    random.Random(14).shuffle(pick_tasks)
    print(
        f"seeded in {time.perf_counter() - began:.0f} s: {len(pick_tasks)} pick tasks to confirm, "
        f"{args.orders} picked orders to pack and ship (+ {args.warmup} warm-up each)",
        flush=True,
    )

    robot, packer = seed["robot_key"], seed["pack_key"]

    def pick(task):
        task_id, qty, location = task
        body = {"pickTaskId": task_id, "qtyPicked": qty, "fromLocation": location}
        return ("/api/v1/automation/pick-confirmations", robot, json.dumps(body).encode())

    def pack(order_id):
        body = {
            "orderId": order_id,
            "packages": [
                {"packageType": "CARTON-M", "weightKg": "4.2", "lines": pack_lines[order_id]}
            ],
        }
        return ("/api/v1/automation/pack-confirmations", packer, json.dumps(body).encode())

    def ship(order_id):
        body = {
            "orderIds": [order_id],
            "dockDoor": DOOR,
            "carrier": "BENCH",
            "trackingRef": f"T-{order_id[-8:]}",
        }
        return ("/api/v1/automation/shipment-confirmations", packer, json.dumps(body).encode())

    phases = [
        ("warm-up pick", [pick(t) for t in warm_tasks]),
        ("warm-up pack", [pack(o) for o in ship_warm]),
        ("warm-up ship", [ship(o) for o in ship_warm]),
        ("pick confirm", [pick(t) for t in pick_tasks]),
        ("pack confirm", [pack(o) for o in ship_set]),
        ("ship confirm", [ship(o) for o in ship_set]),
    ]
    expected = {"pick confirm": 200, "pack confirm": 201, "ship confirm": 201}
    expected.update({"warm-up pick": 200, "warm-up pack": 201, "warm-up ship": 201})

    port = _free_port()
    log_path = Path(tempfile.gettempdir()) / f"bench-order-to-ship-gunicorn-{port}.log"
    waits = _LockWaits(args.database_url)
    gunicorn = _gunicorn_start(args, port, log_path)
    rows = []
    try:
        workers = _children(gunicorn.pid)
        results = multiprocessing.get_context("fork").Queue()
        load = multiprocessing.get_context("fork").Process(
            target=_load, args=(port, args.concurrency, phases, results)
        )
        cpu = _cpu_seconds(workers)
        waits.thread.start()
        load.start()
        for _ in phases:
            name, elapsed, samples = results.get()
            cpu_now = _cpu_seconds(workers)
            rows.append((name, elapsed, samples, cpu_now - cpu, waits.take()))
            cpu = cpu_now
            print(f"  {name} done in {elapsed:.1f} s", flush=True)
        load.join()
    finally:
        waits.stopped.set()
        gunicorn.terminate()
        gunicorn.wait(timeout=30)

    print()
    print(
        f"{args.orders} orders of {args.lines} lines per set; {args.workers} gunicorn sync "
        f"workers; {args.concurrency} closed-loop clients in 1 process; {os.cpu_count()} CPUs "
        "shared with PostgreSQL, the load and other runs"
    )
    print(
        f"{'phase':13s} {'n':>6s} {'req/s':>7s} {'p50 ms':>7s} {'p99 ms':>7s} "
        f"{'max ms':>7s} {'app CPU':>8s} {'waiting':>8s}  statuses"
    )
    figures, failures = {}, []
    for name, elapsed, samples, app_cpu, (waiting, on_counter) in rows:
        statuses: dict[int, int] = {}
        for _latency, status in samples:
            statuses[status] = statuses.get(status, 0) + 1
        ok = [1000 * latency for latency, status in samples if status == expected[name]]
        if len(ok) != len(samples):
            failures.append(
                f"{name}: {len(samples) - len(ok)} of {len(samples)} not {expected[name]}"
            )
        if not ok:
            continue
        figures[name] = {"rate": len(ok) / elapsed, "seconds": elapsed, "cpu": app_cpu}
        print(
            f"{name:13s} {len(samples):6d} {len(ok) / elapsed:7.1f} {_pct(ok, 0.5):7.1f} "
            f"{_pct(ok, 0.99):7.1f} {max(ok):7.1f} {1000 * app_cpu / len(samples):6.1f}ms "
            f"{waiting:4.2f}/{on_counter:4.2f}  {statuses}"
        )
    print(
        "(app CPU: gunicorn workers' CPU time per request; waiting: mean database sessions "
        "waiting on a lock / of them on the finance counter, sampled every 20 ms)"
    )
    if failures:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise SystemExit(
            "order_to_ship: requests failed, no figures:\n  "
            + "\n  ".join(failures)
            + f"\ngunicorn log ({log_path}):\n{tail}"
        )

    picked = args.orders / figures["pick confirm"]["seconds"]
    packed = args.orders / figures["pack confirm"]["seconds"]
    shipped = args.orders / figures["ship confirm"]["seconds"]
    both = args.orders / (figures["pack confirm"]["seconds"] + figures["ship confirm"]["seconds"])
    print()
    print(
        f"picking : {figures['pick confirm']['rate']:6.1f} pick confirmations/s "
        f"= {picked:6.1f} orders picked/s ({args.lines} confirmations an order)"
    )
    print(f"packing : {packed:6.1f} orders packed/s (one pack confirmation an order)")
    print(f"shipping: {shipped:6.1f} orders shipped/s (one shipment an order)")
    print(
        f"packed + shipped: {both:6.1f} orders/s (both steps, one after the other) "
        f"= {both / picked:.2f} x the picking rate"
    )
    cpu_pick = 1000 * figures["pick confirm"]["cpu"] / args.orders
    cpu_out = 1000 * (figures["pack confirm"]["cpu"] + figures["ship confirm"]["cpu"]) / args.orders
    print(
        f"gunicorn CPU an order: picking {cpu_pick:.0f} ms, packing + shipping {cpu_out:.0f} ms "
        f"({cpu_out / cpu_pick:.1f} x)"
    )
    print(
        "target shipping ≥ picking: "
        + ("met" if both >= picked else "NOT met on this run")
        + f" (packed + shipped {both:.1f} vs picked {picked:.1f} orders/s)"
    )

    problems = _verify(expected_shipped=args.orders + args.warmup)
    if problems:
        raise SystemExit("order_to_ship: the database does not add up:\n  " + "\n  ".join(problems))
    print(
        f"database: {args.orders + args.warmup} orders shipped, one shipment and one finance "
        "event each; inventory_verify: clean"
    )
    log_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
