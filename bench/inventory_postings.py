"""Benchmark: reservation postings per second through the posting service, 4 processes.

Beside it, in the same run and on the same database, the raw reference: the
same rows written by plain SQL transactions (psycopg, no Django, one statement
per row): posting key insert, guarded balance update, reservation insert,
ledger insert, outbox insert. Prints both and the ratio. The service sends
those rows as one prepared statement per posting, so it can beat this
reference: the ratio above 100% is the round trips it saves. Not a test:
figures on a shared 2-core machine are noisy (other engineers run test
suites at the same time); run it twice.

    .venv/bin/python bench/inventory_postings.py [--seconds 5] [--rounds 3] [--workers 4]
        [--synchronous-commit on|off]

Uses its own database (default ``wms_bench``; ``--database-url`` to change it),
created and migrated by the script. The target is ≥ 1,000 postings/s.
"""

import argparse
import multiprocessing
import os
import queue
import random
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wms_bench"


def _django(database_url: str):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    import django

    django.setup()


def _ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _setup(skus: int) -> dict:
    """Master data and a large stock on ``skus`` items (idempotent: fixed posting keys)."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from inventory import services
    from inventory.models import (
        InventoryStatus,
        Item,
        Location,
        LocationType,
        UnitOfMeasure,
        Warehouse,
    )

    warehouse, _ = Warehouse.objects.get_or_create(code="BENCH", defaults={"name": "Bench"})
    uom, _ = UnitOfMeasure.objects.get_or_create(code="EA", defaults={"description": "Each"})
    status, _ = InventoryStatus.objects.get_or_create(
        code="AVAILABLE", defaults={"description": "Available", "allocatable": True}
    )
    location, _ = Location.objects.get_or_create(
        warehouse=warehouse,
        code="BENCH-A",
        defaults={"barcode": "BENCH-A", "type": LocationType.PICK_FACE},
    )
    existing = set(Item.objects.filter(warehouse=warehouse).values_list("sku", flat=True))
    Item.objects.bulk_create(
        [
            Item(warehouse=warehouse, sku=f"B-{n:05d}", description="bench", base_uom=uom)
            for n in range(skus)
            if f"B-{n:05d}" not in existing
        ]
    )
    items = list(
        Item.objects.filter(warehouse=warehouse, sku__in=[f"B-{n:05d}" for n in range(skus)])
    )
    for item in items:
        services.stock_receive(
            item=item,
            location=location,
            status=status,
            qty=Decimal("1000000000"),
            posting_key=f"bench-stock-{item.sku}",
            source_ref="bench",
        )
    return {
        "items": [item.pk for item in items],
        "location": location.pk,
        "status": status.pk,
        "warehouse": warehouse.pk,
    }


def _session_settings(synchronous_commit: str) -> None:
    """``synchronous_commit`` for every connection this process opens (both paths alike)."""
    from django.db.backends.signals import connection_created

    def apply(sender, connection, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute(f"SET synchronous_commit = {synchronous_commit}")

    connection_created.connect(apply, weak=False)


def _service_worker(number, ids, seconds, synchronous_commit, start, results):
    from django.db import connections

    from inventory import services
    from inventory.models import InventoryStatus, Item, Location

    connections.close_all()
    _session_settings(synchronous_commit)
    items = list(Item.objects.filter(pk__in=ids["items"]).select_related("warehouse"))
    location = Location.objects.get(pk=ids["location"])
    status = InventoryStatus.objects.get(pk=ids["status"])
    rng = random.Random(number)
    run = uuid.uuid4().hex[:8]
    start.wait()
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        services.reservation_create(
            item=items[rng.randrange(len(items))],
            location=location,
            status=status,
            qty=Decimal(rng.randint(1, 5)),
            demand_ref=f"Bench:{number}:{done}",
            posting_key=f"bench-{run}-{number}-{done}",
        )
        done += 1
    results.put(done)


RAW_SQL = {
    "posting": (
        "INSERT INTO inventory_inventoryposting (posting_key, kind, fingerprint, source_ref) "
        "VALUES (%s, 'RESERVE', %s, %s) ON CONFLICT (posting_key) DO NOTHING RETURNING id"
    ),
    "balance": (
        "UPDATE inventory_inventorybalance SET reserved = reserved + %s, updated_at = now() "
        "WHERE id = %s AND on_hand - reserved >= %s RETURNING id"
    ),
    "reservation": (
        "INSERT INTO inventory_inventoryreservation (warehouse_id, balance_id, item_id, "
        "location_id, status_id, state, qty, qty_consumed, qty_released, demand_ref) "
        "VALUES (%s, %s, %s, %s, %s, 'COMMITTED', %s, 0, 0, %s) RETURNING id"
    ),
    "ledger": (
        "INSERT INTO inventory_inventoryledgerentry (posting_id, line_no, entry_type, "
        "warehouse_id, item_id, location_id, status_id, on_hand_delta, reserved_delta, "
        "reservation_id, source_ref, reason_code, actor_label, correlation_id) "
        "VALUES (%s, 1, 'RESERVE', %s, %s, %s, %s, 0, %s, %s, %s, '', '', %s)"
    ),
}


def _outbox_insert():
    """INSERT for one outbox row, built from the model (the kernel's table may grow columns)."""
    from django.db import connection

    from wms.models import OutboxEvent

    template = OutboxEvent(
        event_type="reservation.committed", aggregate_type="InventoryReservation"
    )
    per_row = ("event_id", "aggregate_id", "correlation_id", "data")
    columns, fixed = [], []
    for field in OutboxEvent._meta.concrete_fields:
        if field.primary_key or field.has_db_default() or field.null:
            continue
        columns.append(field.column)
        fixed.append(
            None
            if field.name in per_row
            else field.get_db_prep_save(getattr(template, field.attname), connection=connection)
        )
    sql = (
        f"INSERT INTO {OutboxEvent._meta.db_table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    names = [field.name for field in OutboxEvent._meta.concrete_fields if field.column in columns]
    return sql, names, fixed


def _raw_worker(number, ids, database_url, seconds, synchronous_commit, start, results):
    """The same rows per posting, by hand: the ceiling the service is compared with."""
    import json

    import psycopg

    outbox_sql, outbox_names, outbox_fixed = _outbox_insert()

    balances = {}
    with psycopg.connect(database_url) as conn:
        conn.execute(f"SET synchronous_commit = {synchronous_commit}")
        for item_id in ids["items"]:
            row = conn.execute(
                "SELECT id FROM inventory_inventorybalance "
                "WHERE item_id = %s AND location_id = %s AND status_id = %s",
                [item_id, ids["location"], ids["status"]],
            ).fetchone()
            balances[item_id] = row[0]
        conn.commit()
        rng = random.Random(1000 + number)
        run = uuid.uuid4().hex[:8]
        start.wait()
        done, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            item_id = ids["items"][rng.randrange(len(ids["items"]))]
            balance_id = balances[item_id]
            qty = Decimal(rng.randint(1, 5))
            demand = f"Raw:{number}:{done}"
            correlation = str(uuid.uuid4())
            with conn.transaction():
                posting_id = conn.execute(
                    RAW_SQL["posting"], [f"raw-{run}-{number}-{done}", "f" * 64, demand]
                ).fetchone()[0]
                if conn.execute(RAW_SQL["balance"], [qty, balance_id, qty]).fetchone() is None:
                    raise RuntimeError("raw ceiling ran out of stock")
                reservation_id = conn.execute(
                    RAW_SQL["reservation"],
                    [
                        ids["warehouse"],
                        balance_id,
                        item_id,
                        ids["location"],
                        ids["status"],
                        qty,
                        demand,
                    ],
                ).fetchone()[0]
                conn.execute(
                    RAW_SQL["ledger"],
                    [
                        posting_id,
                        ids["warehouse"],
                        item_id,
                        ids["location"],
                        ids["status"],
                        qty,
                        reservation_id,
                        demand,
                        correlation,
                    ],
                )
                row = {
                    "event_id": uuid.uuid4(),
                    "aggregate_id": str(reservation_id),
                    "correlation_id": correlation,
                    "data": json.dumps({"qty": str(qty), "reservationId": reservation_id}),
                }
                pairs = zip(outbox_names, outbox_fixed, strict=True)
                conn.execute(outbox_sql, [row.get(name, value) for name, value in pairs])
            done += 1
    results.put(done)


def _run(target, args_for, workers: int) -> int:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*args_for(n), start, results)) for n in range(workers)
    ]
    for process in processes:
        process.start()
    counts = []
    while len(counts) < workers:
        try:
            counts.append(results.get(timeout=1))
        except queue.Empty:
            failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if failed:
                for process in processes:
                    process.kill()
                raise SystemExit(f"a worker failed (exit codes {failed}); see above") from None
    for process in processes:
        process.join()
    return sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=float, default=5.0, help="per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--skus", type=int, default=500)
    parser.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default="on",
        help="PostgreSQL synchronous_commit for both paths; 'off' removes the WAL flush wait "
        "from every commit (shows the CPU-bound figure; not how production runs).",
    )
    args = parser.parse_args()

    _ensure_database(args.database_url)
    _django(args.database_url)
    from django.db import connections

    print(f"database {args.database_url}; migrating and seeding {args.skus} SKUs …", flush=True)
    ids = _setup(args.skus)
    connections.close_all()  # forked workers open their own connections
    cores = os.cpu_count()
    print(
        f"{args.workers} worker processes, {args.rounds} rounds of {args.seconds:.0f} s per path, "
        f"{cores} CPU cores",
        flush=True,
    )

    # Alternate the two paths in short rounds so both see the same background
    # load (other engineers' test runs); report each round and the medians.
    service_rates, raw_rates = [], []
    for round_no in range(1, args.rounds + 1):
        load = os.getloadavg()[0]
        service = _run(
            _service_worker,
            lambda n: (n, ids, args.seconds, args.synchronous_commit),
            args.workers,
        )
        raw = _run(
            _raw_worker,
            lambda n: (n, ids, args.database_url, args.seconds, args.synchronous_commit),
            args.workers,
        )
        service_rates.append(service / args.seconds)
        raw_rates.append(raw / args.seconds)
        print(
            f"  round {round_no}: service {service_rates[-1]:>6.0f} /s, raw SQL "
            f"{raw_rates[-1]:>6.0f} /s, ratio {service_rates[-1] / raw_rates[-1]:.0%} "
            f"(load average before: {load:.1f})",
            flush=True,
        )
    service_rate, raw_rate = statistics.median(service_rates), statistics.median(raw_rates)

    from inventory.selectors import inventory_verify

    report = inventory_verify()
    print()
    print(f"synchronous_commit = {args.synchronous_commit}; medians of {args.rounds} rounds:")
    print(f"posting service (reservation_create): {service_rate:>8.0f} postings/s")
    print(f"raw SQL ceiling (same rows, psycopg):  {raw_rate:>8.0f} postings/s")
    print(f"service / raw ceiling:                 {service_rate / raw_rate:>8.0%}")
    print(f"target >= 1,000 /s: {'met' if service_rate >= 1000 else 'NOT met'}")
    # verify proves neither path corrupted the books (the raw rows are complete postings).
    print(
        f"verify_inventory after both: {'OK' if report.ok else 'DRIFT'} "
        f"({len(report.problems)} problems, {report.counts['ledger entries']} ledger entries)"
    )
    print("note: shared 2-core machine, other test suites running; figures are noisy.")


if __name__ == "__main__":
    main()
