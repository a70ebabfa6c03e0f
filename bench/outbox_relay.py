"""Outbox relay benchmark: throughput and commit-to-broker lag, with a same-run baseline.

Run (PostgreSQL and RabbitMQ on this machine)::

    .venv/bin/python bench/outbox_relay.py                 # all phases, defaults
    .venv/bin/python bench/outbox_relay.py --events 20000 --rate 500 --seconds 30

It uses its own database (``--database-url``, created and migrated if missing)
and its own exchange, so it does not disturb tests. Phases:

1. **Baseline, no database**: raw publish rate to the same exchange with
   publisher confirms, (a) one confirm per message (kombu ``confirm_publish``),
   (b) batched confirms as the relay does them (``AmqpSink``).
2. **Relay throughput**: ``--events`` committed events over ``--aggregates``
   aggregates drained by the relay (in-process and as 2 ``outbox_relay``
   processes), events/s from the first to the last message at the consumer.
3. **Producer insert rate** (``inserts``): ``--producers`` processes commit
   ``--per-transaction`` events per transaction as fast as they can for
   ``--seconds``, no relay running, on a table already holding ``--prefill``
   published events (the retention window's rows: every insert also goes into
   every index of a table that size). Events/s committed: what each index costs
   the writers (issue 18's index review compares it before and after a change).
4. **Index A/B** (``index-ab``, same run): the inserts phase and then the relay
   draining what the producers committed, ``--ab-rounds`` times with the indexes
   of today and with the two that ``wms`` 0009 dropped built again, alternating,
   on one table of ``--prefill`` published events: events/s for each side, the
   comparison that runs on different days cannot give on a shared machine.
5. **Lag at a steady rate**: ``--producers`` processes commit
   ``--per-transaction`` events per transaction, together ``--rate`` events/s
   for ``--seconds``; an ``outbox_relay``
   process publishes; a consumer measures receipt time minus ``occurredAt``
   (the event's transaction start, so commit-to-consumer, slightly more than
   commit-to-broker). Reports p50/p95/p99/max and duplicates.

The figures depend on the machine and on what else runs on it: report them
with that caveat. On a crowded 2-CPU machine the producers may not reach the
target rate (their commits wait for the shared disk): the bench prints the
rate achieved; ``--raw-producer`` (plain SQL inserts) and a larger
``--per-transaction`` lighten the producer side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_h2_bench"
BUS_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _configure_env(args) -> None:
    os.environ.setdefault("SECRET_KEY", "bench-secret-key")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["WMS_EVENT_BUS_URL"] = BUS_URL
    os.environ["WMS_EVENT_EXCHANGE"] = args.exchange
    os.environ.setdefault("CELERY_BROKER_URL", BUS_URL)
    os.environ.setdefault("DB_CONN_MAX_AGE", "60")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=dict(os.environ),
        check=True,
    )


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


# --- consumer -----------------------------------------------------------------------


class Consumer:
    """A queue bound to the bench exchange with ``#``; records (receipt time, envelope)."""

    def __init__(self, exchange: str):
        import amqp

        self.connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest")
        self.connection.connect()
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
        self.queue = f"h2.bench.{uuid.uuid4().hex[:6]}"
        self.channel.queue_declare(self.queue, exclusive=True, auto_delete=True)
        self.channel.queue_bind(self.queue, exchange=exchange, routing_key="#")
        self.received: list[tuple[float, bytes]] = []
        self.channel.basic_qos(0, 2000, False)
        self.channel.basic_consume(self.queue, callback=self._on_message, no_ack=True)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_message(self, message):
        self.received.append((time.time(), message.body))

    def _run(self):
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                self.connection.drain_events(timeout=0.2)

    def start(self):
        self.thread.start()
        return self

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.received) >= count

    def reset(self):
        self.received = []

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=5)
        self.connection.collect()


# --- phase 1: baseline -----------------------------------------------------------------


def _sample_body(n: int) -> bytes:
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "type": "bench.happened",
            "occurredAt": datetime.now().astimezone().isoformat(),
            "instanceId": "wms-bench",
            "correlationId": str(uuid.uuid4()),
            "aggregate": {"type": "BenchAggregate", "id": f"A{n % 200}"},
            "version": 1,
            "data": {"n": n, "warehouse": "MAD1", "qty": "12"},
        }
    ).encode()


