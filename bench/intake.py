"""Order intake benchmark: orders/s and latency through gunicorn, with a same-run reference.

Run (PostgreSQL, Redis and RabbitMQ on this machine)::

    .venv/bin/python bench/intake.py                       # defaults
    .venv/bin/python bench/intake.py --orders 3000 --concurrency 16 --workers 4

What it does:

1. creates its own database (``--database-url``, dropped and recreated), seeds a
   warehouse, 200 items and 20 stores with their API tokens;
2. starts gunicorn (``--workers`` sync workers, or ``--worker-class gthread
   --threads N``, which keeps the clients' connections alive) serving the
   product and, in the same process, a *reference* endpoint (``bench/intake_server.py``): the least
   DRF can do to store the same rows — idempotency record, order, 10 lines,
   outbox event — in one transaction;
3. from separate load processes on loopback (requests built before the clock
   starts, so the load side only sends and reads), sends ``--orders`` orders of
   ``--lines`` lines to each endpoint in turn (``--rounds`` times, alternating),
   each with its own Idempotency-Key and externalOrderId, stores round-robin;
4. prints orders/s, p50 and p99 latency per endpoint and round, and the ratio
   product / reference. With ``--floor`` a third endpoint in each round, a DRF
   view behind the same middleware that only parses the order and answers 202
   (no token, database or cache): what this machine's gunicorn, Django and load
   side reach at all, the ceiling for both others.

The product path includes everything production has: token auth, the store
throttle and the planning-backlog check on the shared Redis cache, staged
validation, the idempotency decorator, history rows for order and lines, the
outbox event and the coalesced planning nudge to RabbitMQ (to a queue of this
run, deleted afterwards; no planner consumes it during the run).

Caveat: a 2-core machine shared with other engineers' test runs; gunicorn,
PostgreSQL and the load generator share the cores. Compare the two endpoints
of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
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
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_h5_bench"
CACHE_URL = "redis://127.0.0.1:6379/6"
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"


def free_port() -> int:
    """A port nothing listens on now (another instance may run its benches beside us)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = free_port()

SEED = r"""
import json
from decimal import Decimal
from integrations.services import external_system_ensure
from inventory.models import InventoryStatus, Item, UnitOfMeasure, Warehouse
wh, _ = Warehouse.objects.get_or_create(code="BENCH1", defaults={"name": "Bench DC"})
ea, _ = UnitOfMeasure.objects.get_or_create(code="EA", defaults={"description": "Each"})
InventoryStatus.objects.get_or_create(
    code="AVAILABLE", defaults={"description": "Available", "allocatable": True}
)
for n in range(200):
    Item.objects.get_or_create(
        warehouse=wh, sku=f"SKU-{n:04d}", defaults={"description": f"Item {n}", "base_uom": ea}
    )
tokens = {}
for n in range(20):
    code = f"S{n:03d}"
    _system, key, _ = external_system_ensure(
        system_type="store", code=code, warehouse_codes=["BENCH1"], rotate=True
    )
    tokens[code] = key
print("TOKENS=" + json.dumps(tokens))
"""


def _env(args, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        SECRET_KEY=env.get("SECRET_KEY", "bench-secret-key"),
        DJANGO_DEBUG="0",
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


def _order(store: str, lines: int, n: int) -> dict:
    start = (n * 7) % 200
    return {
        "externalOrderId": f"{store}-{uuid.uuid4().hex[:12]}",
        "storeCode": store,
        "requestedShipBy": "2030-11-23T18:00:00+01:00",
        "priority": 1 + n % 9,
        "lines": [
            {"lineNumber": k + 1, "sku": f"SKU-{(start + k * 13) % 200:04d}", "qty": str(1 + k)}
            for k in range(lines)
        ],
    }


def _requests(tokens, count, lines, offset) -> list[tuple[bytes, dict]]:
    """Bodies and headers of ``count`` orders, built before the clock starts."""
    stores = sorted(tokens)
    built = []
    for n in range(count):
        store = stores[(offset + n) % len(stores)]
        body = json.dumps(_order(store, lines, offset + n)).encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Token {tokens[store]}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        built.append((body, headers))
    return built


def _load_worker(path, requests, threads, results, port=PORT):
    """One load process: ``threads`` threads with their own keep-alive connections."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    pending = iter(requests)

    def run():
        conn = HTTPConnection("127.0.0.1", port, timeout=60)
        local_lat, local_status = [], {}
        while True:
            with lock:
                request = next(pending, None)
            if request is None:
                break
            body, headers = request
            started = time.perf_counter()
            for _attempt in range(3):
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    break
                except (ConnectionError, OSError):
                    conn.close()
                    conn = HTTPConnection("127.0.0.1", port, timeout=60)
            local_lat.append(time.perf_counter() - started)
            local_status[response.status] = local_status.get(response.status, 0) + 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = HTTPConnection("127.0.0.1", port, timeout=60)
        with lock:
            latencies.extend(local_lat)
            for key, value in local_status.items():
                statuses[key] = statuses.get(key, 0) + value

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    results.put((latencies, statuses))


def _run_load(path, tokens, args, offset, port=PORT) -> dict:
    processes = args.load_processes
    per_process = args.orders // processes
    results = multiprocessing.Queue()
    threads = max(1, args.concurrency // processes)
    # Built in this process and inherited by the forked load processes: the load
    # side only sends and reads while the clock runs.
    procs = [
        multiprocessing.Process(
            target=_load_worker,
            args=(
                path,
                _requests(tokens, per_process, args.lines, offset + i * per_process),
                threads,
                results,
                port,
            ),
        )
        for i in range(processes)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    latencies, statuses = [], {}
    for _ in procs:
        lat, st = results.get()
        latencies.extend(lat)
        for key, value in st.items():
            statuses[key] = statuses.get(key, 0) + value
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    latencies.sort()
    ok = statuses.get(202, 0)
    return {
        "orders": ok,
        "statuses": statuses,
        "seconds": elapsed,
        "rate": ok / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def gunicorn_start(
    args, *, port=PORT, settings_module="intake_server", app="wms.wsgi", stderr=None, **env
):
    """The product (and the bench endpoints) under gunicorn on ``port``; ``env`` adds to
    the bench's environment (``_env``)."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            app,
            "--pythonpath",
            f"{ROOT / 'bench'},{ROOT}",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            args.worker_class,
            "--threads",
            str(args.threads),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=_env(args, DJANGO_SETTINGS_MODULE=settings_module, **env),
        stderr=stderr,
    )


