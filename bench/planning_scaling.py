"""Planning scaling curve: order lines allocated per second with 1, 2 and 4 worker processes.

Run (PostgreSQL, Redis and RabbitMQ on this machine)::

    .venv/bin/python bench/planning_scaling.py                 # 1,000 orders x 10 lines
    .venv/bin/python bench/planning_scaling.py --orders 2000 --workers 1 2 4

The data set is bench/planning.py's (a warehouse, 400 items with stock at their
pick faces, 16 stores, ``--orders`` accepted orders spread over the planning
partitions), seeded ONCE into a template database; every run starts from a
fresh copy of it (``CREATE DATABASE … TEMPLATE``), so each worker count plans
exactly the same orders. A run starts N ``celery -A wms worker`` processes
(solo pool: one task at a time each) on a queue of its own, sends one
``order_planning_task`` per partition and waits until no order awaits
planning. It prints lines/s per worker count and the speed-up over one worker.

Target: ≥ 1.7x from 1 to 2 workers. Caveat: the machine has 2 CPU cores, shared
with other engineers' test runs, and PostgreSQL, RabbitMQ and the workers run
on the same 2 cores; 4 workers cannot be faster than 2 here, and a busy
neighbour lowers any figure. The speed-up says how well planning partitions
(no lock convoy, no serial section); the absolute rates say little.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import planning  # noqa: E402  bench/planning.py: its environment, seed and database helpers

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_bench_planning_scaling"


def _admin_connection(url: str):
    import psycopg

    parsed = urlparse(url)
    return psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True)


def _clone(template_url: str, name: str) -> str:
    template = urlparse(template_url).path.lstrip("/")
    with _admin_connection(template_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return urlparse(template_url)._replace(path=f"/{name}").geturl()


def _drop(url: str) -> None:
    with _admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path.lstrip("/")}" WITH (FORCE)')


def _seed_template(args) -> None:
    planning._recreate_database(args.database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env=planning._env(args),
        check=True,
    )
    subprocess.run(
        [
            *(sys.executable, __file__, "--seed-only", "--database-url", args.database_url),
            *("--orders", str(args.orders), "--lines", str(args.lines)),
        ],
        check=True,
    )


def _machine_busy_seconds() -> float:
    """CPU-seconds the whole machine was busy (all cores, every process): the workers,
    PostgreSQL, the broker, and any neighbour's run."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _plan_with_workers(args, count: int) -> dict:
    """In a process of its own (settings name one database): plan everything with N workers."""
    planning._setup_django(args)
    from django.db import connection
    from django.db.models import Count, Q

    from inventory.models import Warehouse
    from outbound.models import ReplenishmentOrder, ReplenishmentOrderLine
    from outbound.tasks import order_planning_task
    from wms.celery import app

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    app.conf.task_default_queue = args.queue
    log = open(f"/tmp/{args.queue}-workers.log", "wb")  # noqa: SIM115
    workers = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "wms", "worker", "-Q", args.queue),
                *("--pool", "solo", "--without-heartbeat", "--without-gossip", "--without-mingle"),
                *("-l", "warning", "-n", f"{args.queue}-{n}@%h"),
            ],
            cwd=ROOT,
            env=planning._env(args),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for n in range(count)
    ]
    try:
        time.sleep(4 + 2 * count)  # every worker connected before the clock starts
        warehouse = Warehouse.objects.get(code="PLAN1")
        cpu_at_start = sum(sum(psutil.Process(w.pid).cpu_times()[:2]) for w in workers)
        machine_at_start = _machine_busy_seconds()
        orders = ReplenishmentOrder.objects.filter(warehouse=warehouse)
        groups = sorted(set(orders.values_list("planning_group", flat=True)))
        started = time.time()
        for group in groups:
            order_planning_task.apply_async(
                kwargs={"warehouse_id": warehouse.pk, "planning_group": group, "trigger": "MANUAL"}
            )
        while orders.filter(needs_planning=True).exists():
            time.sleep(0.1)
            if any(w.poll() is not None for w in workers):
                raise SystemExit(f"a worker died: see {log.name}")
        seconds = time.time() - started
        # CPU the workers used: lines per CPU-second does not depend on the neighbours,
        # and CPU-seconds / wall-seconds is the parallelism they actually got.
        cpu = sum(sum(psutil.Process(w.pid).cpu_times()[:2]) for w in workers)
        machine_busy = _machine_busy_seconds() - machine_at_start
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
        from kombu import Connection

        with Connection(planning.BROKER_URL) as broker:
            broker.default_channel.queue_delete(args.queue)
    allocated = ReplenishmentOrderLine.objects.filter(order__warehouse=warehouse).aggregate(
        n=Count("pk", filter=Q(status="ALLOCATED"))
    )["n"]
    return {
        "workers": count,
        "allocated": allocated,
        "seconds": seconds,
        "groups": len(groups),
        "worker_cpu_seconds": cpu - cpu_at_start,
        "machine_busy_seconds": machine_busy,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.queue = f"bench-planning-scaling-{uuid.uuid4().hex[:8]}"
    args.release = False
    if args.seed_only:
        planning._setup_django(args)
        from django.core.cache import cache

        cache.clear()
        planning._seed(args)
        return
    if args.run is not None:
        print("RESULT=" + json.dumps(_plan_with_workers(args, args.run)), flush=True)
        return

    print(f"seeding {args.orders} orders x {args.lines} lines into {args.database_url} ...")
    _seed_template(args)
    results = []
    try:
        for count in args.workers:
            url = _clone(args.database_url, f"{urlparse(args.database_url).path[1:]}_w{count}")
            out = subprocess.run(
                [sys.executable, __file__, "--run", str(count), "--database-url", url],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            _drop(url)
            result = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT="))[7:])
            result["rate"] = result["allocated"] / result["seconds"]
            results.append(result)
            print(
                f"{count} worker(s): {result['rate']:8.1f} lines/s "
                f"({result['allocated']} lines in {result['seconds']:.1f} s, "
                f"{result['groups']} partitions; workers used "
                f"{result['worker_cpu_seconds'] / result['seconds']:.2f} cores, "
                f"{result['allocated'] / result['worker_cpu_seconds']:.0f} lines per CPU-second; "
                f"the machine {result['machine_busy_seconds'] / result['seconds']:.2f} cores busy; "
                f"load average {result['load']:.1f})",
                flush=True,
            )
    finally:
        _drop(args.database_url)
    base = results[0]["rate"]
    print()
    print(f"{os.cpu_count()} CPUs, shared with other engineers' runs; solo-pool workers")
    for result in results:
        ratio = result["rate"] / base
        print(f"  {result['workers']} worker(s): {ratio:.2f}x of {results[0]['workers']} worker(s)")
    first = results[0]
    if first["workers"] == 1:
        # With one worker the machine was this busy (the worker, PostgreSQL, the broker,
        # neighbours): two workers need up to twice that, from os.cpu_count() cores.
        busy = first["machine_busy_seconds"] / first["seconds"]
        ceiling = min(2.0, (os.cpu_count() or 1) / busy) if busy else 2.0
        print(
            f"  with one worker the machine was {busy:.2f} cores busy: "
            f"on {os.cpu_count()} cores, 2 workers can reach at most about {ceiling:.2f}x"
        )
    two = next((r for r in results if r["workers"] == 2), None)
    if two and results[0]["workers"] == 1:
        met = two["rate"] / base >= 1.7
        print("target ≥ 1.7x from 1 to 2 workers: " + ("met" if met else "NOT met on this run"))


if __name__ == "__main__":
    main()
