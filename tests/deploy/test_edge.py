"""The nginx edge of scripts/cells, with stand-in upstreams: routing, unknown instances, limits."""

import json
import os
import shutil
import signal
import threading
import time
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ops.cells import edge_up, free_port

pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="nginx is not installed (apt-get install nginx-light)",
)


def _upstream(name: str) -> ThreadingHTTPServer:
    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(
                {"instance": name, "path": self.path, "header": self.headers["X-WMS-Instance"]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def edge(tmp_path):
    upstreams = {name: _upstream(name) for name in ("cell-a", "cell-b")}
    state = {
        "dir": str(tmp_path),
        "edge_port": free_port(),
        "cells": [
            {"name": name, "port": server.server_address[1], "edge_rate": "5r/s", "edge_burst": 2}
            for name, server in upstreams.items()
        ],
    }
    edge_up(state)
    yield state["edge_port"]
    pid = int((tmp_path / "edge" / "nginx.pid").read_text())
    os.kill(pid, signal.SIGQUIT)
    for server in upstreams.values():
        server.shutdown()


def _get(port, path, host=None):
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Host": host} if host else {})
    response = conn.getresponse()
    return response.status, response.getheader("Content-Type"), json.loads(response.read())


def test_edge_routes_by_path_prefix_and_by_host(edge):
    """/i/<name>/… reaches that cell without the prefix; <name>.cells.localhost too."""
    status, _, body = _get(edge, "/i/cell-b/api/v1/orders?x=1")
    assert status == 200
    assert body == {"instance": "cell-b", "path": "/api/v1/orders?x=1", "header": "cell-b"}
    time.sleep(0.5)
    _, _, body = _get(edge, "/readyz", host="cell-a.cells.localhost")
    assert body == {"instance": "cell-a", "path": "/readyz", "header": "cell-a"}


@pytest.mark.parametrize(
    ("path", "host"),
    [("/i/cell-c/readyz", None), ("/readyz", None), ("/readyz", "cell-c.cells.localhost")],
)
def test_edge_unknown_instance_is_a_404_problem_never_a_default(edge, path, host):
    """An instance the edge does not know: 404 application/problem+json, code unknown_instance."""
    status, content_type, body = _get(edge, path, host)
    assert (status, content_type) == (404, "application/problem+json")
    assert body["code"] == "unknown_instance" and body["status"] == 404


def test_edge_limits_each_cell_on_its_own(edge):
    """A burst on cell-a is answered 429 (problem details) while cell-b still answers."""
    statuses = [_get(edge, "/i/cell-a/x")[0] for _ in range(12)]
    assert statuses.count(429) >= 5
    status, content_type, body = _get(edge, "/i/cell-a/x")
    assert (status, content_type, body["code"]) == (429, "application/problem+json", "rate_limited")
    assert _get(edge, "/i/cell-b/x")[0] == 200