def wait_until_up(port=PORT, timeout=60.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        if time.time() > deadline:
            raise SystemExit(f"gunicorn on port {port} did not come up")
        time.sleep(0.3)


def arguments(description: str, *, database_url: str = DEFAULT_DB) -> argparse.ArgumentParser:
    """The load and server options (also of bench/observability_overhead.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database-url", default=database_url)
    parser.add_argument("--orders", type=int, default=3000, help="per endpoint and round")
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--worker-class",
        default="sync",
        choices=["sync", "gthread"],
        help="gthread keeps client connections alive; sync closes one per request",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--rounds", type=int, default=2)
    return parser


def prepare(args) -> dict:
    """A fresh database, migrated and seeded: the stores' tokens by code."""
    print(f"database {args.database_url}; preparing ...", flush=True)
    _recreate_database(args.database_url)
    _manage(args, "migrate", "-v0")
    out = _manage(args, "shell", "-c", SEED, capture=True)
    return json.loads(out.split("TOKENS=", 1)[1].strip())


def queue_delete(args) -> None:
    """Remove the run's planning queue (its nudges were never consumed)."""
    try:
        from kombu import Connection

        with Connection(BROKER_URL) as connection:
            connection.default_channel.queue_delete(args.queue)
    except Exception as exc:  # pragma: no cover - cleanup only
        print(f"(could not delete queue {args.queue}: {exc})")


def main() -> None:
    parser = arguments(__doc__.split("\n")[0])
    parser.add_argument(
        "--floor", action="store_true", help="also measure a no-op DRF endpoint (the ceiling)"
    )
    args = parser.parse_args()
    args.queue = f"h5-bench-intake-{uuid.uuid4().hex[:8]}"
    tokens = prepare(args)

    gunicorn = gunicorn_start(args)
    try:
        wait_until_up(PORT)
        targets = {
            "product": "/api/v1/replenishment-orders",
            "reference": "/bench/reference-orders",
        }
        if args.floor:
            targets["floor"] = "/bench/floor"
        # Warm-up: every worker connects, imports and caches.
        for name, path in targets.items():
            warm = argparse.Namespace(**{**vars(args), "orders": 200})
            _run_load(path, tokens, warm, offset=10_000_000 + len(name))
        rows = []
        offset = 0
        for round_number in range(1, args.rounds + 1):
            for name, path in targets.items():
                result = _run_load(path, tokens, args, offset)
                offset += args.orders
                rows.append((round_number, name, result))
                print(
                    f"round {round_number} {name:9s}: {result['rate']:7.1f} orders/s  "
                    f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
                    f"statuses {result['statuses']}",
                    flush=True,
                )
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
        queue_delete(args)

    best = {
        name: max(r["rate"] for _n, t, r in rows if t == name) for name in ("product", "reference")
    }
    med = {
        name: statistics.median([r["rate"] for _n, t, r in rows if t == name])
        for name in ("product", "reference")
    }
    p50 = statistics.median([r["p50_ms"] for _n, t, r in rows if t == "product"])
    p99 = statistics.median([r["p99_ms"] for _n, t, r in rows if t == "product"])
    print()
    print(
        f"orders of {args.lines} lines, {args.workers} gunicorn {args.worker_class} workers"
        + (f" x {args.threads} threads, " if args.worker_class == "gthread" else ", ")
        + f"{args.concurrency} concurrent clients in {args.load_processes} processes, "
        f"{os.cpu_count()} CPUs (shared)"
    )
    print(
        f"product   : {med['product']:7.1f} orders/s (median of rounds; best {best['product']:.1f})"
    )
    print(f"            p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"reference : {med['reference']:7.1f} orders/s (median; best {best['reference']:.1f})")
    if args.floor:
        floor = statistics.median([r["rate"] for _n, t, r in rows if t == "floor"])
        print(f"floor     : {floor:7.1f} requests/s (median; no-op DRF view, same middleware)")
    print(f"ratio product/reference: {med['product'] / med['reference']:.2f}  (target ≥ 0.70)")
    print("target ≥ 300 orders/s: " + ("met" if med["product"] >= 300 else "NOT met on this run"))


if __name__ == "__main__":
    main()
