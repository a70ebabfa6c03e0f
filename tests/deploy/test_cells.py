"""Two instance cells on one machine behind the nginx edge (scripts/cells): routing and isolation.

Slow: starts two embedded PostgreSQL servers, two RabbitMQ vhosts, two sets of
gunicorn + worker + beat + relay and nginx. CELLS_DIR reuses cells already up
(``scripts/cells up --dir DIR``) instead.
"""

import json
import os
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from http.client import HTTPConnection
from pathlib import Path

import pytest

from ops.cells import sample_order

ROOT = Path(__file__).resolve().parents[2]
NORMAL_RATE = 4.0  # orders/s a store sends B, and A outside its flood
FLOOD_FACTOR = 10
SAMPLES = 20  # per window
ROUNDS = 3  # quiet and flooded windows, alternating

pytestmark = pytest.mark.slow


def _needs(tool: str) -> None:
    if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
        pytest.skip(f"{tool} is not installed (apt-get install nginx-light / rabbitmq-server)")


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    if os.environ.get("CELLS_DIR"):
        yield json.loads((Path(os.environ["CELLS_DIR"]) / "cells.json").read_text())
        return
    _needs("nginx")
    _needs("rabbitmqctl")
    directory = tmp_path_factory.mktemp("cells")
    command = [str(ROOT / "scripts" / "cells")]
    # The edge admits twice a store's normal rate per cell; the app's store limit is above it.
    limits = ["--edge-rate", f"{int(2 * NORMAL_RATE)}r/s", "--edge-burst", "4"]
    subprocess.run(
        [
            *(*command, "up", "--dir", str(directory), *limits, "--store-rate", "50/second"),
            # Names of this run only: vhosts and worker node names another run cannot share.
            *("--names", f"t-a-{uuid.uuid4().hex[:6]},t-b-{uuid.uuid4().hex[:6]}"),
        ],
        check=True,
        timeout=1800,
    )
    try:
        yield json.loads((directory / "cells.json").read_text())
    finally:
        subprocess.run([*command, "down", "--dir", str(directory)], timeout=300)


def _request(port, method, path, *, body=None, headers=None, conn=None):
    conn = conn or HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.getheader("Content-Type"), response.read()


def _intake_latencies(port: int, cell: dict, count: int, rate: float) -> tuple[list, dict]:
    """Send ``count`` orders at ``rate``/s through the edge; latencies (s) of the 202s, statuses."""
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, statuses = [], {}
    start = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        body, headers = sample_order(cell["tokens"]["S001"], "S001")
        sent = time.monotonic()
        status, _, _ = _request(
            port, "POST", f"/i/{cell['name']}/api/v1/replenishment-orders",
            body=body, headers=headers, conn=conn,
        )  # fmt: skip
        statuses[status] = statuses.get(status, 0) + 1
        if status == 202:
            latencies.append(time.monotonic() - sent)
    return latencies, statuses


def _flood(port: int, cell: dict, rate: float, stop: threading.Event, statuses: dict) -> None:
    def sender(offset):
        conn = HTTPConnection("127.0.0.1", port, timeout=30)
        start, n = time.monotonic(), 0
        while not stop.is_set():
            time.sleep(max(0.0, start + (n + offset / 4) / (rate / 4) - time.monotonic()))
            body, headers = sample_order(cell["tokens"]["S002"], "S002")
            try:
                status, _, _ = _request(
                    port, "POST", f"/i/{cell['name']}/api/v1/replenishment-orders",
                    body=body, headers=headers, conn=conn,
                )  # fmt: skip
            except OSError:
                conn = HTTPConnection("127.0.0.1", port, timeout=30)
                status = "error"
            statuses[status] = statuses.get(status, 0) + 1
            n += 1

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()


