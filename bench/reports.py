"""Benchmark of the reports and alerts (issue 17, Measure).

    .venv/bin/python bench/reports.py [--balances 200000] [--database-url URL]

On its own database (default ``wms_reports_bench``), seeded the way
``bench/inventory_seed_large.py`` does (resumable, generated inside PostgreSQL:
4 warehouses x 25,000 items, 10 balances per item, 10 ledger entries per
balance spread over the last year). The issue asks for 1,000,000 balances /
10,000,000 entries; ``--balances 1000000`` does that, the default is a fifth of
it because this machine is two cores shared by several engineers.

Measured through Django's full request stack in this process (a finance
superuser's session: values included):

- stock on hand, now and as of 30 days back: the first JSON page; the whole
  CSV and XLSX downloads (time to the first byte and to the first rows, total,
  rows, peak RSS growth of this process while streaming);
- the same run's reference: the same rows as a plain ``COPY … TO STDOUT`` of
  the balance table joined to its codes (what PostgreSQL alone costs);
- the dashboard page and its JSON;
- alert evaluation for 100,000 SKUs with minimums (one rule per warehouse, a
  warehouse-wide minimum per item, 1 % of them below): the first run (opens
  1,000 alerts, their events) and a steady run (nothing changes).

Exits non-zero when something cannot run or a download's row count differs
from the reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wms_reports_bench"
URL = "/api/v1/reports/stock-on-hand"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def seed(database_url: str, balances: int) -> None:
    """bench/inventory_seed_large.py's data (resumable, generated inside PostgreSQL),
    with the warehouse columns added since it was written (currency, GS1 prefix)."""
    import inventory_seed_large as large

    large.MASTER_DATA = large.MASTER_DATA.replace(
        "INSERT INTO inventory_warehouse (code, name, is_active, created_at)\n"
        "SELECT 'BS' || w, 'Bench warehouse ' || w, true, now()",
        "INSERT INTO inventory_warehouse (code, name, is_active, created_at, currency,"
        " gs1_company_prefix)\n"
        "SELECT 'BS' || w, 'Bench warehouse ' || w, true, now(), 'EUR', ''",
    )
    if "gs1_company_prefix" not in large.MASTER_DATA:
        raise SystemExit("bench/inventory_seed_large.py changed its SQL: adapt seed()")
    argv = sys.argv
    sys.argv = ["inventory_seed_large.py", "--database-url", database_url]
    sys.argv += ["--balances", str(balances)]
    try:
        large.main()
    finally:
        sys.argv = argv


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def download(client, params: dict, accept: str) -> dict:
    """Stream one download; first byte, first rows, total, bytes, rows (CSV lines), peak
    RSS growth. The first block is the CSV header or the XLSX package's fixed parts,
    sent before the query runs: "first rows" is when the second block (rows) came."""
    base = _rss()
    peak = base
    started = time.perf_counter()
    response = client.get(URL, params, HTTP_ACCEPT=accept)
    if response.status_code != 200:
        raise SystemExit(f"{accept} download answered {response.status_code}")
    first = first_rows = None
    size = lines = 0
    is_xlsx = accept == XLSX
    with tempfile.TemporaryFile() as kept:  # an XLSX, its rows counted after the clock
        for n, block in enumerate(response.streaming_content):
            if first is None:
                first = time.perf_counter() - started
            elif first_rows is None:
                first_rows = time.perf_counter() - started
            size += len(block)
            if is_xlsx:
                kept.write(block)
            else:
                lines += block.count(b"\n")
            if n % 16 == 0:
                peak = max(peak, _rss())
        response.close()
        total = time.perf_counter() - started
        peak = max(peak, _rss())
        if is_xlsx:
            lines = _xlsx_rows(kept)
    return {
        "first": first,
        "first_rows": first_rows or total,
        "total": total,
        "bytes": size,
        "lines": lines,
        "rss": peak - base,
    }


def _xlsx_rows(file) -> int:
    """Rows of the workbook's sheet (the header included), read back streaming."""
    rows, tail = 0, b""
    with zipfile.ZipFile(file) as package, package.open("xl/worksheets/sheet1.xml") as sheet:
        while block := sheet.read(1 << 20):
            rows += (tail + block).count(b"</row>")
            tail = block[-5:]
    return rows


def reference_copy(database_url: str) -> dict:
    """The same rows as a plain COPY (no report code), timed on its own connection."""
    import psycopg

    sql = (
        "COPY (SELECT w.code, l.code, i.sku, s.code, b.on_hand, i.unit_cost, "
        "round(b.on_hand * i.unit_cost, 4), w.currency FROM inventory_inventorybalance b "
        "JOIN inventory_location l ON l.id = b.location_id "
        "JOIN inventory_item i ON i.id = b.item_id "
        "JOIN inventory_inventorystatus s ON s.id = b.status_id "
        "JOIN inventory_warehouse w ON w.id = b.warehouse_id WHERE b.on_hand <> 0) "
        "TO STDOUT (FORMAT csv)"
    )
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        size = lines = 0
        with cursor.copy(sql) as copy:
            for block in copy:
                size += len(block)
                lines += bytes(block).count(b"\n")
        return {"total": time.perf_counter() - started, "bytes": size, "lines": lines}


