"""Bulk-seed a benchmark database with 1,000,000 balances and 10,000,000 ledger entries.

Resumable: work goes in chunks, each one transaction that also records its
progress, so an interrupted run continues where it stopped. Prints progress.
The data keeps every invariant (each balance is the sum of its ten ledger
entries), so ``verify_inventory`` passes on it.

    .venv/bin/python bench/inventory_seed_large.py [--balances 1000000] [--chunk 20000]

Shape: 4 warehouses, each with 25,000 items and 5,000 locations; every item lies in 10
locations (the 9th in DAMAGED, the 10th in QUARANTINED status, the rest
AVAILABLE); one seed posting per balance with 10 ledger lines (a receipt and
nine small count adjustments) spread over the last year.
Uses generate_series inside PostgreSQL: no rows travel through Python.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wms_bench_search"
WAREHOUSES = 4
ITEMS_PER_WH = 25_000
LOCATIONS_PER_WH = 5_000
PER_ITEM = 10  # balances per item; also ledger lines per balance


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


MASTER_DATA = """
INSERT INTO inventory_unitofmeasure (code, description, description_en)
VALUES ('EA', 'Each', 'Each') ON CONFLICT (code) DO NOTHING;
INSERT INTO inventory_inventorystatus (code, description, description_en, allocatable) VALUES
  ('AVAILABLE', 'Available', 'Available', true),
  ('DAMAGED', 'Damaged', 'Damaged', false),
  ('QUARANTINED', 'Quarantined', 'Quarantined', false)
ON CONFLICT (code) DO NOTHING;
INSERT INTO inventory_warehouse (code, name, is_active, created_at)
SELECT 'BS' || w, 'Bench warehouse ' || w, true, now() FROM generate_series(1, {warehouses}) w
ON CONFLICT (code) DO NOTHING;
CREATE TABLE IF NOT EXISTS bench_seed_progress (
  name text PRIMARY KEY, done bigint NOT NULL, total bigint NOT NULL
);
"""

ITEMS = """
INSERT INTO inventory_item (warehouse_id, sku, gtin, description, description_en, item_class,
                            base_uom_id, unit_cost, unit_price, is_active)
SELECT wh.id, 'SKU-' || lpad(i::text, 6, '0'), '', 'Bench item ' || i, 'Bench item ' || i, '',
       (SELECT id FROM inventory_unitofmeasure WHERE code = 'EA'), 1.5, 2.75, true
FROM inventory_warehouse wh CROSS JOIN generate_series(0, {items} - 1) i
WHERE wh.code LIKE 'BS%'
ON CONFLICT DO NOTHING;
"""

LOCATIONS = """
INSERT INTO inventory_location (warehouse_id, code, barcode, type, pick_sequence, is_active)
SELECT wh.id, 'L-' || lpad(l::text, 5, '0'), 'BC-L-' || lpad(l::text, 5, '0'),
       CASE WHEN l % 10 = 0 THEN 'RESERVE' ELSE 'PICK_FACE' END, l, true
FROM inventory_warehouse wh CROSS JOIN generate_series(0, {locations} - 1) l
WHERE wh.code LIKE 'BS%'
ON CONFLICT DO NOTHING;
"""

MAPS = """
CREATE TABLE IF NOT EXISTS bench_wh AS
  SELECT row_number() OVER (ORDER BY code) - 1 AS w, id FROM inventory_warehouse
  WHERE code LIKE 'BS%';
CREATE TABLE IF NOT EXISTS bench_item AS
  SELECT bw.w, substr(i.sku, 5)::int AS i, i.id FROM inventory_item i
  JOIN bench_wh bw ON bw.id = i.warehouse_id;
CREATE UNIQUE INDEX IF NOT EXISTS bench_item_wi ON bench_item (w, i);
CREATE TABLE IF NOT EXISTS bench_location AS
  SELECT bw.w, substr(l.code, 3)::int AS l, l.id FROM inventory_location l
  JOIN bench_wh bw ON bw.id = l.warehouse_id;
CREATE UNIQUE INDEX IF NOT EXISTS bench_location_wl ON bench_location (w, l);
CREATE TABLE IF NOT EXISTS bench_status AS
  SELECT code, id FROM inventory_inventorystatus;
"""

# Balance ordinal n → warehouse w, item i, slot j (0..9): location and status follow.
# For one item the 10 slots land in 10 distinct locations (j * 2503 mod 5000 differs).
CHUNK = """
CREATE TEMP TABLE chunk ON COMMIT DROP AS
SELECT n,
       bw.id AS warehouse_id, bi.id AS item_id, bl.id AS location_id,
       CASE j WHEN 9 THEN sq.id WHEN 8 THEN sd.id ELSE sa.id END AS status_id,
       (100 + n %% 50)::numeric AS on_hand
