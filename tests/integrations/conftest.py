"""Fixtures of the integration-backbone tests: a private exchange and queue on the
real RabbitMQ, a local webhook receiver, and relay subprocesses on the test DB."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import amqp
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
BUS_URL = os.environ.get("WMS_TEST_BUS_URL", "amqp://guest:guest@127.0.0.1:5672//")


class BusQueue:
    """An exclusive queue bound to the test exchange with ``#``: what a consumer sees."""

    def __init__(self, exchange: str):
        self.exchange = exchange
        self.connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest")
        self.connection.connect()
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
        self.queue, _, _ = self.channel.queue_declare("", exclusive=True, auto_delete=True)
        self.channel.queue_bind(self.queue, exchange=exchange, routing_key="#")
        self.messages: list[amqp.Message] = []
        self.channel.basic_consume(self.queue, callback=self.messages.append, no_ack=True)

    def drain(self, *, expect: int | None = None, timeout: float = 10.0, quiet: float = 0.3):
        """Collect messages until ``expect`` arrived (or ``quiet`` seconds of silence)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expect is not None and len(self.messages) >= expect:
                # Keep listening a little for duplicates beyond the expected count.
                wait = quiet
            else:
                wait = min(quiet if expect is None else 1.0, deadline - time.monotonic())
            try:
                self.connection.drain_events(timeout=max(wait, 0.01))
            except TimeoutError:
                if expect is None or len(self.messages) >= expect:
                    break
        return self.messages

    def bodies(self) -> list[dict]:
        return [json.loads(m.body) for m in self.messages]

    def close(self):
        try:
            self.channel.exchange_delete(self.exchange)
        finally:
            self.connection.collect()


@pytest.fixture
def bus_exchange(settings):
    """A private topic exchange for this test; settings point the relay at it."""
    name = f"h2.test.events.{uuid.uuid4().hex[:8]}"
    settings.WMS_EVENT_BUS_URL = BUS_URL
    settings.WMS_EVENT_EXCHANGE = name
    return name


@pytest.fixture
def bus_queue(bus_exchange):
    queue = BusQueue(bus_exchange)
    yield queue
    queue.close()


# --- relay subprocesses --------------------------------------------------------------


def subprocess_env(**extra) -> dict:
    """Environment of a ``manage.py`` child running against this test's database."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        SECRET_KEY=settings.SECRET_KEY,
        WMS_EVENT_BUS_URL=settings.WMS_EVENT_BUS_URL,
        WMS_EVENT_EXCHANGE=settings.WMS_EVENT_EXCHANGE,
        WMS_INSTANCE_ID=settings.WMS_INSTANCE_ID,
        CELERY_TASK_ALWAYS_EAGER="1",
        DB_CONN_MAX_AGE="0",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def relay_process(tmp_path):
    """``relay_process(*args, script=None, **env)`` starts ``manage.py outbox_relay``."""
    started: list[subprocess.Popen] = []

    def start(*args, script: str | None = None, **env):
        log = open(tmp_path / f"relay-{len(started)}.log", "wb")  # noqa: SIM115
        command = [sys.executable, script] if script else [sys.executable, "manage.py"]
        command += ["outbox_relay", "--poll-interval", "0.05", *args]
        process = subprocess.Popen(
            command, cwd=ROOT, env=subprocess_env(**env), stdout=log, stderr=subprocess.STDOUT
        )
        process.log_path = log.name
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# --- webhook receiver ----------------------------------------------------------------


class Receiver:
    """A local HTTP endpoint on 127.0.0.1 that records requests and answers as told."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[int] = []  # status codes to answer in turn; then 200
        self.delay = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    status = receiver.answers.pop(0) if receiver.answers else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()
