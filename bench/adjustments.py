"""Benchmark: adjustments applied per second beside the posting service's own rate.

Two paths, alternated in short rounds on the same database and SKUs:

- ``adjustment_request`` below the thresholds: the adjustment row (with its
  history record), the ADJUST posting (ledger entry, balance, outbox event),
  two audit records and the finance event, in one transaction;
- ``stock_adjust`` alone: the raw ADJUST posting the first one contains.

Prints both, per round and as medians, and their ratio. Target: the
adjustment rate ≥ 0.7 x the raw posting rate. Not a test: figures on a shared
2-core machine are noisy (other engineers run suites at the same time).

Figures (1 worker, alternating runs of 3 rounds x 4 s, median of the rounds,
shared 2-core machine at load ~2): ratio 0.40 before (five round trips),
0.445 with the finance event sent with the pipeline's Sync (four), 0.48 with
the audit and finance rows written without model instances (Python CPU per
adjustment ~1.08 -> ~1.0 ms; the raw posting 0.35 ms). About 540 adjustments/s
beside 1100 raw postings/s.

With the COMMIT sent with the last writes (three round trips, as many as the
raw posting) the ratio was 0.51 and 0.62 in two runs (load ~10.5 and ~6);
that path ended the transaction behind ``transaction.atomic``'s back and was
taken out again. Four round trips, 5 rounds x 3 s, load ~6: 131 vs 221 /s,
ratio 0.59; at a quiet moment (load ~1): 551 vs 1020 /s, 0.54.

Now (commit 29e7293) the adjustment rides its posting's statement
(``engine.PostingCompanion``): BEGIN, one statement, COMMIT, as the raw posting,
its rows as JSON records so that psycopg caches the statement's conversion.
In one process (2,000 calls each way): 1.57 vs 1.19 ms per call (0.76) at one
moment, 3.47-3.74 vs 1.92-1.95 ms (0.52-0.55) two hours later, the machine
slower for both (Python CPU 1.46-1.55 vs 0.78-0.80 ms, PostgreSQL backend CPU
1.72-1.85 vs 0.84-0.88 ms per call: the adjustment costs about twice the raw
posting on both sides). This bench, same day, load 0.3-4: 0.46 to 0.68 between
runs, 0.50-0.55 over 15 rounds of 2 s. The target is NOT met.
What separates the two paths now is the adjustment's own work:
PostgreSQL executes its statement in 0.43 ms against 0.15 ms (5 more rows, 17
more index entries, 46 WAL records against 13-17: pg_stat_statements), and
0.3-0.4 ms more Python (the row, its snapshots, the finance event and their
JSON). Fewer rows (one audit record instead of "requested" + "applied" for an
adjustment applied at once, no separate history record) is a product decision.
Finance events are numbered under one counter lock held until commit
(``inventory.finance``), so adjustments from several workers queue there;
``--workers 1`` (the default) measures the path itself.

    .venv/bin/python bench/adjustments.py [--seconds 3] [--rounds 5] [--workers 1]

Uses its own database (default ``wms_bench_adjustments``; ``--database-url``),
created and migrated by the script. Exits non-zero if it could not run or the
books do not verify afterwards.
"""

import argparse
import multiprocessing
import os
import queue
import random
import statistics
import sys
import time
import traceback
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The posting bench's Django set-up, database creation and seed, not a copy of them.
from inventory_postings import _django, _ensure_database  # noqa: E402
from inventory_postings import _setup as _postings_setup  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wms_bench_adjustments"
TARGET = 0.7


def _setup(skus: int) -> dict:
    """The posting bench's warehouse, SKUs and stock, and a reason code for adjustments
    (no thresholds: every adjustment applies at once). Idempotent."""
    from inventory.models import ReasonCode, ReasonCodeUse

    ids = _postings_setup(skus)
    ReasonCode.objects.get_or_create(
        code="COUNT_DIFF",
        defaults={"description": "Count difference", "use": ReasonCodeUse.ADJUSTMENT},
    )
    return ids


