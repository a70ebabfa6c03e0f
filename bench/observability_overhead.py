"""Cost of logging, metrics and tracing on order intake: everything on beside everything
off, same run. Target: on is at most 10% slower.

Run (PostgreSQL, Redis and RabbitMQ on this machine)::

    .venv/bin/python bench/observability_overhead.py
    .venv/bin/python bench/observability_overhead.py --orders 2000 --rounds 3

It reuses ``bench/intake.py`` (database, seed, gunicorn, load processes) and starts
two gunicorn servers on the same database:

* **on**: production's observability: a JSON log line per request (``LOG_LEVEL=INFO``,
  to a file), django-prometheus's request metrics and the business metrics of
  ``wms.metrics``, and OpenTelemetry tracing (Django, psycopg, requests, Celery)
  exported over OTLP/HTTP to a stand-in collector in this process that accepts
  and counts the batches;
* **off**: ``bench/observability_off.py``: the same product without the request
  metrics and with the business metrics recording nothing, ``LOG_LEVEL=WARNING``
  (no request lines) and no OTLP endpoint (tracing not even imported).

Rounds run off then on, or on then off (alternately, so that a machine speeding up
or slowing down favours neither), each side sending ``--orders`` orders through the
same load processes. Prints orders/s, p50/p99 and the gunicorn processes' CPU time
per order per side (median of rounds), and how much slower "on" is: the median of
each round's own on/off ratio (the target's figure), beside the ratio of the
medians. Exits non-zero when it could not run: a server did not start, orders were
refused, or the "on" side produced no spans, log lines or counts (then it measured
nothing).

Caveat: a 2-core machine shared with other engineers; both servers, PostgreSQL,
the load and the stand-in collector share the cores. Compare the two sides of one
run, not runs on different days.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import uuid
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake  # bench/intake.py: the machinery

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_telemetry_bench"
PORTS = {"off": intake.free_port(), "on": intake.free_port()}
INTAKE = "/api/v1/replenishment-orders"
TARGET = 0.10


class _Collector(BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP collector: accepts POST /v1/traces, counts batches and bytes.

    HTTP/1.1 with keep-alive, as a real collector: with http.server's default (1.0, a
    connection closed after every answer) each export of each worker opened a new TCP
    connection (``create_connection`` was 0.06-0.08 ms of the "on" side's CPU per
    order in a py-spy profile), a cost production does not have."""

    protocol_version = "HTTP/1.1"
    batches = 0
    received = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).batches += 1
        type(self).received += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


def _collector_start() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _servers(args, collector_port: int, log_dir: Path) -> dict:
    on_log = open(log_dir / "on.log", "w")  # noqa: SIM115  (closed with the process)
    off_log = open(log_dir / "off.log", "w")  # noqa: SIM115
    return {
        "off": intake.gunicorn_start(
            args,
            port=PORTS["off"],
            app="observability_off:application",
            stderr=off_log,
            LOG_LEVEL="WARNING",
            OTEL_EXPORTER_OTLP_ENDPOINT="",
        ),
        "on": intake.gunicorn_start(
            args,
            port=PORTS["on"],
            stderr=on_log,
            LOG_LEVEL="INFO",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector_port}",
            # The batch processor's defaults, as production runs it (5 s, 512 spans).
        ),
    }


