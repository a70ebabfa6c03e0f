"""Benchmark: a full count of a warehouse with 100,000 locations, without a freeze.

Measures, in one run on its own database:

1. **Opening**: ``count_open`` (FULL) inserting one line per location under FOR SHARE
   balance locks with each balance's ledger mark (one ``INSERT … SELECT``,
   ``counting.queries.count_lines_open``), beside two references on the same rows:
   the ORM path it replaces (the sheet read into Python, ``bulk_create`` of
   ``CountLine``) and a plain ``INSERT … SELECT`` of the balances with neither lock
   nor ledger mark (the floor). Target: 100,000 lines < 10 s.
2. **Results**: ``count_result_record`` in batches (as an RFID reader or a drone
   sends them), after receipts on 1 % of the counted balances since the opening;
   0.5 % of the lines carry a planted variance. Lines per second.
3. **Reconciliation**: ``count_close``: every line's ledger range, the variances,
   one adjustment per planted variance. Target: < 30 s. The run fails (exit 1)
   unless the adjustments are exactly the planted variances.

    .venv/bin/python bench/counting_full.py [--locations 100000] [--batch 500]

Default database ``wms_bench_counting`` (``--database-url``), created, migrated
and seeded by the script (seeding 100,000 locations and balances in SQL takes
about a minute the first time). Exit status 2 when it cannot run. Figures on a
shared 2-core machine are noisy: run it twice.
"""

import argparse
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wms_bench_counting"
WAREHOUSE = "BCNT"
ITEMS = 1_000


def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


# One balance of 10 per location (item = location mod 1000), each the sum of a seed
# receipt (12) and a seed adjustment (-2), so verify_inventory holds. All in SQL.
SEED = """
INSERT INTO inventory_unitofmeasure (code, description, description_en)
VALUES ('EA', 'Each', 'Each') ON CONFLICT (code) DO NOTHING;
INSERT INTO inventory_inventorystatus (code, description, description_en, allocatable)
VALUES ('AVAILABLE', 'Available', 'Available', true) ON CONFLICT (code) DO NOTHING;
INSERT INTO inventory_warehouse (code, name, is_active, currency, gs1_company_prefix, created_at)
VALUES (%(wh)s, 'Bench count', true, 'EUR', '', now()) ON CONFLICT (code) DO NOTHING;
INSERT INTO inventory_item (warehouse_id, sku, gtin, description, description_en, item_class,
                            base_uom_id, unit_cost, unit_price, is_active)
SELECT w.id, 'CSKU-' || lpad(i::text, 4, '0'), '', 'Count item ' || i, 'Count item ' || i,
       CASE WHEN i < 100 THEN 'A' ELSE 'C' END,
       (SELECT id FROM inventory_unitofmeasure WHERE code = 'EA'), 1.5, 2.75, true
FROM inventory_warehouse w CROSS JOIN generate_series(0, %(items)s - 1) i
WHERE w.code = %(wh)s ON CONFLICT DO NOTHING;
INSERT INTO inventory_location (warehouse_id, code, barcode, type, pick_sequence, is_active)
SELECT w.id, 'C-' || lpad(l::text, 6, '0'), 'BC-C-' || lpad(l::text, 6, '0'), 'PICK_FACE', l, true
FROM inventory_warehouse w CROSS JOIN generate_series(0, %(locations)s - 1) l
WHERE w.code = %(wh)s ON CONFLICT DO NOTHING;
CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT l.id AS location_id, i.id AS item_id, w.id AS warehouse_id,
       (SELECT id FROM inventory_inventorystatus WHERE code = 'AVAILABLE') AS status_id
FROM inventory_warehouse w
JOIN inventory_location l ON l.warehouse_id = w.id
JOIN inventory_item i ON i.warehouse_id = w.id
 AND i.sku = 'CSKU-' || lpad((substr(l.code, 3)::int %% %(items)s)::text, 4, '0')
WHERE w.code = %(wh)s AND NOT EXISTS (
  SELECT 1 FROM inventory_inventorybalance b WHERE b.location_id = l.id);
INSERT INTO inventory_inventoryposting (posting_key, kind, fingerprint, source_ref)
SELECT 'cseed:' || location_id, 'RECEIVE', 'seed', 'seed' FROM seed;
INSERT INTO inventory_inventorybalance (warehouse_id, item_id, location_id, status_id,
                                        on_hand, reserved, updated_at)
SELECT warehouse_id, item_id, location_id, status_id, 10, 0, now() FROM seed;
INSERT INTO inventory_inventoryledgerentry (
  posting_id, line_no, entry_type, warehouse_id, item_id, location_id, status_id,
  on_hand_delta, reserved_delta, source_ref, reason_code, actor_label, correlation_id,
  occurred_at)
SELECT p.id, k, CASE k WHEN 1 THEN 'RECEIPT' ELSE 'ADJUSTMENT' END, s.warehouse_id, s.item_id,
       s.location_id, s.status_id, CASE k WHEN 1 THEN 12 ELSE -2 END, 0, 'seed',
       CASE k WHEN 1 THEN '' ELSE 'COUNT_DIFF' END, 'seed', '', now()
FROM seed s JOIN inventory_inventoryposting p ON p.posting_key = 'cseed:' || s.location_id
CROSS JOIN generate_series(1, 2) k;
"""