def baseline(args, consumer: Consumer) -> dict:
    import kombu

    from integrations.relay import AmqpSink, Outgoing

    results = {}
    n = args.baseline_messages
    bodies = [_sample_body(i) for i in range(n)]

    consumer.reset()
    with kombu.Connection(BUS_URL, transport_options={"confirm_publish": True}) as conn:
        exchange = kombu.Exchange(args.exchange, type="topic", durable=True)
        exchange(conn.default_channel).declare()
        producer = conn.Producer(exchange=exchange)
        started = time.perf_counter()
        for body in bodies:
            producer.publish(
                body,
                routing_key="bench.happened",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )
        elapsed = time.perf_counter() - started
    results["kombu_confirm_each_per_s"] = n / elapsed
    consumer.wait_for(n, 30)

    consumer.reset()
    sink = AmqpSink(BUS_URL, args.exchange)
    messages = [
        Outgoing(str(uuid.uuid4()), "bench.happened", body, "", time.time()) for body in bodies
    ]
    started = time.perf_counter()
    for i in range(0, n, args.batch_size):
        outcome = sink.publish(messages[i : i + args.batch_size])
        assert all(v is None for v in outcome.values())
    elapsed = time.perf_counter() - started
    sink.close()
    results["amqp_batched_confirms_per_s"] = n / elapsed
    consumer.wait_for(n, 30)
    return results


# --- phase 2: throughput ------------------------------------------------------------------


def _fill(total: int, aggregates: int) -> None:
    from django.db import transaction

    from wms.models import OutboxEvent

    rows = []
    for n in range(total):
        rows.append(
            OutboxEvent(
                event_type="bench.happened",
                aggregate_type="BenchAggregate",
                aggregate_id=f"A{n % aggregates}",
                correlation_id=str(uuid.uuid4()),
                data={"n": n, "warehouse": "MAD1", "qty": "12"},
            )
        )
    with transaction.atomic():
        OutboxEvent.objects.bulk_create(rows, batch_size=2000)


def _clear() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE wms_outboxevent")


#: ``--prefill`` published events, as the relay leaves them (a week at ~1.7 events/s
#: per million), generated by PostgreSQL: a million rows take a minute, not ten.
_PREFILL = """
INSERT INTO wms_outboxevent (event_id, event_type, version, aggregate_type, aggregate_id,
  occurred_at, correlation_id, data, status, attempts, next_attempt_at, published_at, sink,
  last_error)
SELECT gen_random_uuid(), 'bench.filled.' || (g %% 14), 1, 'BenchAggregate', md5((g / 5)::text),
  now() - interval '7 days' + g * interval '600 ms', md5(g::text),
  jsonb_build_object('n', g, 'warehouse', 'MAD1', 'qty', '12'), 'PUBLISHED', 0,
  now() - interval '7 days' + g * interval '600 ms',
  now() - interval '7 days' + g * interval '600 ms' + interval '50 ms', 'amqp', ''
FROM generate_series(1, %s) g
"""


def _prefill(rows: int) -> None:
    from django.db import connection

    if rows:
        with connection.cursor() as cursor:
            cursor.execute(_PREFILL, [rows])
            cursor.execute("VACUUM ANALYZE wms_outboxevent")


def inserts(args) -> dict:
    """Producers flat out, no relay: committed events/s on a table of ``--prefill`` rows."""
    from django.db import connection

    _clear()
    _prefill(args.prefill)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text FROM pg_index "
            "WHERE indrelid = 'wms_outboxevent'::regclass ORDER BY 1"
        )
        indexes = [row[0] for row in cursor.fetchall()]
    producers = _producers(args, "--flat-out")
    reports = [_producer_report(p, args) for p in producers]
    total = sum(r["produced"] for r in reports)
    seconds = max(r["seconds"] for r in reports)
    return {
        "indexes": f"{len(indexes)}: {', '.join(indexes)}",
        "prefilled_published_rows": args.prefill,
        "producers x events per transaction": f"{args.producers} x {args.per_transaction}"
        + (" (plain SQL)" if args.raw_producer else " (outbox_emit)"),
        "committed_events": total,
        "insert_rate_per_s": total / seconds,
    }


#: The indexes ``wms`` 0009 dropped, for the A/B phase.
_DROPPED_INDEXES = (
    "CREATE INDEX outbox_pending_idx ON wms_outboxevent (next_attempt_at, id) "
    "WHERE status = 'PENDING'",
    "CREATE INDEX outbox_type_idx ON wms_outboxevent (event_type, id)",
)