def _accepted_counted(port: int) -> float:
    """The sum of wms_orders_accepted_total that one scrape of the "on" server shows."""
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    total = 0.0
    for line in conn.getresponse().read().decode().splitlines():
        if line.startswith("wms_orders_accepted_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a gunicorn master and its workers so far."""
    total = 0.0
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()  # noqa: SIM115
    except OSError:
        children = []
    for process in [pid, *map(int, children)]:
        try:
            fields = open(f"/proc/{process}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _measure(args, tokens, servers) -> list[tuple[str, dict]]:
    for port in PORTS.values():  # warm-up: every worker connects, imports, caches
        warm = type(args)(**{**vars(args), "orders": 200})
        intake._run_load(INTAKE, tokens, warm, offset=10_000_000 + port, port=port)
    rows, offset = [], 0
    for round_number in range(1, args.rounds + 1):
        # Off first in odd rounds, on first in even ones: a machine that speeds up or
        # slows down during the run favours neither side.
        for side in ("off", "on") if round_number % 2 else ("on", "off"):
            cpu = _tree_cpu_seconds(servers[side].pid)
            result = intake._run_load(INTAKE, tokens, args, offset, port=PORTS[side])
            result["cpu_ms"] = 1000 * (_tree_cpu_seconds(servers[side].pid) - cpu) / args.orders
            offset += args.orders
            rows.append((side, result))
            print(
                f"round {round_number} {side:3s}: {result['rate']:7.1f} orders/s  "
                f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
                f"gunicorn CPU {result['cpu_ms']:.2f} ms/order  statuses {result['statuses']}",
                flush=True,
            )
    return rows


def _report(args, rows, log_dir: Path, counted: float) -> int:
    """Print the figures; the exit status (1 if the run proved nothing)."""
    med = {
        side: {
            k: statistics.median(r[k] for s, r in rows if s == side)
            for k in ("rate", "p50_ms", "p99_ms", "cpu_ms")
        }
        for side in PORTS
    }
    # Each round's on beside the same round's off: drift between rounds cancels out.
    rates = {side: [r["rate"] for s, r in rows if s == side] for side in PORTS}
    round_slower = statistics.median(
        1 - on / off for off, on in zip(rates["off"], rates["on"], strict=True)
    )
    refused = sum(n for _s, r in rows for st, n in r["statuses"].items() if st != 202)
    log_lines = sum(1 for _ in open(log_dir / "on.log"))  # noqa: SIM115
    slower = round_slower
    print()
    print(
        f"orders of {args.lines} lines, {args.workers} gunicorn {args.worker_class} workers per "
        f"side, {args.concurrency} concurrent clients, {args.rounds} rounds per side"
    )
    for side in ("off", "on"):
        m = med[side]
        print(
            f"{side:3s}: {m['rate']:7.1f} orders/s  p50 {m['p50_ms']:.1f} ms  "
            f"p99 {m['p99_ms']:.1f} ms  gunicorn CPU {m['cpu_ms']:.2f} ms/order (median of rounds)"
        )
    print(
        f"on side produced: {log_lines} log lines, {_Collector.batches} OTLP batches "
        f"({_Collector.received / 1e6:.1f} MB of spans), {counted:.0f} orders counted by the "
        "worker that answered the scrape"
    )
    verdict = "met" if slower <= TARGET else "NOT met on this run"
    print(
        f"medians of the rounds: on {100 * (1 - med['on']['rate'] / med['off']['rate']):.1f}% "
        f"slower, gunicorn CPU per order +{med['on']['cpu_ms'] - med['off']['cpu_ms']:.2f} ms"
    )
    print(
        f"on is {100 * slower:.1f}% slower than off, median of the rounds' own ratios "
        f"(target ≤ {100 * TARGET:.0f}%): {verdict}"
    )
    if refused or not (log_lines and _Collector.batches and counted):
        print(f"could not measure: {refused} orders refused, or the on side produced nothing")
        return 1
    return 0


def main() -> int:
    parser = intake.arguments(__doc__.split("\n")[0], database_url=DEFAULT_DB)
    parser.set_defaults(orders=1500, rounds=3)
    args = parser.parse_args()
    args.queue = f"telemetry-bench-{uuid.uuid4().hex[:8]}"
    tokens = intake.prepare(args)
    collector = _collector_start()
    with tempfile.TemporaryDirectory(prefix="wms-obs-bench-") as tmp:
        servers = _servers(args, collector.server_address[1], Path(tmp))
        try:
            for port in PORTS.values():
                intake.wait_until_up(port)
            rows = _measure(args, tokens, servers)
            counted = _accepted_counted(PORTS["on"])
        finally:
            for server in servers.values():
                server.terminate()
            for server in servers.values():
                server.wait(timeout=30)  # the "on" side flushes its last spans on exit
            intake.queue_delete(args)
            collector.shutdown()
        return _report(args, rows, Path(tmp), counted)


if __name__ == "__main__":
    sys.exit(main())