def test_cells_edge_routes_by_path_and_host_and_refuses_unknown_instances(cells):
    """/i/<name>/ and <name>.cells.localhost reach that cell; an unknown one is a 404 problem."""
    port = cells["edge_port"]
    for cell in cells["cells"]:
        status, _, body = _request(port, "GET", f"/i/{cell['name']}/healthz")
        assert (status, json.loads(body)["instanceId"]) == (200, cell["name"])
        host = {"Host": f"{cell['name']}.cells.localhost"}
        status, _, body = _request(port, "GET", "/readyz", headers=host)
        assert (status, json.loads(body)["instanceId"]) == (200, cell["name"])
    for path, headers in [
        ("/i/cell-zz/healthz", {}),
        ("/healthz", {}),
        ("/readyz", {"Host": "cell-zz.cells.localhost"}),
    ]:
        status, content_type, body = _request(port, "GET", path, headers=headers)
        assert status == 404
        assert content_type == "application/problem+json"
        assert json.loads(body)["code"] == "unknown_instance"


def test_cells_token_of_one_cell_is_unknown_in_the_other(cells):
    """Each cell has its own database: A's store token is refused by B."""
    cell_a, cell_b = cells["cells"][:2]
    body, headers = sample_order(cell_a["tokens"]["S001"], "S001")
    status, _, _ = _request(
        cells["edge_port"], "POST", f"/i/{cell_b['name']}/api/v1/replenishment-orders",
        body=body, headers=headers,
    )  # fmt: skip
    assert status == 401


def test_cells_flood_of_a_is_refused_while_b_accepts_everything(cells):
    """A at 10x the normal rate answers mostly 429s; B accepts every order meanwhile.

    B's intake medians, quiet and while A is flooded, are printed (quiet and
    flooded windows alternate, so a neighbour's load weighs on both alike); the
    20% target is a figure to read, not a timed assertion (timing belongs to
    benchmarks, not to tests that must not flake on a loaded machine).
    """
    port = cells["edge_port"]
    cell_a, cell_b = cells["cells"][:2]
    _intake_latencies(port, cell_b, 10, NORMAL_RATE)  # warm B's connections and caches
    quiet, flooded, flood_statuses, b_statuses = [], [], {}, {}
    for _round in range(ROUNDS):
        latencies, _ = _intake_latencies(port, cell_b, SAMPLES, NORMAL_RATE)
        quiet.extend(latencies)
        stop = threading.Event()
        flood = threading.Thread(
            target=_flood, args=(port, cell_a, FLOOD_FACTOR * NORMAL_RATE, stop, flood_statuses)
        )
        flood.start()
        try:
            time.sleep(1)
            latencies, statuses = _intake_latencies(port, cell_b, SAMPLES, NORMAL_RATE)
        finally:
            stop.set()
            flood.join()
        flooded.extend(latencies)
        for status, count in statuses.items():
            b_statuses[status] = b_statuses.get(status, 0) + count
    calm, during = statistics.median(quiet), statistics.median(flooded)
    print(
        f"B intake median quiet {1000 * calm:.1f} ms, while A flooded {1000 * during:.1f} ms "
        f"({during / calm:.2f}x; p90 {1000 * statistics.quantiles(quiet, n=10)[-1]:.1f} / "
        f"{1000 * statistics.quantiles(flooded, n=10)[-1]:.1f} ms); "
        f"A's answers {flood_statuses}; B's {b_statuses}"
    )
    assert flood_statuses.get(429, 0) > flood_statuses.get(202, 0), flood_statuses
    assert b_statuses == {202: ROUNDS * SAMPLES}, b_statuses


def test_cells_stopping_a_database_leaves_b_ready(cells):
    """A's PostgreSQL stopped: A's /readyz is 503, B's /readyz answers as before."""
    port = cells["edge_port"]
    cell_a, cell_b = cells["cells"][:2]
    before = _request(port, "GET", f"/i/{cell_b['name']}/readyz")
    command = [str(ROOT / "scripts" / "cells"), "--dir", cells["dir"]]
    subprocess.run([*command, "stop-db", cell_a["name"]], check=True, timeout=120)
    try:
        status_a, _, body_a = _request(port, "GET", f"/i/{cell_a['name']}/readyz")
        after = _request(port, "GET", f"/i/{cell_b['name']}/readyz")
    finally:
        subprocess.run([*command, "start-db", cell_a["name"]], timeout=300)
    assert status_a == 503
    assert json.loads(body_a)["checks"]["database"].startswith("database unreachable")
    assert before[0] == 200, before
    assert after[0] == 200, after
    assert json.loads(after[2]) == json.loads(before[2])
