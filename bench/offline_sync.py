"""Offline sync (issue 16): queued pick confirmations sent on reconnect, with a
same-run comparison.

Run (PostgreSQL on this machine)::

    .venv/bin/python bench/offline_sync.py
    .venv/bin/python bench/offline_sync.py --entries 1000 --devices 10 --per-device 100
    .venv/bin/python bench/offline_sync.py --per-device 1000   # 10 x 1,000 (seeds 12,000 tasks)

What it does:

1. creates its own database (``--database-url``, dropped and recreated), seeds a
   warehouse (40 items with stock at their pick faces, a staging location) and
   enough orders taken through the real intake → planning → wave release to have
   one released (manual) pick task per confirmation; every picker's tasks are
   claimed ahead for them as the handheld's "download my next tasks" does
   (``pick_tasks_claim_ahead``);
2. starts gunicorn (``--workers`` sync workers) on 127.0.0.1 and logs each
   picker in (a session cookie and a CSRF token, as the handheld has); every
   worker runs a small sync first (not timed: a server that has been up);
3. phase A, one device: ``--entries`` queued confirmations posted to
   ``/handheld/offline/sync/`` in batches of ``--batch`` (what the device's
   script does on reconnect), one request after the other: time from the first
   request to the last answer; then the same batches again (a device that never
   heard back): every entry must come back ``already_applied``;
   phase B, ``--devices`` devices at once, ``--per-device`` entries each
   (default 10 x 100: the issue's 1,000 confirmations from 10 devices; pass
   ``--per-device 1000`` for 1,000 each);
   phase C, the same-run reference: ``--entries`` other confirmations, one
   entry per request (the old page's one-request-at-a-time replay, and what
   the online page costs: each confirmation its own request and transaction),
   through the same endpoint;
4. checks the database: one confirmation, one posting and one sync entry per
   entry sent, no entry twice, every task DONE, ``inventory_verify`` clean. Any
   failure (or a bench that cannot run) exits non-zero.

Targets (issue 16): A < 2 s, B < 5 s, 0 duplicates. Caveat: a 2-core machine
shared with other engineers' runs; gunicorn, PostgreSQL and the load share the
cores. Compare the phases of one run. It prints the figures and exits non-zero
when it could not run (database, server) or the database check fails; it never
fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import threading
import time
import uuid
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import picking_confirm as base  # the shared bench helpers: env, database, free port

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_offline_bench"
SYNC = "/handheld/offline/sync/"
PASSWORD = "bench-pw-1"


def _seed(*, groups: list[int]) -> list[dict]:
    """Warehouse, stock and released manual tasks; one picker per group, each holding
    their tasks (claimed ahead), with a session: [{cookie, csrf, user, tasks}]."""
    from datetime import timedelta
    from decimal import Decimal

    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone
    from guardian.shortcuts import assign_perm

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
    from tasking.models import PickTask
    from tasking.offline_sync import pick_tasks_claim_ahead

    n_items, n_lines = 40, 20
    wh = Warehouse.objects.create(code="OFF1", name="Offline bench DC")
    ea, _ = UnitOfMeasure.objects.get_or_create(code="EA", defaults={"description": "Each"})
    available, _ = InventoryStatus.objects.get_or_create(
        code="AVAILABLE", defaults={"description": "Available", "allocatable": True}
    )
    aisle = Zone.objects.create(warehouse=wh, code="A", name="Aisle A")
    Location.objects.create(
        warehouse=wh,
        code="STG-01",
        barcode="LSTG01",
        type=LocationType.STAGING,
        pick_sequence=9000,
    )
    items = []
    for n in range(n_items):
        item = Item.objects.create(
            warehouse=wh,
            sku=f"SKU-{n:04d}",
            gtin=f"84{n:011d}",
            description=f"Item {n}",
            base_uom=ea,
        )
        location = Location.objects.create(
            warehouse=wh,
            zone=aisle,
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
    from integrations.services import external_system_ensure

    external_system_ensure(system_type="store", code="S001", warehouse_codes=["OFF1"])
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
    for o in range((sum(groups) + n_lines - 1) // n_lines):
        order = order_accept(
            warehouse=wh,
            store_code="S001",
            external_order_id=f"OFF-{o:06d}",
            requested_ship_by=ship_by,
            lines=[
                OrderLineInput(
                    line_number=k + 1, sku=items[(o + k) % n_items].sku, qty=Decimal(1 + k % 3)
                )
                for k in range(n_lines)
            ],
        )
        order_plan(order_id=order.pk)
    while waves_build(warehouse_id=wh.pk):
        pass
    for wave in Wave.objects.filter(warehouse=wh, status="OPEN"):
        wave_release(wave_id=wave.pk)

    pickers = Group.objects.get(name="picker")
    devices = []
    for n, size in enumerate(groups):
        user = get_user_model().objects.create_user(username=f"picker{n:02d}", password=PASSWORD)
        user.groups.add(pickers)
        assign_perm("inventory.access_warehouse", user, wh)
        user = get_user_model().objects.get(pk=user.pk)  # fresh permission caches
        claimed = pick_tasks_claim_ahead(picker=user, warehouse=wh, limit=size)
        if claimed != size:
            raise SystemExit(f"only {claimed} tasks for picker {n}, {size} needed")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        rows = PickTask.objects.filter(assigned_to=user).order_by("pick_sequence", "id")
        tasks = [
            [str(t.pk), format(t.qty_to_pick, "f"), t.from_location.barcode, t.item.gtin]
            for t in rows.select_related("from_location", "item")
        ]
        devices.append(
            {
                "user": user.pk,
                "cookie": session.session_key,
                "csrf": secrets.token_hex(16),
                "device": f"bench-{n:02d}",
                "tasks": tasks,
            }
        )
    return devices


def _entries(device: dict) -> list[dict]:
    now = time.time()
    return [
        {
            "key": uuid.uuid4().hex,
            "kind": "pick.confirm",
            "user": device["user"],
            "device": device["device"],
            "seq": i,
            "happenedAt": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 60 + i / 100)),
            "data": {"taskId": task_id, "location": location, "item": gtin, "qty": qty},
        }
        for i, (task_id, qty, location, gtin) in enumerate(device["tasks"], start=1)
    ]


def _send(port: int, device: dict, entries: list[dict], batch: int) -> dict:
    """Post ``entries`` in batches, one request after the other (as the device does):
    {"seconds", "requests", statuses: {applied: n, ...}, "errors"}."""
    statuses: dict[str, int] = {}
    errors = []
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": device["csrf"],
        "Cookie": f"sessionid={device['cookie']}; csrftoken={device['csrf']}",
    }
    began = time.perf_counter()
    conn = HTTPConnection("127.0.0.1", port, timeout=120)
    requests = 0
    for start in range(0, len(entries), batch):
        chunk = entries[start : start + batch]
        body = json.dumps(
            {"deviceId": device["device"], "pending": len(entries) - start, "entries": chunk}
        )
        conn.request("POST", SYNC, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        requests += 1
        if response.status != 200:
            errors.append(f"HTTP {response.status}: {payload[:300]!r}")
            continue
        for result in json.loads(payload)["results"]:
            statuses[result["status"]] = statuses.get(result["status"], 0) + 1
            if result["status"] == "refused":
                errors.append(f"{result['code']}: {result['message']}")
    conn.close()
    return {
        "seconds": time.perf_counter() - began,
        "requests": requests,
        "statuses": statuses,
        "errors": errors,
    }


def _warm(port: int, device: dict, times: int) -> None:
    """Each worker imports, connects and logs the session in before anything is timed."""
    for _ in range(times):
        conn = HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request(
            "GET",
            "/handheld/offline/work.json",
            headers={"Cookie": f"sessionid={device['cookie']}"},
        )
        conn.getresponse().read()
        conn.close()


#: Entries per warm-up sync request (their tasks are seeded for it).
WARM_ENTRIES = 2


def _warm_sync(port: int, device: dict, requests: int) -> None:
    """Every worker runs the sync path once before anything is timed (its imports,
    caches and prepared statements, as a server that has been up a while), from
    concurrent requests so that each worker takes some; not counted."""
    queued = _entries(device)
    chunks = [queued[i : i + WARM_ENTRIES] for i in range(0, len(queued), WARM_ENTRIES)]
    threads = [
        threading.Thread(target=_send, args=(port, device, chunk, WARM_ENTRIES))
        for chunk in chunks[:requests]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _verify(expected: int) -> list[str]:
    from django.db.models import Count

    from inventory.models import InventoryPosting
    from inventory.selectors import inventory_verify
    from tasking.models import PickConfirmation, PickTask, SyncEntry

    problems = []
    confirmations = PickConfirmation.objects.count()
    postings = InventoryPosting.objects.filter(posting_key__startswith="pick:").count()
    entries = SyncEntry.objects.filter(outcome="APPLIED").count()
    done = PickTask.objects.filter(status="DONE").count()
    for name, value in [
        ("confirmations", confirmations),
        ("pick postings", postings),
        ("applied sync entries", entries),
        ("tasks DONE", done),
    ]:
        if value != expected:
            problems.append(f"{name}: {value}, expected {expected}")
    twice = (
        PickConfirmation.objects.values("pick_task").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    if twice:
        problems.append(f"{twice} tasks confirmed more than once")
    problems.extend(inventory_verify().problems[:5])
    return problems


def _start_server(args, port: int):
    import subprocess

    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "wms.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            # A loaded machine makes a batch of 100 slow; the device waits longer.
            "--timeout",
            "300",
        ],
        cwd=base.ROOT,
        env=base._env(args),
    )
    deadline = time.time() + 60
    while True:
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        if time.time() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit("gunicorn did not come up")
        time.sleep(0.3)


def _line(name: str, result: dict, entries: int) -> str:
    per = 1000 * result["seconds"] / max(entries, 1)
    return (
        f"{name:<44} {entries:>6} entries {result['requests']:>5} requests "
        f"{result['seconds']:>7.2f} s  {per:>6.2f} ms/entry  {result['statuses']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--entries", type=int, default=1000, help="phase A (and C) entries")
    parser.add_argument("--devices", type=int, default=10, help="phase B devices at once")
    parser.add_argument("--per-device", type=int, default=100, help="phase B entries each")
    parser.add_argument(
        "--batch", type=int, default=250, help="entries per sync request (the device's)"
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    args = parser.parse_args()

    warm_requests = args.workers * 3
    groups = [args.entries] + [args.per_device] * args.devices + [args.entries]
    groups.append(warm_requests * WARM_ENTRIES)
    print(f"database {args.database_url}; seeding {sum(groups)} tasks ...", flush=True)
    began = time.perf_counter()
    base._recreate_database(args.database_url)
    base._manage(args, "migrate", "-v0")
    base._django(args)
    devices = _seed(groups=groups)
    from django.db import connections

    connections.close_all()
    print(f"seeded in {time.perf_counter() - began:.0f} s", flush=True)

    port = base._free_port()
    server = _start_server(args, port)
    errors: list[str] = []
    try:
        one, many, reference, warm = devices[0], devices[1:-2], devices[-2], devices[-1]
        _warm(port, reference, args.workers * 3)
        _warm_sync(port, warm, warm_requests)

        entries = _entries(one)
        a = _send(port, one, entries, args.batch)
        print(_line(f"A one device, batches of {args.batch}", a, len(entries)), flush=True)
        again = _send(port, one, entries, args.batch)
        print(_line("A' the same batches again (answers lost)", again, len(entries)), flush=True)
        if again["statuses"] != {"already_applied": len(entries)}:
            errors.append(f"resent batches: {again['statuses']}")

        results: list[dict] = [{} for _ in many]
        queued = [_entries(d) for d in many]

        def run(i):
            results[i] = _send(port, many[i], queued[i], args.batch)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(many))]
        wall = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
        merged: dict[str, int] = {}
        for r in results:
            for k, v in r["statuses"].items():
                merged[k] = merged.get(k, 0) + v
            errors.extend(r["errors"])
        b = {"seconds": wall, "requests": sum(r["requests"] for r in results), "statuses": merged}
        total_b = sum(len(q) for q in queued)
        print(
            _line(f"B {len(many)} devices x {args.per_device} at once (wall)", b, total_b),
            flush=True,
        )
        slowest = max(r["seconds"] for r in results)
        print(f"{'  slowest device':<44} {slowest:>44.2f} s", flush=True)

        ref_entries = _entries(reference)
        c = _send(port, reference, ref_entries, 1)
        print(_line("C reference: one entry per request", c, len(ref_entries)), flush=True)
        for r in (a, c):
            errors.extend(r["errors"])
    finally:
        server.terminate()
        server.wait(timeout=30)

    expected = len(entries) + total_b + len(ref_entries) + len(warm["tasks"])
    problems = _verify(expected)
    print(f"checked: {expected} confirmations expected; problems: {problems or 'none'}")
    print(
        f"targets: A {a['seconds']:.2f} s (< 2 s) {'met' if a['seconds'] < 2 else 'MISSED'}; "
        f"B {b['seconds']:.2f} s (< 5 s) {'met' if b['seconds'] < 5 else 'MISSED'}; "
        f"batching vs one per request: {c['seconds'] / max(a['seconds'], 1e-9):.1f}x faster"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if errors or problems:
        print("FAILED:", *(errors + problems)[:20], sep="\n  ")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