FROM (
  SELECT n, n / %(per_wh)s AS w, (n %% %(per_wh)s) %% %(items)s AS i,
         (n %% %(per_wh)s) / %(items)s AS j
  FROM generate_series(%(start)s, %(stop)s - 1) n
) g
JOIN bench_wh bw ON bw.w = g.w
JOIN bench_item bi ON bi.w = g.w AND bi.i = g.i
JOIN bench_location bl ON bl.w = g.w AND bl.l = (g.j * 2503 + g.i * 7) %% %(locations)s
CROSS JOIN (SELECT id FROM bench_status WHERE code = 'AVAILABLE') sa
CROSS JOIN (SELECT id FROM bench_status WHERE code = 'DAMAGED') sd
CROSS JOIN (SELECT id FROM bench_status WHERE code = 'QUARANTINED') sq;

INSERT INTO inventory_inventoryposting (posting_key, kind, fingerprint, source_ref)
SELECT 'seed:' || n, 'RECEIVE', 'seed', 'Seed:' || n FROM chunk;

INSERT INTO inventory_inventorybalance (warehouse_id, item_id, location_id, status_id,
                                        on_hand, reserved, updated_at)
SELECT warehouse_id, item_id, location_id, status_id, on_hand, 0, now() FROM chunk;

INSERT INTO inventory_inventoryledgerentry (
  posting_id, line_no, entry_type, warehouse_id, item_id, location_id, status_id,
  on_hand_delta, reserved_delta, source_ref, reason_code, actor_label, correlation_id,
  occurred_at)
SELECT p.id, k,
       CASE WHEN k = 1 THEN 'RECEIPT' ELSE 'ADJUSTMENT' END,
       c.warehouse_id, c.item_id, c.location_id, c.status_id,
       CASE WHEN k = 1 THEN c.on_hand - 1 WHEN k %% 2 = 0 THEN 1 ELSE -1 END,
       0, 'Seed:' || c.n, CASE WHEN k = 1 THEN '' ELSE 'COUNT' END, 'seed', '',
       now() - make_interval(secs => (%(total)s - c.n) * 31.536 - k)
FROM chunk c
JOIN inventory_inventoryposting p ON p.posting_key = 'seed:' || c.n
CROSS JOIN generate_series(1, %(lines)s) k;

INSERT INTO bench_seed_progress (name, done, total) VALUES ('balances', %(stop)s, %(total)s)
ON CONFLICT (name) DO UPDATE SET done = EXCLUDED.done, total = EXCLUDED.total;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_SEARCH_URL", DEFAULT_URL))
    parser.add_argument("--balances", type=int, default=WAREHOUSES * ITEMS_PER_WH * PER_ITEM)
    parser.add_argument("--chunk", type=int, default=20_000)
    args = parser.parse_args()
    per_wh = ITEMS_PER_WH * PER_ITEM
    if args.balances > WAREHOUSES * per_wh:
        raise SystemExit(f"at most {WAREHOUSES * per_wh} balances with this shape")

    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command

    print(f"{args.database_url}: migrating …", flush=True)
    call_command("migrate", verbosity=0)

    import psycopg

    # Client-side binding: the chunk is several statements in one round trip.
    with psycopg.connect(
        args.database_url, cursor_factory=psycopg.ClientCursor, autocommit=True
    ) as conn:
        with conn.transaction():
            conn.execute(MASTER_DATA.format(warehouses=WAREHOUSES))
            conn.execute(ITEMS.format(items=ITEMS_PER_WH))
            conn.execute(LOCATIONS.format(locations=LOCATIONS_PER_WH))
            conn.execute(MAPS)
        row = conn.execute(
            "SELECT done FROM bench_seed_progress WHERE name = 'balances'"
        ).fetchone()
        done = row[0] if row else 0
        print(
            f"master data ready; {done:,} of {args.balances:,} balances already seeded", flush=True
        )
        started, first = time.perf_counter(), done
        while done < args.balances:
            stop = min(done + args.chunk, args.balances)
            with conn.transaction():
                conn.execute(
                    CHUNK,
                    {
                        "start": done,
                        "stop": stop,
                        "per_wh": per_wh,
                        "items": ITEMS_PER_WH,
                        "locations": LOCATIONS_PER_WH,
                        "lines": PER_ITEM,
                        "total": args.balances,
                    },
                )
            done = stop
            elapsed = time.perf_counter() - started
            rate = (done - first) / elapsed if elapsed else 0
            eta = (args.balances - done) / rate if rate else 0
            print(
                f"  {done:>9,} balances, {done * PER_ITEM:>11,} ledger entries "
                f"({rate * PER_ITEM:,.0f} entries/s, ~{eta / 60:.0f} min left)",
                flush=True,
            )
        conn.execute("ANALYZE")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM inventory_inventorybalance),"
            " (SELECT count(*) FROM inventory_inventoryledgerentry)"
        ).fetchone()
    print(f"done: {counts[0]:,} balances, {counts[1]:,} ledger entries", flush=True)


if __name__ == "__main__":
    main()