def index_ab(args) -> dict:
    """Producers flat out, then the relay draining their events, with and without the
    dropped indexes, alternating rounds on one prefilled table; median per side."""
    from django.db import connection

    from integrations.relay import outbox_relay_run

    _clear()
    _prefill(args.prefill)
    figures: dict[str, dict[str, list[float]]] = {}
    sides = ("5 indexes (today)", "7 indexes (before 0009)")
    for round_number in range(args.ab_rounds):
        # Each side goes first in every other round: the second place of a round
        # (just after the other side's work, or its own CREATE INDEX reading the
        # table) is not given to one side only.
        for side in sides if round_number % 2 == 0 else sides[::-1]:
            if side.startswith("7"):
                with connection.cursor() as cursor:
                    for statement in _DROPPED_INDEXES:
                        cursor.execute(statement)
            reports = [_producer_report(p, args) for p in _producers(args, "--flat-out")]
            produced = sum(r["produced"] for r in reports)
            started = time.perf_counter()
            published = outbox_relay_run(until_idle=True, batch_size=args.batch_size)
            relay_seconds = time.perf_counter() - started
            if side.startswith("7"):
                with connection.cursor() as cursor:
                    cursor.execute("DROP INDEX outbox_pending_idx, outbox_type_idx")
            rates = figures.setdefault(side, {"insert": [], "relay": []})
            rates["insert"].append(produced / max(r["seconds"] for r in reports))
            rates["relay"].append(published / relay_seconds)
    result = {}
    for side, rates in figures.items():
        for kind, values in rates.items():
            shown = " / ".join(f"{v:,.1f}" for v in values)
            result[f"{side}: {kind} per s"] = f"median {statistics.median(values):,.1f} ({shown})"
    return result


def _producers(args, *extra: str) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                *sys.argv[1:],
                "--role",
                "producer",
                "--producer-index",
                str(k),
                *extra,
            ],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(args.producers)
    ]


def _producer_report(producer: subprocess.Popen, args) -> dict:
    out, _ = producer.communicate(timeout=args.seconds * 5 + 60)
    return json.loads(out.strip().splitlines()[-1])


def _consumer_rate(consumer: Consumer, total: int) -> float:
    times = [t for t, _ in consumer.received[:total]]
    return (total - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")


def throughput(args, consumer: Consumer) -> dict:
    from integrations.relay import outbox_relay_run

    results = {}
    _clear()
    _fill(args.events, args.aggregates)
    consumer.reset()
    started = time.perf_counter()
    published = outbox_relay_run(until_idle=True, batch_size=args.batch_size)
    elapsed = time.perf_counter() - started
    assert published == args.events, published
    consumer.wait_for(args.events, 60)
    results["in_process_relay_per_s"] = args.events / elapsed
    results["in_process_relay_consumer_per_s"] = _consumer_rate(consumer, args.events)

    _clear()
    _fill(args.events, args.aggregates)
    consumer.reset()
    relays = [_relay_process(args) for _ in range(2)]
    ok = consumer.wait_for(args.events, 300)
    for relay in relays:
        relay.terminate()
        relay.wait(timeout=30)
    results["two_relay_processes_consumer_per_s"] = _consumer_rate(consumer, args.events)
    ids = [json.loads(b)["id"] for _, b in consumer.received]
    results["two_relay_processes_received"] = len(ids)
    results["two_relay_processes_duplicates"] = len(ids) - len(set(ids))
    results["two_relay_processes_complete"] = ok
    return results


def _relay_process(args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "outbox_relay", "--batch-size", str(args.batch_size)],
        cwd=ROOT,
        env=dict(os.environ),
    )


# --- phase 3: lag at a steady rate ---------------------------------------------------------


_RAW_INSERT = (
    "INSERT INTO wms_outboxevent (event_id, event_type, version, aggregate_type, aggregate_id,"
    " correlation_id, data, status, attempts, sink, last_error)"
    " VALUES (%s, 'bench.happened', 1, 'BenchAggregate', %s, %s, %s, 'PENDING', 0, '', '')"
)


def _raw_row(args, n: int) -> list:
    data = json.dumps({"n": n, "warehouse": "MAD1", "qty": "12"})
    return [uuid.uuid4(), f"P{args.producer_index}-A{n % args.aggregates}", str(uuid.uuid4()), data]


