"""Celery does not lose work: late acks, requeue on a lost worker, prefetch 1, one beat
schedule naming real, idempotent tasks."""

import signal
import subprocess
import sys
import time
import uuid

import pytest

from integrations.models import DeliveryStatus, WebhookDelivery
from integrations.tasks import webhook_deliver_task
from integrations.webhooks import delivery_enqueue
from tests.factories import ExternalSystemFactory
from wms.celery import app as celery_app

from .conftest import ROOT, subprocess_env


def test_celery_configured_not_to_lose_work():
    """Ack after the task ran, requeue when the worker dies, one message at a time."""
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is True
    assert celery_app.conf.worker_prefetch_multiplier == 1
    assert celery_app.conf.task_serializer == "json"


def test_celery_beat_schedule_names_registered_tasks():
    """The one beat schedule lists the backbone's periodic tasks, and each exists."""
    celery_app.loader.import_default_modules()
    names = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    for name in (
        "integrations.tasks.outbox_relay_task",
        "integrations.tasks.webhook_deliver_due_task",
        "wms.tasks.idempotency_purge_task",
    ):
        assert name in names
        assert name in celery_app.tasks


@pytest.mark.django_db
def test_webhook_deliver_task_is_idempotent(receiver, settings):
    """Running the delivery task again for a delivered delivery sends nothing."""
    settings.WMS_WEBHOOK_KICK_WORKER = False
    system = ExternalSystemFactory(code="AUTO1", type="automation", endpoint_url=receiver.url)
    delivery = delivery_enqueue(system=system, body={"n": 1}, idempotency_key="once")
    webhook_deliver_task.delay(delivery.pk)
    webhook_deliver_task.delay(delivery.pk)
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)


def _worker(queue: str, log_path) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "wms", "worker",
            "--pool", "solo", "-Q", queue, "-l", "info",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ],
        cwd=ROOT,
        env=subprocess_env(CELERY_TASK_ALWAYS_EAGER="0"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_celery_task_survives_worker_sigkill(receiver, settings, tmp_path):
    """A worker SIGKILLed in the middle of a task loses nothing: the broker redelivers the
    unacked message to the next worker, which completes it (the receiver sees the same
    delivery twice, with the same Idempotency-Key)."""
    settings.WMS_WEBHOOK_KICK_WORKER = False
    system = ExternalSystemFactory(code="AUTO1", type="automation", endpoint_url=receiver.url)
    delivery = delivery_enqueue(system=system, body={"n": 1}, idempotency_key="survivor")
    queue = f"h2_test_kill_{uuid.uuid4().hex[:8]}"
    receiver.delay = 4.0  # the first call hangs: the worker is mid-task when killed
    workers = []
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        workers.append(_worker(queue, tmp_path / "worker-1.log"))
        webhook_deliver_task.apply_async(args=[delivery.pk], queue=queue)
        deadline = time.monotonic() + 60
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.requests, (tmp_path / "worker-1.log").read_text()
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING  # the attempt never finished

        receiver.delay = 0.0
        workers.append(_worker(queue, tmp_path / "worker-2.log"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            if delivery.status == DeliveryStatus.DELIVERED:
                break
            time.sleep(0.1)
        assert delivery.status == DeliveryStatus.DELIVERED, (tmp_path / "worker-2.log").read_text()
        assert delivery.attempts == 1
        assert [r["headers"]["Idempotency-Key"] for r in receiver.requests] == ["survivor"] * 2
    finally:
        celery_app.conf.task_always_eager = was_eager
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
    assert WebhookDelivery.objects.count() == 1
