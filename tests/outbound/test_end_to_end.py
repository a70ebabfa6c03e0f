"""End to end through the API with a real Celery worker on the real RabbitMQ.

The worker is ``celery -A wms worker`` in its own process on a queue of its own,
working on this test's PostgreSQL database; planning is triggered exactly as
in production (``order.accepted`` → ``transaction.on_commit`` → task), and the
backorder is re-planned by the beat's sweep task after stock is received.
"""

import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from kombu import Connection

from inventory.models import LocationType
from outbound.models import WaveReleaseMode
from tasking.models import PickTask, PickTaskStatus
from wms.celery import app as celery_app

from .conftest import order_body, post_order, subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
REDIS_CACHE = "redis://127.0.0.1:6379/5"  # this suite's own Redis database


@pytest.fixture
def shared_cache(settings):
    """The web side and the worker share the cache (coalesced planning nudges)."""
    # The prefix the worker's settings give CACHE_URL (the instance id), or the
    # two sides would not see each other's keys.
    settings.CACHES = {
        "default": {
            "BACKEND": "wms.cache.RedisCache",
            "LOCATION": REDIS_CACHE,
            "KEY_PREFIX": settings.WMS_INSTANCE_ID,
        }
    }
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def celery_worker(tmp_path, shared_cache):
    """A real worker on a queue named for this test; tasks sent here go to it."""
    queue = f"h5-outbound-e2e-{uuid.uuid4().hex[:8]}"
    conf = celery_app.conf
    saved = (conf.task_default_queue, conf.task_always_eager)
    conf.task_default_queue, conf.task_always_eager = queue, False
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "wms",
            "worker",
            "-Q",
            queue,
            "--pool",
            "solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
            "-n",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env=subprocess_env(
            CELERY_TASK_ALWAYS_EAGER="0",
            CELERY_TASK_DEFAULT_QUEUE=queue,
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            CACHE_URL=REDIS_CACHE,
            WMS_EVENT_BUS_URL="",
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log_path = log.name
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    conf.task_default_queue, conf.task_always_eager = saved
    with Connection(settings.CELERY_BROKER_URL) as connection:
        connection.default_channel.queue_delete(queue)


def _wait_for_status(client, order_id, wanted, worker, timeout=90.0):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/replenishment-orders/{order_id}").json()
        if body["status"] == wanted:
            return body
        assert worker.poll() is None, Path(worker.log_path).read_text()[-4000:]
        time.sleep(0.2)
    raise AssertionError(
        f"order {order_id} is {body and body['status']}, not {wanted}:\n"
        + Path(worker.log_path).read_text()[-4000:]
    )


def test_order_to_pick_tasks_through_a_real_worker(
    store, item, location, receive, wave_policy, celery_worker
):
    """Order → PLANNED → wave released → pick tasks with the right quantities and
    locations; short stock → BACKORDERED remainder, planned once stock is received."""
    from outbound.tasks import planning_sweep_task

    wave_policy(release_mode=WaveReleaseMode.AUTOMATIC, max_open_minutes=0)
    a, b = item("SKU-1001"), item("SKU-1002")
    face_a = location("P-01", pick_sequence=10)
    face_b = location("P-02", pick_sequence=20)
    reserve_b = location("R-02", type=LocationType.RESERVE, pick_sequence=90)
    receive(a, face_a, 100)
    receive(b, face_b, 5)
    receive(b, reserve_b, 10)

    # 1. Enough stock: planned, waved, released into pick tasks by the worker.
    response = post_order(
        store,
        order_body(
            "E2E-1",
            lines=[
                {"lineNumber": 1, "sku": "SKU-1001", "qty": "24"},
                {"lineNumber": 2, "sku": "SKU-1002", "qty": "8"},
            ],
        ),
    )
    assert response.status_code == 202, response.content
    first = response.json()["id"]
    body = _wait_for_status(store, first, "RELEASED", celery_worker)
    assert [(ln["sku"], ln["qtyAllocated"]) for ln in body["lines"]] == [
        ("SKU-1001", "24.000"),
        ("SKU-1002", "8.000"),
    ]
    tasks = [
        (t.sequence, t.from_location.code, t.item.sku, t.qty_to_pick, t.status)
        for t in PickTask.objects.filter(order_id=first).order_by("sequence")
    ]
    assert tasks == [
        (1, "P-01", "SKU-1001", Decimal("24"), PickTaskStatus.RELEASED),
        (2, "P-02", "SKU-1002", Decimal("5"), PickTaskStatus.RELEASED),
        (3, "R-02", "SKU-1002", Decimal("3"), PickTaskStatus.RELEASED),
    ]

    # 2. Short stock: 7 of SKU-1002 left, 20 asked → 7 allocated, 13 backordered.
    response = post_order(
        store, order_body("E2E-2", lines=[{"lineNumber": 1, "sku": "SKU-1002", "qty": "20"}])
    )
    second = response.json()["id"]
    body = _wait_for_status(store, second, "BACKORDERED", celery_worker)
    assert body["lines"][0]["qtyAllocated"] == "7.000"
    assert body["lines"][0]["status"] == "BACKORDERED"
    assert not PickTask.objects.filter(order_id=second).exists()

    # 3. Stock arrives; the beat's sweep (sent to the worker) re-plans the backorder.
    receive(b, reserve_b, 50)
    planning_sweep_task.delay()
    body = _wait_for_status(store, second, "RELEASED", celery_worker)
    assert body["lines"][0]["qtyAllocated"] == "20.000"
    assert sum(
        PickTask.objects.filter(order_id=second).values_list("qty_to_pick", flat=True)
    ) == Decimal("20")
    log = Path(celery_worker.log_path).read_text()
    assert "outbound.tasks.order_planning_task" in log
