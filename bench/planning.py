"""Planning benchmark: order lines allocated per second by 2 Celery workers, with a
same-run reference.

Run (PostgreSQL, Redis and RabbitMQ on this machine)::

    .venv/bin/python bench/planning.py                    # 3,000 orders x 10 lines
    .venv/bin/python bench/planning.py --orders 1000 --release

What it does:

1. creates its own database (``--database-url``, dropped and recreated) with a
   warehouse, 2 x 400 items (one set for the planner, one for the reference),
   a pick face and a reserve location per item, stock at every pick face, 16
   stores, and ``--orders`` accepted orders of ``--lines`` lines (distinct
   items, 1-5 units each) spread over the stores, hence over the planning
   partitions;
2. **planner**: starts 2 ``celery -A wms worker`` processes (one task at a time
   each) on a queue of this run, sends one ``order_planning_task`` per
   partition (the ``order.accepted`` trigger does the same) and waits until no
   order awaits planning; lines allocated / seconds. Waves are built; with
   ``--release`` they are also released into pick tasks at once;
3. **reference**: 2 processes call ``inventory.services.reservations_take``
   directly for the same number of lines on the second item set, one batch
   of 10 lines per transaction (as the planner reserves an order) — the
   posting work that allocation cannot avoid, without choosing stock,
   allocation rows, line and order updates, history, events or waves.

It prints both rates and the ratio. Caveat: a 2-core machine shared with other
engineers' test runs; the workers, PostgreSQL and RabbitMQ share the cores.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_h5_bench_planning"
CACHE_URL = "redis://127.0.0.1:6379/7"
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
ITEMS = 400


def _env(args, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        SECRET_KEY=env.get("SECRET_KEY", "bench-secret-key"),
        CACHE_URL=CACHE_URL,
        CELERY_BROKER_URL=BROKER_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        CELERY_TASK_DEFAULT_QUEUE=args.queue,
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
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _setup_django(args) -> None:
    os.environ.update(_env(args))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")
    import django

    django.setup()


def _seed(args) -> dict:
    from django.db import transaction
    from simple_history.utils import bulk_create_with_history

    from integrations.services import external_system_ensure
    from inventory import services as inventory_services
    from inventory.models import (
        InventoryStatus,
        Item,
        Location,
        LocationType,
        UnitOfMeasure,
        Warehouse,
        Zone,
    )
    from outbound.models import ReplenishmentOrder, ReplenishmentOrderLine, WavePolicy
    from outbound.services import planning_group_for

    wh = Warehouse.objects.create(code="PLAN1", name="Planning bench DC")
    zone = Zone.objects.create(warehouse=wh, code="A", name="Zone A")
    ea = UnitOfMeasure.objects.create(code="EA", description="Each")
    available = InventoryStatus.objects.create(
        code="AVAILABLE", description="Available", allocatable=True
    )
    WavePolicy.objects.create(
        warehouse=wh,
        release_mode="AUTOMATIC" if args.release else "MANUAL",
        max_open_minutes=0,
        max_orders=50,
        max_lines=500,
        max_units=Decimal("100000"),
    )
    sets = {}
    for prefix in ("PLN", "REF"):
        items = Item.objects.bulk_create(
            [
                Item(
                    warehouse=wh, sku=f"{prefix}-{n:04d}", description=f"{prefix} {n}", base_uom=ea
                )
                for n in range(ITEMS)
            ]
        )
        faces = Location.objects.bulk_create(
            [
                Location(
                    warehouse=wh,
                    zone=zone,
                    code=f"{prefix}-P-{n:04d}",
                    barcode=f"{prefix}-P-{n:04d}",
                    type=LocationType.PICK_FACE,
                    pick_sequence=n,
                )
                for n in range(ITEMS)
            ]
        )
        Location.objects.bulk_create(
            [
                Location(
                    warehouse=wh,
                    zone=zone,
                    code=f"{prefix}-R-{n:04d}",
                    barcode=f"{prefix}-R-{n:04d}",
                    type=LocationType.RESERVE,
                    pick_sequence=10_000 + n,
                )
                for n in range(ITEMS)
            ]
        )
        for item, face in zip(items, faces, strict=True):
            inventory_services.stock_receive(
                item=item,
                location=face,
                status=available,
                qty=Decimal("100000"),
                posting_key=f"bench-receive:{item.sku}",
                source_ref="bench",
            )
        sets[prefix] = list(zip(items, faces, strict=True))
    stores = [f"S{n:03d}" for n in range(16)]
    for code in stores:
        external_system_ensure(system_type="store", code=code, warehouse_codes=[wh.code])

    rng = random.Random(42)
    with transaction.atomic():
        for start in range(0, args.orders, 500):
            orders, lines = [], []
            for n in range(start, min(args.orders, start + 500)):
                store = stores[n % len(stores)]
                order = ReplenishmentOrder(
                    warehouse=wh,
                    store_code=store,
                    external_order_id=f"{store}-{n:06d}",
                    priority=rng.randint(1, 9),
                    planning_group=planning_group_for(store),
                )
                orders.append(order)
                for number, (item, _face) in enumerate(
                    rng.sample(sets["PLN"], args.lines), start=1
                ):
                    qty = Decimal(rng.randint(1, 5))
                    lines.append(
                        ReplenishmentOrderLine(
                            order=order,
                            line_number=number,
                            item=item,
                            uom=ea,
                            qty_requested=qty,
                            qty_requested_base=qty,
                        )
                    )
            bulk_create_with_history(orders, ReplenishmentOrder)
            bulk_create_with_history(lines, ReplenishmentOrderLine)
    return {"warehouse": wh, "available": available, "ref": sets["REF"], "stores": stores}


def _reference_worker(args, part: int, parts: int, start_at: float) -> None:
    """``--reference-worker``: reservation postings only, a batch of 10 lines per transaction."""
    _setup_django(args)
    from django.db import transaction

    from inventory import services as inventory_services
    from inventory.models import InventoryStatus, Item, Location

    status = InventoryStatus.objects.get(code="AVAILABLE")
    items = list(Item.objects.filter(sku__startswith="REF-").select_related("warehouse"))
    faces = {loc.code: loc for loc in Location.objects.filter(code__startswith="REF-P-")}
    pairs = [(item, faces[f"REF-P-{item.sku[4:]}"]) for item in items]
    rng = random.Random(1000 + part)
    total = args.orders // parts
    while time.time() < start_at:
        time.sleep(0.002)
    for n in range(total):
        with transaction.atomic():
            # Balances in primary-key order (they were created item by item), as the
            # planner does.
            chosen = sorted(rng.sample(pairs, args.lines), key=lambda pair: pair[0].pk)
            inventory_services.reservations_take(
                requests=[
                    inventory_services.ReservationRequest(
                        item=item,
                        location=face,
                        status=status,
                        qty=Decimal(rng.randint(1, 5)),
                        demand_ref=f"bench:{part}:{n}:{k}",
                        posting_key=f"bench-ref:{part}:{n}:{k}",
                    )
                    for k, (item, face) in enumerate(chosen)
                ]
            )
    print("done", flush=True)


def _run_reference(args) -> float:
    start_at = time.time() + 4
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--reference-worker",
                f"{part}",
                "--database-url",
                args.database_url,
                "--orders",
                str(args.orders),
                "--lines",
                str(args.lines),
                "--start-at",
                str(start_at),
            ],
            cwd=ROOT,
            env=_env(args),
        )
        for part in range(2)
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("reference worker failed")
    elapsed = time.time() - start_at
    return (args.orders // 2) * 2 * args.lines / elapsed


def _run_planner(args, seeded) -> tuple[float, dict]:
    from django.db.models import Count, Q

    from outbound.models import PlanningJob, ReplenishmentOrder, ReplenishmentOrderLine
    from outbound.tasks import order_planning_task
    from wms.celery import app

    app.conf.task_default_queue = args.queue
    app.conf.task_always_eager = False
    log = open(f"/tmp/{args.queue}-workers.log", "wb")  # noqa: SIM115
    print(f"worker log: {log.name}", flush=True)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "wms",
                "worker",
                "-Q",
                args.queue,
                "--pool",
                "solo",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "warning",
                "-n",
                f"{args.queue}-{n}@%h",
            ],
            cwd=ROOT,
            env=_env(args),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for n in range(2)
    ]
    try:
        time.sleep(6)  # let both workers connect before the clock starts
        warehouse = seeded["warehouse"]
        groups = sorted(
            set(
                ReplenishmentOrder.objects.filter(warehouse=warehouse).values_list(
                    "planning_group", flat=True
                )
            )
        )
        started = time.time()
        for group in groups:
            order_planning_task.apply_async(
                kwargs={"warehouse_id": warehouse.pk, "planning_group": group, "trigger": "MANUAL"}
            )
        waiting = ReplenishmentOrder.objects.filter(warehouse=warehouse, needs_planning=True)
        while waiting.exists():
            time.sleep(0.25)
            for w in workers:
                if w.poll() is not None:
                    raise SystemExit("a worker died")
        planned_at = time.time()
        if args.release:
            unreleased = ReplenishmentOrder.objects.filter(warehouse=warehouse, status="PLANNED")
            while unreleased.exists():
                time.sleep(0.25)
        finished = time.time()
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
    lines = ReplenishmentOrderLine.objects.filter(order__warehouse=warehouse)
    summary = lines.aggregate(
        total=Count("pk"), allocated=Count("pk", filter=Q(status="ALLOCATED"))
    )
    summary["orders"] = dict(
        ReplenishmentOrder.objects.values_list("status").annotate(n=Count("pk")).order_by()
    )
    summary["jobs"] = PlanningJob.objects.count()
    summary["seconds_to_planned"] = planned_at - started
    summary["seconds_total"] = finished - started
    return summary["allocated"] / summary["seconds_total"], summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--release", action="store_true", help="also release waves at once")
    parser.add_argument("--reference-worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.queue = f"h5-bench-planning-{uuid.uuid4().hex[:8]}"

    if args.reference_worker is not None:
        _reference_worker(args, args.reference_worker, 2, args.start_at)
        return

    print(f"database {args.database_url}; seeding {args.orders} orders ...", flush=True)
    _recreate_database(args.database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=_env(args), check=True
    )
    _setup_django(args)
    from django.core.cache import cache

    cache.clear()
    seeded = _seed(args)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh tables: give the planner statistics, as in production
    try:
        rate, summary = _run_planner(args, seeded)
        print(
            f"planner  : {rate:8.1f} lines/s  ({summary['allocated']} of {summary['total']} lines "
            f"allocated in {summary['seconds_total']:.1f} s; planned after "
            f"{summary['seconds_to_planned']:.1f} s; {summary['jobs']} planning jobs; "
            f"orders {summary['orders']})",
            flush=True,
        )
        reference = _run_reference(args)
        print(f"reference: {reference:8.1f} lines/s  (reservations_take batches only)", flush=True)
    finally:
        from kombu import Connection

        with Connection(BROKER_URL) as connection:
            connection.default_channel.queue_delete(args.queue)
    from inventory.selectors import inventory_verify

    problems = inventory_verify().problems
    print()
    print(
        f"{args.orders} orders x {args.lines} lines, 2 Celery workers (solo pool), "
        f"waves {'built and released' if args.release else 'built'}, {os.cpu_count()} CPUs (shared)"
    )
    print(f"planner / reference: {rate / reference:.2f}")
    print("target ≥ 1,000 lines/s: " + ("met" if rate >= 1000 else "NOT met on this run"))
    print(f"verify_inventory: {'clean' if not problems else f'{len(problems)} problems'}")


if __name__ == "__main__":
    main()