def produce(args) -> None:
    """Producer role: ``--per-transaction`` events per transaction at ``--rate`` for
    ``--seconds`` (``--flat-out``: as fast as it can for ``--seconds``)."""
    import django

    django.setup()
    from django.db import connection, transaction

    from wms.outbox import outbox_emit

    rate = args.rate / args.producers  # this process's share
    per_tx = args.per_transaction
    transactions = int(rate * args.seconds / per_tx)
    started = time.perf_counter()
    late = 0
    n = 0
    t = 0
    while time.perf_counter() - started < args.seconds if args.flat_out else t < transactions:
        if not args.flat_out:
            due = started + t * per_tx / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            elif pause < -0.05:
                late += 1
        t += 1
        with transaction.atomic():
            if args.raw_producer:
                with connection.cursor() as cursor:
                    for _ in range(per_tx):
                        cursor.execute(_RAW_INSERT, _raw_row(args, n))
                        n += 1
            else:
                for _ in range(per_tx):
                    outbox_emit(
                        event_type="bench.happened",
                        aggregate_type="BenchAggregate",
                        aggregate_id=f"P{args.producer_index}-A{n % args.aggregates}",
                        data={"n": n, "warehouse": "MAD1", "qty": "12"},
                    )
                    n += 1
    elapsed = time.perf_counter() - started
    print(json.dumps({"produced": n, "seconds": elapsed, "late": late}), flush=True)


def lag(args, consumer: Consumer) -> dict:
    _clear()
    consumer.reset()
    relay = _relay_process(args)
    time.sleep(3)  # let the relay start (Django import) before the clock runs
    producers = _producers(args)
    reports = [_producer_report(p, args) for p in producers]
    total = sum(r["produced"] for r in reports)
    produced = {
        "produced": total,
        "seconds": max(r["seconds"] for r in reports),
        "late": sum(r["late"] for r in reports),
    }
    consumer.wait_for(total, 60)
    relay.terminate()
    relay.wait(timeout=30)
    lags = []
    ids = []
    for received_at, body in consumer.received:
        envelope = json.loads(body)
        ids.append(envelope["id"])
        occurred = datetime.fromisoformat(envelope["occurredAt"]).timestamp()
        lags.append(received_at - occurred)
    return {
        "producers x events per transaction": f"{args.producers} x {args.per_transaction}"
        + (" (plain SQL)" if args.raw_producer else " (outbox_emit)"),
        "target_rate_per_s": args.rate,
        "achieved_producer_rate_per_s": produced["produced"] / produced["seconds"],
        "producer_late_commits": produced["late"],
        "received": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "lag_p50_ms": _pct(lags, 50) * 1000,
        "lag_p95_ms": _pct(lags, 95) * 1000,
        "lag_p99_ms": _pct(lags, 99) * 1000,
        "lag_max_ms": max(lags) * 1000 if lags else float("nan"),
        "lag_mean_ms": statistics.fmean(lags) * 1000 if lags else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--exchange", default="h2.bench.events")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--aggregates", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--baseline-messages", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--per-transaction", type=int, default=5)
    parser.add_argument("--producer-index", type=int, default=0)
    parser.add_argument(
        "--raw-producer",
        action="store_true",
        help="Insert with plain SQL instead of outbox_emit (less CPU on a crowded machine).",
    )
    parser.add_argument(
        "--prefill",
        type=int,
        default=200_000,
        help="published events in the table before the inserts phase",
    )
    parser.add_argument("--flat-out", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ab-rounds", type=int, default=3, help="rounds per side of index-ab")
    parser.add_argument("--phases", default="baseline,throughput,inserts,lag")
    parser.add_argument("--role", default="bench", choices=["bench", "producer"])
    args = parser.parse_args()
    _configure_env(args)
    if args.role == "producer":
        produce(args)
        return

    _ensure_database(args.database_url)
    import django

    django.setup()
    load = os.getloadavg()
    print(f"# outbox relay bench on {os.cpu_count()} CPUs, load average {load[0]:.2f} at start")
    consumer = Consumer(args.exchange).start()
    phases = args.phases.split(",")
    report: dict[str, dict] = {}
    try:
        if "baseline" in phases:
            report["baseline (no DB)"] = baseline(args, consumer)
        if "throughput" in phases:
            report[f"relay throughput ({args.events} events, batch {args.batch_size})"] = (
                throughput(args, consumer)
            )
        if "inserts" in phases:
            report[f"producer insert rate ({args.seconds:.0f} s flat out)"] = inserts(args)
        if "index-ab" in phases:
            report[f"index A/B ({args.ab_rounds} rounds per side, {args.seconds:.0f} s each)"] = (
                index_ab(args)
            )
        if "lag" in phases:
            report[f"lag at {args.rate:.0f} events/s for {args.seconds:.0f} s"] = lag(
                args, consumer
            )
    finally:
        consumer.stop()
    for title, figures in report.items():
        print(f"\n## {title}")
        for key, value in figures.items():
            shown = f"{value:,.1f}" if isinstance(value, float) else value
            print(f"  {key:40s} {shown}")
    print(f"\n# load average at end {os.getloadavg()[0]:.2f} (other work shares these CPUs)")


if __name__ == "__main__":
    main()
