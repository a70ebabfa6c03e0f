"""Finance export: events per second and peak memory over 1,000,000 finance events.

Run (PostgreSQL on this machine)::

    .venv/bin/python bench/finance_export.py                  # 1,000,000 events
    .venv/bin/python bench/finance_export.py --events 200000 --skip-api

What it does:

1. creates its own database (``--database-url``, default ``wms_bench_finance_export``,
   dropped and recreated), migrates it, and inserts ``--events`` finance events
   of two lines each with one ``INSERT … SELECT generate_series`` (seeding
   bypasses ``finance_event_record``: the numbers are 1..N as it would give
   them), then ``VACUUM ANALYZE``;
2. measures, each in a child process of its own (so that its peak memory is
   its own), writing to ``/dev/null``:

   - ``command json`` / ``command csv``: ``manage.py export_finance_events``
     (``call_command``) over every event: the generators of ``inventory.finance``
     the API streams with too;
   - ``API json`` / ``API csv``: ``GET /api/v1/finance/events?limit=5000``
     with a finance token through Django's test client (the whole request
     stack minus the network, the body taken piece by piece as a server
     sends it), following ``next`` over every event;
   - the same command over a tenth of the events: flat memory means the same
     peak for N/10 and N;
   - reference: ``COPY (SELECT the same columns) TO STDOUT (FORMAT csv)``
     through psycopg (PostgreSQL formats, Python only receives: the ceiling),
     and a bare psycopg server-side cursor loop fetching the same rows with
     the driver's own types (UUID, dict, Decimal: no formatting, but every
     value decoded; the export takes the id, lines and total as text);

3. prints events/s, MB/s and the peak memory growth (``ru_maxrss`` above the
   child's size when it started) per path.

Caveat: a 2-core machine shared with other engineers' test runs; compare the
rows of one run. Target (issue 14): ≥ 20,000 events/s, memory flat.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_bench_finance_export"
COLUMNS = (
    "e.sequence, e.event_id, e.event_type, e.occurred_at, w.code, e.currency, "
    "e.reference_type, e.reference_id, e.reference_number, e.store_code, e.reason_code, "
    "e.lines, e.total_amount"
)


def _recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise SystemExit(f"finance_export: cannot create database {name}: {exc}") from exc


def _django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    import django

    django.setup()


def _seed(events: int) -> str:
    """``events`` finance events of warehouse BENCH, two lines each; a finance token."""
    from django.db import connection

    from integrations.services import external_system_ensure
    from inventory.models import FinanceEvent, FinanceSequence, Warehouse

    warehouse, _ = Warehouse.objects.get_or_create(code="BENCH", defaults={"name": "Bench"})
    table = FinanceEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (sequence, event_id, event_type, occurred_at, warehouse_id,
                currency, reference_type, reference_id, reference_number, store_code,
                reason_code, lines, total_amount, source_key, correlation_id)
            SELECT n, gen_random_uuid(), 'shipment.confirmed',
                   now() - make_interval(secs => %(events)s - n), %(warehouse)s, 'EUR',
                   'shipment', n::text, 'SH-' || lpad(n::text, 8, '0'),
                   'S' || lpad((n %% 200)::text, 3, '0'), '',
                   jsonb_build_array(
                       jsonb_build_object('sku', 'SKU-' || (n %% 500), 'qty', (n %% 7 + 1)::text,
                           'uom', 'EA', 'unitCost', '2.5000',
                           'amount', ((n %% 7 + 1) * 2.5)::numeric(20, 4)::text),
                       jsonb_build_object('sku', 'SKU-' || (n %% 501 + 500), 'qty', '3',
                           'uom', 'EA', 'unitCost', '0.3333', 'amount', '0.9999')),
                   ((n %% 7 + 1) * 2.5 + 0.9999)::numeric(20, 4),
                   'bench:' || n, ''
            FROM generate_series(1, %(events)s) AS n
            """,
            {"events": events, "warehouse": warehouse.pk},
        )
    FinanceSequence.objects.update_or_create(pk=1, defaults={"last": events})
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
    _system, key, _created = external_system_ensure(
        system_type="finance", code="FIN-BENCH", warehouse_codes=["BENCH"], rotate=True
    )
    return key


# --- the measured paths (each runs in a child process) -----------------------------------


class _CountingSink:
    """stdout of the command: counts what it is given, keeps nothing."""

    def __init__(self):
        self.size = 0
        self.lines = 0

    def write(self, text: str) -> None:
        self.size += len(text)
        self.lines += text.count("\n")

    def flush(self) -> None:
        pass


def _command(fmt: str, limit: int | None) -> tuple[int, int]:
    from django.core.management import call_command

    args = ["export_finance_events", "--format", fmt]
    if limit:
        args += ["--limit", str(limit)]
    sink, errors = _CountingSink(), _CountingSink()
    call_command(*args, stdout=sink, stderr=errors)
    # csv: a header and two rows per event; json: one document, the events counted below
    return (sink.lines - 1) // 2 if fmt == "csv" else -1, sink.size