def _seed(database_url: str, locations: int) -> None:
    import psycopg

    with psycopg.connect(
        database_url, cursor_factory=psycopg.ClientCursor, autocommit=True
    ) as conn:
        with conn.transaction():
            conn.execute(SEED, {"wh": WAREHOUSE, "items": ITEMS, "locations": locations})
        # A fresh count each run: earlier runs' counts are history the bench does not need.
        conn.execute(
            "TRUNCATE counting_countline, counting_countsubmission, counting_inventorycount, "
            "counting_historicalinventorycount"
        )
        conn.execute("VACUUM ANALYZE")


def _timed(label: str, func):
    started = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - started
    return result, elapsed


def _vacuum(database_url: str) -> None:
    """Every path starts on tables without the dead rows of the one before (the
    references roll back 100,000 lines each)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE counting_countline")
        conn.execute("VACUUM ANALYZE inventory_inventorybalance")


def _open_references(warehouse, database_url: str) -> tuple[float, float, int]:
    """The ORM path and the plain insert of the same lines, each into a count of its own
    (rolled back): seconds of each, and the rows each wrote."""
    from django.db import connection, transaction

    from counting.models import CountLine, CountLineState, InventoryCount
    from inventory import selectors as inventory_selectors

    class Rollback(Exception):
        pass

    timings, rows = [], 0
    for path in ("orm", "plain"):
        _vacuum(database_url)
        try:
            with transaction.atomic():
                count = InventoryCount.objects.create(
                    count_number=f"REF-{path}-{time.time_ns()}", warehouse=warehouse, type="FULL"
                )
                started = time.perf_counter()
                if path == "orm":
                    sheet, params = inventory_selectors.count_sheet(warehouse_id=warehouse.pk)
                    with connection.cursor() as cursor:
                        cursor.execute(sheet, params)
                        sheet_rows = cursor.fetchall()
                    CountLine.objects.bulk_create(
                        [
                            CountLine(
                                count=count,
                                location_id=loc,
                                item_id=item,
                                status_id=status,
                                qty_expected=on_hand,
                                opened_ledger_mark=mark,
                            )
                            for loc, item, status, on_hand, mark in sheet_rows
                        ],
                        batch_size=5000,
                    )
                    rows = len(sheet_rows)
                else:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "INSERT INTO counting_countline (count_id, location_id, item_id, "
                            "status_id, state, qty_expected, opened_ledger_mark, opened_at, "
                            "added_at_scan, counted_by_label, recount_by_label, reviewed_by_label, "
                            "note) SELECT %s, b.location_id, b.item_id, b.status_id, %s, "
                            "b.on_hand, 0, now(), false, '', '', '', '' "
                            "FROM inventory_inventorybalance b WHERE b.warehouse_id = %s "
                            "AND b.on_hand <> 0",
                            [count.pk, CountLineState.OPEN, warehouse.pk],
                        )
                timings.append(time.perf_counter() - started)
                raise Rollback
        except Rollback:
            pass
    return timings[0], timings[1], rows


def _results(count, counter, batch: int, planted: dict) -> float:
    """Post every line's result in batches: books at the scan + the planted variance."""
    from counting.services import count_result_record
    from inventory.models import InventoryBalance

    lines = list(
        count.lines.order_by("pk").values_list("pk", "location_id", "location__code", "item__sku")
    )
    books = dict(
        InventoryBalance.objects.filter(warehouse=count.warehouse).values_list(
            "location_id", "on_hand"
        )
    )
    started = time.perf_counter()
    for start in range(0, len(lines), batch):
        chunk = lines[start : start + batch]
        count_result_record(
            count=count,
            lines=[
                {
                    "location": code,
                    "sku": sku,
                    "qty_counted": books[location_id] + planted.get(pk, 0),
                }
                for pk, location_id, code, sku in chunk
            ],
            actor=counter,
            request_key=f"bench:{count.pk}:{start}",
        )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_COUNT_URL", DEFAULT_URL))
    parser.add_argument("--locations", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    try:
        _ensure_database(args.database_url)
        _django(args.database_url)
        from django.core.management import call_command

        print(f"{args.database_url}: migrating and seeding {args.locations:,} locations …")
        call_command("migrate", verbosity=0)
        _seed(args.database_url, args.locations)
    except Exception as exc:  # no database, no rights: the bench cannot run
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    return _run(args)


def _run(args) -> int:
    from django.contrib.auth import get_user_model

    from counting.models import CountType
    from counting.services import count_close, count_open
    from inventory import services as inventory_services
    from inventory.models import InventoryBalance, InventoryStatus, Warehouse
    from inventory.selectors import inventory_verify

    warehouse = Warehouse.objects.get(code=WAREHOUSE)
    users = get_user_model().objects
    controller, _ = users.get_or_create(username="bench-controller")
    counter, _ = users.get_or_create(username="bench-counter")

    _vacuum(args.database_url)
    count, open_s = _timed(
        "open",
        lambda: count_open(warehouse=warehouse, type=CountType.FULL, actor=controller),
    )
    orm_s, plain_s, ref_rows = _open_references(warehouse, args.database_url)
    lines = count.lines.count()
    print(
        f"open: {lines:,} lines in {open_s:.2f} s = {lines / open_s:,.0f} lines/s (target < 10 s)"
    )
    print(
        f"  ORM (sheet read + bulk_create): {ref_rows:,} lines in {orm_s:.2f} s = "
        f"{ref_rows / orm_s:,.0f} lines/s"
    )
    print(
        f"  plain INSERT … SELECT (no lock, no ledger mark): {plain_s:.2f} s = "
        f"{ref_rows / plain_s:,.0f} lines/s"
    )

    # The floor goes on after the opening: receipts on 1 % of the counted balances.
    rng = random.Random(15)
    status = InventoryStatus.objects.get(code="AVAILABLE")
    balances = list(
        InventoryBalance.objects.filter(warehouse=warehouse)
        .select_related("item", "location")
        .order_by("pk")
    )
    for n, balance in enumerate(rng.sample(balances, max(1, len(balances) // 100))):
        inventory_services.stock_receive(
            item=balance.item,
            location=balance.location,
            status=status,
            qty=Decimal("3"),
            posting_key=f"bench-count-move:{count.pk}:{n}",
            source_ref="bench",
        )
    line_ids = list(count.lines.values_list("pk", flat=True))
    planted = {
        pk: Decimal(rng.choice([-2, -1, 1, 4]))
        for pk in rng.sample(line_ids, max(1, len(line_ids) // 200))
    }
    results_s = _results(count, counter, args.batch, planted)
    print(
        f"results: {lines:,} lines in {results_s:.2f} s = {lines / results_s:,.0f} lines/s "
        f"(batches of {args.batch})"
    )

    closed, close_s = _timed("close", lambda: count_close(count=count, actor=controller))
    print(
        f"reconcile + close: {close_s:.2f} s for {lines:,} lines, "
        f"{len(closed.adjustments)} adjustments (target < 30 s)"
    )

    made = sorted(a.qty_delta for a in closed.adjustments)
    if made != sorted(planted.values()):
        print("FAILED: the adjustments are not the planted variances", file=sys.stderr)
        return 1
    report = inventory_verify()
    if report.problems:
        print(f"FAILED: verify_inventory found {len(report.problems)} problems", file=sys.stderr)
        return 1
    print("adjustments = planted variances; verify_inventory: no drift")
    return 0


if __name__ == "__main__":
    sys.exit(main())