def _worker(path, number, ids, seconds, start, results):
    """One process: ``path`` ("adjustment" or "posting") as often as it can for ``seconds``."""
    try:
        from django.db import connections

        from inventory import services
        from inventory.models import InventoryStatus, Item, Location, Warehouse

        connections.close_all()
        items = list(
            Item.objects.filter(pk__in=ids["items"]).select_related("warehouse", "base_uom")
        )
        location = Location.objects.get(pk=ids["location"])
        status = InventoryStatus.objects.get(pk=ids["status"])
        warehouse = Warehouse.objects.get(pk=ids["warehouse"])
        rng = random.Random(number)
        run = uuid.uuid4().hex[:8]
        start.wait()
        cpu = time.process_time()
        done, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            item = items[rng.randrange(len(items))]
            qty = Decimal(rng.choice((-2, -1, 1, 2)))  # stock stays around what it was
            key = f"bench-{path}-{run}-{number}-{done}"
            if path == "adjustment":
                services.adjustment_request(
                    warehouse=warehouse,
                    item=item,
                    location=location,
                    status=status,
                    qty_delta=qty,
                    reason_code="COUNT_DIFF",
                    actor="bench",
                    source="api",
                    request_key=key,
                )
            else:
                services.stock_adjust(
                    item=item,
                    location=location,
                    status=status,
                    qty_delta=qty,
                    reason_code="COUNT_DIFF",
                    posting_key=key,
                    source_ref=key,
                    actor="bench",
                )
            done += 1
        results.put((done, time.process_time() - cpu))
    except BaseException:
        traceback.print_exc()
        raise SystemExit(1) from None


def _run(path: str, ids: dict, seconds: float, workers: int) -> tuple[int, float]:
    """How many ``path`` did in ``seconds`` (all workers), and their Python CPU per call (ms)."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(target=_worker, args=(path, n, ids, seconds, start, results))
        for n in range(workers)
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
                raise SystemExit(
                    f"a {path} worker failed (exit codes {failed}); see above"
                ) from None
    for process in processes:
        process.join()
    done = sum(n for n, _cpu in counts)
    return done, 1000 * sum(cpu for _n, cpu in counts) / max(done, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=float, default=3.0, help="per path and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--skus", type=int, default=200)
    args = parser.parse_args()

    _ensure_database(args.database_url)
    _django(args.database_url)
    from django.db import connections

    print(f"database {args.database_url}; migrating and seeding {args.skus} SKUs …", flush=True)
    ids = _setup(args.skus)
    connections.close_all()  # forked workers open their own connections
    print(
        f"{args.workers} worker process(es), {args.rounds} rounds of {args.seconds:.0f} s per "
        f"path, {os.cpu_count()} CPU cores",
        flush=True,
    )
    adjustment_rates, posting_rates, adjustment_cpu, posting_cpu = [], [], [], []
    for round_no in range(1, args.rounds + 1):
        load = os.getloadavg()[0]
        adjustments, cpu_a = _run("adjustment", ids, args.seconds, args.workers)
        postings, cpu_p = _run("posting", ids, args.seconds, args.workers)
        adjustment_rates.append(adjustments / args.seconds)
        posting_rates.append(postings / args.seconds)
        adjustment_cpu.append(cpu_a)
        posting_cpu.append(cpu_p)
        print(
            f"  round {round_no}: adjustment_request {adjustment_rates[-1]:>6.0f} /s, "
            f"stock_adjust {posting_rates[-1]:>6.0f} /s, "
            f"ratio {adjustment_rates[-1] / posting_rates[-1]:.2f}; Python CPU per call "
            f"{cpu_a:.2f} / {cpu_p:.2f} ms (load average before: {load:.1f})",
            flush=True,
        )
    adjustment_rate = statistics.median(adjustment_rates)
    posting_rate = statistics.median(posting_rates)
    ratio = adjustment_rate / posting_rate

    from inventory.selectors import inventory_verify

    report = inventory_verify()
    print()
    print(f"medians of {args.rounds} rounds:")
    print(f"adjustments applied (adjustment_request): {adjustment_rate:>8.0f} /s")
    print(f"raw ADJUST postings (stock_adjust):        {posting_rate:>8.0f} /s")
    print(f"ratio:                                     {ratio:>8.2f}")
    round_ratios = [a / p for a, p in zip(adjustment_rates, posting_rates, strict=True)]
    print(f"median of the rounds' ratios:              {statistics.median(round_ratios):>8.2f}")
    print(
        f"Python CPU per call (median): adjustment {statistics.median(adjustment_cpu):.2f} ms, "
        f"posting {statistics.median(posting_cpu):.2f} ms"
    )
    print(f"target >= {TARGET}x the posting rate: {'met' if ratio >= TARGET else 'NOT met'}")
    print(
        f"verify_inventory after both: {'OK' if report.ok else 'DRIFT'} "
        f"({len(report.problems)} problems)"
    )
    print("note: shared 2-core machine, other test suites running; figures are noisy.")
    return 0 if report.ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(2)