def _api(fmt: str, key: str, stop_at: int | None) -> tuple[int, int]:
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    accept = "text/csv" if fmt == "csv" else "application/json"
    after, events, size = "", 0, 0
    while True:
        response = client.get(
            "/api/v1/finance/events", {"limit": 5000, "after": after}, HTTP_ACCEPT=accept
        )
        assert response.status_code == 200, response.status_code
        count = 0
        for piece in response.streaming_content:  # as a server would send it: piece by piece
            size += len(piece)
            count += piece.count(b"\r\n" if fmt == "csv" else b'"sequence":')
        if fmt == "csv":
            count = (count - 1) // 2  # a header, two rows per event
        events += count
        if after == response["X-Next-Cursor"] or count == 0 or events >= (stop_at or events + 1):
            return events, size
        after = response["X-Next-Cursor"]


def _copy_reference(url: str) -> tuple[int, int]:
    import psycopg

    size = 0
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        query = (
            f"COPY (SELECT {COLUMNS} FROM inventory_financeevent e "
            "JOIN inventory_warehouse w ON w.id = e.warehouse_id ORDER BY e.sequence) "
            "TO STDOUT (FORMAT csv, HEADER)"
        )
        with cursor.copy(query) as copy:
            for block in copy:
                size += len(block)
        (events,) = conn.execute("SELECT count(*) FROM inventory_financeevent").fetchone()
    return events, size


def _cursor_reference(url: str) -> tuple[int, int]:
    import psycopg

    events = 0
    with psycopg.connect(url) as conn, conn.cursor(name="bench") as cursor:
        cursor.itersize = 2000
        cursor.execute(
            f"SELECT {COLUMNS} FROM inventory_financeevent e "
            "JOIN inventory_warehouse w ON w.id = e.warehouse_id ORDER BY e.sequence"
        )
        for _row in cursor:
            events += 1
    return events, -1


def _child(path: str, args: dict, results) -> None:
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    if path == "command":
        events, size = _command(args["format"], args.get("limit"))
        events = args["expected"] if events < 0 else events
    elif path == "api":
        events, size = _api(args["format"], args["key"], args.get("stop_at"))
    elif path == "copy":
        events, size = _copy_reference(args["url"])
    else:
        events, size = _cursor_reference(args["url"])
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results.put((events, size, seconds, (peak - start_rss) / 1024))


def _measure(label: str, path: str, **args) -> dict:
    from django.db import connections

    connections.close_all()  # the child opens its own; a forked socket is never shared
    results = multiprocessing.get_context("fork").SimpleQueue()
    process = multiprocessing.get_context("fork").Process(target=_child, args=(path, args, results))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"finance_export: {label} failed (exit {process.exitcode})")
    events, size, seconds, growth = results.get()
    row = {
        "label": label,
        "events": events,
        "seconds": seconds,
        "rate": events / seconds,
        "mb_s": size / seconds / 1e6 if size > 0 else None,
        "growth": growth,
    }
    mb_s = f"{row['mb_s']:7.1f} MB/s" if row["mb_s"] else "          "
    print(
        f"{label:34} {events:>9,} events {seconds:7.1f} s {row['rate']:>9,.0f} events/s "
        f"{mb_s}  peak +{growth:6.1f} MiB",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--skip-api", action="store_true", help="Only the command paths.")
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the database of the last run (same --events)."
    )
    args = parser.parse_args()

    began = time.perf_counter()
    if args.reuse:
        _django(args.database_url)
        from integrations.services import external_system_ensure

        key = external_system_ensure(
            system_type="finance", code="FIN-BENCH", warehouse_codes=["BENCH"], rotate=True
        )[1]
    else:
        print(f"database {args.database_url}; migrating and seeding ...", flush=True)
        _recreate_database(args.database_url)
        _django(args.database_url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        key = _seed(args.events)
        print(f"{args.events:,} events seeded in {time.perf_counter() - began:.0f} s", flush=True)

    n, tenth = args.events, args.events // 10
    rows = [
        _measure("reference: COPY … TO STDOUT csv", "copy", url=args.database_url),
        _measure("reference: bare cursor loop", "cursor", url=args.database_url),
        _measure("command json", "command", format="json", expected=n),
        _measure("command csv", "command", format="csv", expected=n),
        _measure("command json, a tenth", "command", format="json", expected=tenth, limit=tenth),
        _measure("command csv, a tenth", "command", format="csv", expected=tenth, limit=tenth),
    ]
    if not args.skip_api:
        rows += [
            _measure("API json, pages of 5000", "api", format="json", key=key),
            _measure("API csv, pages of 5000", "api", format="csv", key=key),
            _measure("API json, a tenth", "api", format="json", key=key, stop_at=tenth),
            _measure("API csv, a tenth", "api", format="csv", key=key, stop_at=tenth),
        ]
    by = {row["label"]: row for row in rows}
    copy_rate = by["reference: COPY … TO STDOUT csv"]["rate"]
    print()
    labels = ["command json", "command csv"]
    if not args.skip_api:
        labels += ["API json, pages of 5000", "API csv, pages of 5000"]
    for label in labels:
        row = by[label]
        tenth_row = by[label.replace(", pages of 5000", "") + ", a tenth"]
        print(
            f"{label}: {row['rate']:,.0f} events/s ({row['rate'] / copy_rate:.0%} of COPY), "
            f"peak +{row['growth']:.1f} MiB over {n:,} events vs +{tenth_row['growth']:.1f} MiB "
            f"over {tenth:,}"
        )
    slowest = min(row["rate"] for row in rows if not row["label"].startswith("reference"))
    verdict = "met" if slowest >= 20_000 else "NOT met"
    print(f"target ≥ 20,000 events/s on every export path: {verdict} (slowest {slowest:,.0f}/s)")


if __name__ == "__main__":
    main()