def _load() -> str:
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def timed(func, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def alert_bench() -> dict:
    """One LOW_STOCK rule per bench warehouse with a minimum for each of its items."""
    from django.db import connection

    from integrations.alerts import alert_rule_evaluate
    from wms.models import AlertKind, AlertRule

    AlertRule.objects.filter(name__startswith="bench:").delete()
    with connection.cursor() as cursor:  # the events of earlier runs of this bench
        cursor.execute("DELETE FROM wms_outboxevent WHERE event_type LIKE 'alert.%%'", [])
    rules = [
        AlertRule.objects.create(warehouse_id=wid, name=f"bench:{code}", kind=AlertKind.LOW_STOCK)
        for wid, code in connection.cursor()
        .execute("SELECT id, code FROM inventory_warehouse WHERE code LIKE 'BS%%' ORDER BY id", [])
        .fetchall()
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wms_stockminimum (rule_id, item_id, location_id, min_qty) "
            "SELECT r.id, i.id, NULL, CASE WHEN i.id %% 100 = 0 THEN 1000000 ELSE 1 END "
            "FROM wms_alertrule r JOIN inventory_item i ON i.warehouse_id = r.warehouse_id "
            "WHERE r.name LIKE 'bench:%%'",
            [],
        )
        minimums = cursor.rowcount
    runs = []
    for _ in range(2):
        started = time.perf_counter()
        raised = sum(len(alert_rule_evaluate(rule_id=r.pk).raised) for r in rules)
        runs.append((time.perf_counter() - started, raised))
    return {"minimums": minimums, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_REPORTS_URL", DEFAULT_URL))
    parser.add_argument("--balances", type=int, default=200_000)
    args = parser.parse_args()
    seed(args.database_url, args.balances)  # also sets Django up and migrates

    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    user, _created = get_user_model().objects.get_or_create(
        username="bench-finance", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    as_of = (timezone.now() - dt.timedelta(days=30)).isoformat()

    print(f"load average at start: {_load()} (2 cores; others' runs share them)", flush=True)
    reference = reference_copy(args.database_url)
    print(
        f"reference COPY of the same rows: {reference['total']:.2f} s, "
        f"{reference['lines']:,} rows, {reference['bytes'] / 1e6:.1f} MB",
        flush=True,
    )
    first_page = timed(lambda: client.get(URL, {"limit": 100}).json())
    print(f"JSON first page (100 rows): {first_page * 1000:.0f} ms", flush=True)
    as_of_page = timed(lambda: client.get(URL, {"limit": 100, "asOf": as_of}).json(), 3)
    print(f"JSON first page as of 30 days back: {as_of_page * 1000:.0f} ms", flush=True)

    failures, counts = [], {}
    for label, params in (("now", {}), ("as of -30 d", {"asOf": as_of})):
        for kind, accept in (("CSV", "text/csv"), ("XLSX", XLSX)):
            figures = download(client, params, accept)
            rows = figures["lines"] - 1  # the header
            print(
                f"{kind:4} {label:11}: first byte {figures['first']:.2f} s, first rows "
                f"{figures['first_rows']:.2f} s, whole "
                f"{figures['total']:.2f} s, {figures['bytes'] / 1e6:.1f} MB, {rows:,} rows"
                f", peak RSS growth {figures['rss'] / 1e6:.1f} MB",
                flush=True,
            )
            counts[label, kind] = rows
        if counts[label, "XLSX"] != counts[label, "CSV"]:
            failures.append(f"{label}: XLSX has {counts[label, 'XLSX']} rows, CSV the other")
    if counts["now", "CSV"] != reference["lines"]:
        failures.append(f"CSV has {counts['now', 'CSV']} rows, the reference {reference['lines']}")

    page = timed(lambda: client.get("/dashboard/"))
    data = timed(lambda: client.get("/dashboard/data.json"))
    print(f"dashboard page {page * 1000:.0f} ms, its JSON {data * 1000:.0f} ms", flush=True)

    alerts = alert_bench()
    for n, (seconds, raised) in enumerate(alerts["runs"], start=1):
        print(
            f"alert evaluation run {n}, {alerts['minimums']:,} SKUs with minimums: "
            f"{seconds:.2f} s, {raised:,} alerts raised",
            flush=True,
        )
    print(f"load average at end: {_load()}", flush=True)
    if failures:
        raise SystemExit("; ".join(failures))


if __name__ == "__main__":
    main()
