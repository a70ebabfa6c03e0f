"""Instance isolation: two cells behind the edge; B's latencies while A is flooded.

Run (nginx, RabbitMQ and Redis on this machine; the cells' PostgreSQL servers are
embedded, started by scripts/cells)::

    .venv/bin/python bench/cells_isolation.py
    .venv/bin/python bench/cells_isolation.py --rounds 5 --samples 30

What it does:

1. ``scripts/cells up`` in a temporary directory: cells A and B, each with its
   own PostgreSQL, RabbitMQ vhost, Redis database, gunicorn, worker, beat and
   relay, behind nginx with a rate limit per cell;
2. seeds B (in B's own environment) with bench/picking_confirm.py's automation
   warehouse: stock, orders taken through intake, planning, wave release and
   dispatch, so B has pick tasks for an automation system to confirm;
3. alternates quiet and flooded windows (so a neighbour's load on the machine
   weighs on both alike): in each, B receives store orders (intake, 202) and
   automation pick confirmations (200) at the normal rate through the edge;
   in a flooded window A receives store orders at ten times that rate;
4. stops A's database and reads B's ``/readyz`` before and after;
5. prints B's intake and pick-confirmation p50 / p90, quiet and flooded, the
   ratio (target: within 20%, i.e. <= 1.20x), A's and B's answers, and checks
   that B answered every request (a 429 or an error for B is an isolation
   failure, printed and exit 1).

Caveat: the two cells, nginx, the broker and this load generator share the
machine's cores (2 here, with other engineers' runs): a flood of A costs CPU
that B's processes then lack. The edge refuses most of A's flood before it
reaches A's processes, which is what keeps B's figures near its quiet ones.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ops import cells as cells_ops  # noqa: E402

NORMAL_RATE = 4.0  # per second: a store's orders, and an automation system's confirmations
FLOOD_FACTOR = 10

SEED_B = r"""
import json, sys
sys.path.insert(0, "bench")
import picking_confirm
print("SEED=" + json.dumps(picking_confirm._seed({tasks})))
"""


UNEXPECTED: dict[int, str] = {}  # the first body of each unexpected status, to print


def _request(
    conn: HTTPConnection, method: str, path: str, body: bytes, headers: dict, *, flood=False
) -> int:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    content = response.read()
    if response.status not in (200, 202) and not flood:
        UNEXPECTED.setdefault(response.status, content.decode(errors="replace")[:300])
    return response.status


def _paced(rate: float, count: int, send) -> list[tuple[float, int]]:
    """``send()`` ``count`` times at ``rate``/s (open loop); [(latency s, status)]."""
    samples = []
    start = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        sent = time.monotonic()
        try:
            status = send()
        except OSError:
            status = 0
        samples.append((time.monotonic() - sent, status))
    return samples


class CellB:
    """B's two clients: a store sending orders, an automation system confirming picks."""

    def __init__(self, port: int, cell: dict, seed: dict):
        self.port, self.name = port, cell["name"]
        # S002: the seed below makes S001 a store of its own warehouse PICK1 as well.
        self.store_token = cell["tokens"]["S002"]
        self.robot_token = seed["token"]
        self.tasks = list(seed["tasks"])
        random.Random(7).shuffle(self.tasks)

    def intake(self, conn: HTTPConnection) -> int:
        body, headers = cells_ops.sample_order(self.store_token, "S002")
        return _request(conn, "POST", f"/i/{self.name}/api/v1/replenishment-orders", body, headers)

    def confirm(self, conn: HTTPConnection) -> int:
        task_id, qty, location = self.tasks.pop()
        body = json.dumps(
            {
                "pickTaskId": task_id,
                "qtyPicked": qty,
                "fromLocation": location,
                "correlationId": f"iso-{task_id[-8:]}",
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Token {self.robot_token}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        path = f"/i/{self.name}/api/v1/automation/pick-confirmations"
        return _request(conn, "POST", path, body, headers)

    def window(self, samples: int) -> dict[str, list[tuple[float, int]]]:
        """Intake and confirmations side by side, each at the normal rate."""
        out: dict[str, list] = {}

        def run(kind: str, send) -> None:
            conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
            out[kind] = _paced(NORMAL_RATE, samples, lambda: send(conn))
            conn.close()

        threads = [
            threading.Thread(target=run, args=("intake", self.intake)),
            threading.Thread(target=run, args=("confirm", self.confirm)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return out


def _flood(port: int, cell: dict, stop: threading.Event, statuses: dict) -> None:
    """A's store sends orders at ten times the normal rate, from four connections."""
    rate = FLOOD_FACTOR * NORMAL_RATE

    def sender(offset: int) -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=30)
        start, n = time.monotonic(), 0
        while not stop.is_set():
            time.sleep(max(0.0, start + (n + offset / 4) / (rate / 4) - time.monotonic()))
            body, headers = cells_ops.sample_order(cell["tokens"]["S002"], "S002")
            try:
                path = f"/i/{cell['name']}/api/v1/replenishment-orders"
                status = _request(conn, "POST", path, body, headers, flood=True)
            except OSError:
                conn = HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            statuses[status] = statuses.get(status, 0) + 1
            n += 1

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()


def _readyz(port: int, name: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/i/{name}/readyz", timeout=10) as r:
            return r.status, json.loads(r.read()).get("status", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()[:80]


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="quiet + flooded window pairs")
    parser.add_argument("--samples", type=int, default=20, help="requests per kind and window")
    parser.add_argument("--keep", action="store_true", help="leave the cells up at the end")
    args = parser.parse_args()
    confirmations_needed = (2 * args.rounds + 1) * args.samples
    directory = Path(tempfile.mkdtemp(prefix="wms-cells-bench-"))
    run = uuid.uuid4().hex[:6]
    command = [str(ROOT / "scripts" / "cells")]
    # The edge admits four times a client's normal rate per cell: B sends two kinds at
    # the normal rate each, twice below the limit; A's flood is ten times the normal
    # rate, more than half of it refused there.
    limits = ["--edge-rate", f"{int(4 * NORMAL_RATE)}r/s", "--edge-burst", "8"]
    print(f"starting two cells in {directory} ...", flush=True)
    started = subprocess.run(
        [
            *(*command, "up", "--dir", str(directory), *limits, "--store-rate", "100/second"),
            *("--names", f"iso-a-{run},iso-b-{run}"),  # vhosts and node names of this run only
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if started.returncode != 0:
        print(started.stdout[-2000:], started.stderr[-2000:], sep="\n")
        print("could not start the cells (see above)", file=sys.stderr)
        return 2
    state = cells_ops.load_state(str(directory))
    port = state["edge_port"]
    cell_a, cell_b = state["cells"][:2]
    try:
        began = time.monotonic()
        seeded = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SEED_B.format(tasks=confirmations_needed)],
            cwd=ROOT,
            env=cells_ops.cell_env(cell_b),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        line = next((x for x in seeded.stdout.splitlines() if x.startswith("SEED=")), None)
        if seeded.returncode != 0 or line is None:
            print(seeded.stdout[-2000:], seeded.stderr[-3000:], sep="\n")
            print("could not seed cell B (see above)", file=sys.stderr)
            return 2
        seed = json.loads(line.removeprefix("SEED="))
        if len(seed["tasks"]) < confirmations_needed:
            print(f"only {len(seed['tasks'])} tasks dispatched in B, {confirmations_needed} needed")
            return 2
        print(
            f"seeded B with {len(seed['tasks'])} dispatched pick tasks "
            f"in {time.monotonic() - began:.0f} s",
            flush=True,
        )
        b = CellB(port, cell_b, seed)
        b.window(args.samples)  # warm B's workers, connections and caches
        quiet: dict[str, list] = {"intake": [], "confirm": []}
        flooded: dict[str, list] = {"intake": [], "confirm": []}
        flood_statuses: dict = {}
        for _round in range(args.rounds):
            for kind, samples in b.window(args.samples).items():
                quiet[kind].extend(samples)
            stop = threading.Event()
            flood = threading.Thread(target=_flood, args=(port, cell_a, stop, flood_statuses))
            flood.start()
            try:
                time.sleep(1)  # the flood is on before B's window starts
                for kind, samples in b.window(args.samples).items():
                    flooded[kind].extend(samples)
            finally:
                stop.set()
                flood.join()

        ready_before = _readyz(port, cell_b["name"])
        cells_ops.database_stop(cell_a)
        try:
            time.sleep(2)
            ready_a = _readyz(port, cell_a["name"])
            ready_after = _readyz(port, cell_b["name"])
        finally:
            cells_ops.database_start(cell_a)
    finally:
        if not args.keep:
            subprocess.run([*command, "down", "--dir", str(directory)], timeout=300)

    print()
    print(f"{os.cpu_count()} CPUs shared by both cells, nginx, the broker and the load; ")
    print(f"{args.rounds} quiet and {args.rounds} flooded windows, {args.samples} requests each")
    failures = []
    expected = {"intake": 202, "confirm": 200}
    for kind, label in (("intake", "order intake"), ("confirm", "pick confirmation")):
        answers: dict = {}
        for _latency, status in quiet[kind] + flooded[kind]:
            answers[status] = answers.get(status, 0) + 1
        calm = [s for s, status in quiet[kind] if status == expected[kind]]
        during = [s for s, status in flooded[kind] if status == expected[kind]]
        if not calm or not during:
            failures.append(f"B's {label}: no successful answers {answers}")
            continue
        ratio = statistics.median(during) / statistics.median(calm)
        print(
            f"B {label:<17}: p50 quiet {1000 * statistics.median(calm):6.1f} ms, "
            f"A flooded {1000 * statistics.median(during):6.1f} ms ({ratio:.2f}x); "
            f"p90 {1000 * _pct(calm, 90):6.1f} / {1000 * _pct(during, 90):6.1f} ms; "
            f"answers {answers}"
        )
        print(f"  target within 20% of quiet: {'met' if ratio <= 1.2 else 'NOT met'} on this run")
        if set(answers) != {expected[kind]}:
            failures.append(f"B's {label} got answers other than {expected[kind]}: {answers}")
    refused = flood_statuses.get(429, 0)
    print(f"A under a {FLOOD_FACTOR}x flood answered {flood_statuses} ({refused} refused, 429)")
    print(f"B /readyz with A's database up: {ready_before}; A stopped: {ready_after}")
    print(f"A /readyz with its database stopped: {ready_a}")
    if ready_after[0] != 200 or ready_after != ready_before:
        failures.append(f"B's readiness changed when A's database stopped: {ready_after}")
    if refused <= flood_statuses.get(202, 0):
        failures.append(f"A's flood was mostly accepted: {flood_statuses}")
    for status, body in UNEXPECTED.items():
        print(f"first {status} answer: {body}")
    for failure in failures:
        print("ISOLATION FAILURE:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
