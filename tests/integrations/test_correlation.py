"""One correlation id from the request into events, the bus, webhooks, Celery tasks and logs."""

import json
import logging
import uuid

import pytest
from celery import shared_task
from celery.contrib.testing.worker import start_worker
from django.db import transaction

from integrations.models import IntegrationMessage
from integrations.relay import outbox_relay_run
from integrations.webhooks import deliveries_deliver_due, webhook_subscription_create
from wms.celery import app as celery_app
from wms.correlation import (
    CorrelationIdLogFilter,
    get_correlation_id,
    reset_correlation_id,
    set_correlation_id,
)
from wms.models import OutboxEvent

_seen: dict[str, str] = {}


@shared_task(name="tests.integrations.record_correlation_task")
def record_correlation_task(marker: str) -> None:
    """Test-only: remember the correlation id the task runs under, and what a log line shows."""
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "msg", None, None)
    CorrelationIdLogFilter().filter(record)
    _seen[marker] = f"{get_correlation_id()}|{record.correlation_id}"


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.wms.test_idempotency")
def test_correlation_id_from_request_to_event_bus_and_webhook(
    system_client, warehouse, bus_queue, receiver, settings
):
    """X-Correlation-ID of a request is echoed, stored on its event, sent as the AMQP
    correlation_id and envelope field, and as the webhook's X-Correlation-ID header."""
    settings.WMS_WEBHOOK_KICK_WORKER = False
    client = system_client("store", "S042", [warehouse])
    webhook_subscription_create(system=client.system, url=receiver.url, event_types=["*"])
    response = client.post(
        "/test-idempotent/things",
        {"name": "corr"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-corr",
        HTTP_X_CORRELATION_ID="corr-e2e-42",
    )
    assert response.status_code == 201
    assert response["X-Correlation-ID"] == "corr-e2e-42"
    assert OutboxEvent.objects.get().correlation_id == "corr-e2e-42"
    assert IntegrationMessage.objects.get().correlation_id == "corr-e2e-42"

    assert outbox_relay_run(until_idle=True) == 1
    (message,) = bus_queue.drain(expect=1)
    assert message.properties["correlation_id"] == "corr-e2e-42"
    assert json.loads(message.body)["correlationId"] == "corr-e2e-42"

    deliveries_deliver_due()
    assert receiver.requests[0]["headers"]["X-Correlation-ID"] == "corr-e2e-42"
    outbound = IntegrationMessage.objects.filter(direction="OUTBOUND").get()
    assert outbound.correlation_id == "corr-e2e-42"


@pytest.mark.broker
@pytest.mark.slow
def test_correlation_id_travels_into_celery_tasks_through_the_broker():
    """A task published under a correlation id runs under it in a real worker (RabbitMQ
    round trip: the id travels in a message header), and its log lines show it."""
    queue = f"h2_test_corr_{uuid.uuid4().hex[:8]}"
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, queues=[queue], loglevel="warning"
        ):
            token = set_correlation_id("corr-celery-7")
            try:
                record_correlation_task.apply_async(args=["first"], queue=queue)
            finally:
                reset_correlation_id(token)
            token = set_correlation_id("corr-celery-8")
            try:
                record_correlation_task.apply_async(args=["second"], queue=queue)
            finally:
                reset_correlation_id(token)
            import time

            deadline = time.monotonic() + 30
            while len(_seen) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        celery_app.conf.task_always_eager = was_eager
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
    assert _seen["first"] == "corr-celery-7|corr-celery-7"
    assert _seen["second"] == "corr-celery-8|corr-celery-8"


@pytest.mark.django_db(transaction=True)
def test_correlation_id_of_event_in_relay_log_lines(settings):
    """The log sink writes each event's line under the event's correlation id."""
    settings.WMS_EVENT_BUS_URL = ""
    token = set_correlation_id("corr-log-3")
    try:
        with transaction.atomic():
            from wms.outbox import outbox_emit

            outbox_emit(event_type="x.y", aggregate_type="T", aggregate_id="1", data={})
    finally:
        reset_correlation_id(token)
    handler = _ListHandler()
    handler.addFilter(CorrelationIdLogFilter())  # as the console handler in settings
    relay_logger = logging.getLogger("integrations.relay")
    relay_logger.addHandler(handler)
    previous_level = relay_logger.level
    relay_logger.setLevel(logging.INFO)
    try:
        outbox_relay_run(until_idle=True)
    finally:
        relay_logger.removeHandler(handler)
        relay_logger.setLevel(previous_level)
    lines = [r for r in handler.records if "log sink" in r.getMessage()]
    assert lines
    assert {r.correlation_id for r in lines} == {"corr-log-3"}


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)
