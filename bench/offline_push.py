"""Push latency (issue 16): from an outbox event's commit to a listening page.

Run (PostgreSQL on this machine)::

    .venv/bin/python bench/offline_push.py                     # 100 events/s for 20 s
    .venv/bin/python bench/offline_push.py --rate 100 --seconds 20 --listeners 5

What it does: creates its own database, a warehouse and a picker with a
session; starts gunicorn with threaded workers (an event stream holds a thread);
opens ``--listeners`` streams on ``/handheld/offline/events/`` (as the queue
pages do, reconnecting with ``Last-Event-ID`` when a stream ends); commits
``pick.confirmed`` outbox events at ``--rate`` per second (each its own
transaction, through ``wms.outbox.outbox_emit``, its commit time in the
aggregate id); each listener notes when each event arrives. Prints p50 / p90 /
p99 / max of commit → arrival, and checks every listener got every event once.
Target: p99 < 1 s at 100 events/s. Exits non-zero when it could not run or an
event was lost or doubled.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import picking_confirm as base  # the shared bench helpers: env, database, free port

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/wms_offline_push_bench"
EVENTS = "/handheld/offline/events/"


def _seed() -> tuple[int, str]:
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from guardian.shortcuts import assign_perm

    from inventory.models import Warehouse

    wh = Warehouse.objects.create(code="PUSH1", name="Push bench DC")
    user = get_user_model().objects.create_user(username="listener", password="bench-pw-1")
    user.groups.add(Group.objects.get(name="picker"))
    assign_perm("inventory.access_warehouse", user, wh)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return wh.pk, session.session_key


class Listener(threading.Thread):
    """One page's EventSource: arrival time per event id, reconnecting after each stream."""

    def __init__(self, port: int, cookie: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.cookie, self.stop = port, cookie, stop
        self.arrivals: dict[str, float] = {}
        self.duplicates = 0
        self.connected = threading.Event()
        self.last_id = ""

    def run(self):
        while not self.stop.is_set():
            headers = {"Cookie": f"sessionid={self.cookie}", "Accept": "text/event-stream"}
            if self.last_id:
                headers["Last-Event-ID"] = self.last_id
            conn = HTTPConnection("127.0.0.1", self.port, timeout=60)
            conn.request("GET", EVENTS, headers=headers)
            response = conn.getresponse()
            self.connected.set()
            try:
                self._read(response)
            except OSError:
                pass
            finally:
                conn.close()

    def _read(self, response):
        event_id = ""
        while not self.stop.is_set():
            line = response.readline()
            if not line:
                return
            line = line.decode().rstrip("\n")
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                json.loads(line[6:])  # a whole event arrived
                if event_id in self.arrivals:
                    self.duplicates += 1
                self.arrivals[event_id] = time.time()
                self.last_id = event_id


def _emit(warehouse_id: int, rate: float, seconds: float) -> dict[str, float]:
    """Commit one event per transaction at ``rate``: {outbox id: commit time}."""
    from django.db import transaction

    from wms.models import OutboxEvent
    from wms.outbox import outbox_emit

    committed = {}
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        with transaction.atomic():
            outbox_emit(
                event_type="pick.confirmed",
                aggregate_type="PushBench",
                aggregate_id=str(i),
                data={"warehouseId": warehouse_id},
            )
            row_id = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first()
        committed[str(row_id)] = time.time()  # just after the commit
    return committed


def _pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round(p * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--listeners", type=int, default=5)
    args = parser.parse_args()

    base._recreate_database(args.database_url)
    base._manage(args, "migrate", "-v0")
    base._django(args)
    warehouse_id, cookie = _seed()
    port = base._free_port()
    import subprocess

    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "wms.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            str(args.listeners + 4),
            "--log-level",
            "warning",
        ],
        cwd=base.ROOT,
        env=base._env(args),
    )
    stop = threading.Event()
    try:
        deadline = time.time() + 60
        while True:
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("gunicorn did not come up")
            time.sleep(0.3)
        listeners = [Listener(port, cookie, stop) for _ in range(args.listeners)]
        for listener in listeners:
            listener.start()
            listener.connected.wait(30)
        time.sleep(1.0)  # every stream has read its starting point
        committed = _emit(warehouse_id, args.rate, args.seconds)
        time.sleep(2.0)  # the last events reach the pages
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)

    problems = []
    all_latencies = []
    for n, listener in enumerate(listeners):
        got = [
            max(0.0, listener.arrivals[i] - at)
            for i, at in committed.items()
            if i in listener.arrivals
        ]
        if len(got) != len(committed) or listener.duplicates:
            problems.append(
                f"listener {n}: {len(got)} of {len(committed)} events, {listener.duplicates} twice"
            )
        all_latencies.extend(got)
    if not all_latencies:
        raise SystemExit("no event arrived")
    ms = [1000 * v for v in all_latencies]
    print(
        f"{len(committed)} events at {args.rate:g}/s to {args.listeners} listeners: commit → page "
        f"p50 {_pct(ms, 0.5):.0f} ms, p90 {_pct(ms, 0.9):.0f} ms, p99 {_pct(ms, 0.99):.0f} ms, "
        f"max {max(ms):.0f} ms (target p99 < 1000 ms: "
        f"{'met' if _pct(ms, 0.99) < 1000 else 'MISSED'})"
    )
    if problems:
        print("FAILED:", *problems, sep="\n  ")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
