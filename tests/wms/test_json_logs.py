"""Structured logs: JSON lines with the required dimensions, one correlationId from
the request through the Celery task it caused to the outbox event it published."""

import io
import json
import logging
import time
import uuid
from logging.config import dictConfig

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings

from integrations.relay import outbox_relay_run
from tests.factories import ItemFactory
from wms.celery import app as celery_app
from wms.correlation import reset_correlation_id, set_correlation_id
from wms.logs import formatter, integration_target


@pytest.fixture
def json_lines():
    """What our loggers write at INFO, as the console handler renders it (parsed JSON
    lines). On the apps' loggers, not the root: a starting worker re-applies
    settings.LOGGING, which replaces the root's handlers."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    loggers = [logging.getLogger(name) for name in ("wms", "integrations")]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield read
    for logger, level in zip(loggers, previous, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_logs_line_has_required_fields_and_no_secrets(json_lines):
    """A line carries timestamp, level, event, instanceId, correlationId and
    integrationTarget; secrets in keys or values are masked."""
    token = set_correlation_id("corr-fields-1")
    try:
        with integration_target("S042"):
            logging.getLogger("wms.test").warning(
                "calling with Token wms_abcdefghijklmnopqrstuvwxyz234567",
                extra={"password": "hunter2", "headers": {"Authorization": "Token x"}},
            )
    finally:
        reset_correlation_id(token)
    (line,) = [li for li in json_lines() if li["logger"] == "wms.test"]
    assert line["level"] == "warning"
    assert line["instanceId"] == django_settings.WMS_INSTANCE_ID
    assert line["correlationId"] == "corr-fields-1"
    assert line["integrationTarget"] == "S042"
    assert line["timestamp"].endswith("Z")
    assert "wms_abcdefghijklmnopqrstuvwxyz234567" not in json.dumps(line)
    assert line["password"] == "[redacted]"
    assert line["headers"]["Authorization"] == "[redacted]"


def test_settings_logging_renders_json_lines(capsys):
    """settings.LOGGING's console handler writes one JSON object per line."""
    dictConfig(django_settings.LOGGING)
    logging.getLogger("wms.test").info("plain line")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert json.loads(err)["event"] == "plain line"


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_logs_request_task_and_event_share_one_correlation_id(
    system_client, warehouse, json_lines, settings
):
    """An order posted with X-Correlation-ID: the request's line (actor: the store
    system), the planning task's lines in a real worker (through RabbitMQ) and the
    relay's line of the order.accepted event all carry that correlationId."""
    settings.WMS_EVENT_BUS_URL = ""  # the relay's log sink writes a line per event
    ItemFactory(warehouse=warehouse, sku="SKU-LOG-1")
    store = system_client("store", "S042", [warehouse])
    queue = f"security_logs_{uuid.uuid4().hex[:8]}"
    was_eager = celery_app.conf.task_always_eager
    previous_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    try:
        with start_worker(
            celery_app,
            pool="solo",
            perform_ping_check=False,
            queues=[queue],
            loglevel="info",
            shutdown_timeout=60,
        ):
            response = store.post(
                "/api/v1/replenishment-orders",
                {
                    "externalOrderId": "LOG-1",
                    "storeCode": "S042",
                    "requestedShipBy": "2030-11-23T18:00:00+01:00",
                    "lines": [{"lineNumber": 1, "sku": "SKU-LOG-1", "qty": "2"}],
                },
                format="json",
                HTTP_IDEMPOTENCY_KEY="log-1",
                HTTP_X_CORRELATION_ID="corr-json-77",
            )
            assert response.status_code == 202, response.content
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(
                li["event"] == "task finished" for li in json_lines()
            ):
                time.sleep(0.1)
    finally:
        celery_app.conf.task_always_eager = was_eager
        celery_app.conf.task_default_queue = previous_queue
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
    outbox_relay_run(until_idle=True)

    lines = json_lines()
    request = [li for li in lines if li["logger"] == "wms.request"]
    task = [li for li in lines if li["event"] in ("task started", "task finished")]
    event = [li for li in lines if "order.accepted" in li["event"] and "log sink" in li["event"]]
    assert request and task and event, lines
    assert {li["correlationId"] for li in request + task + event} == {"corr-json-77"}
    assert request[0]["actor"] == f"system:{store.system.pk}"
    assert request[0]["status"] == 202 and request[0]["path"] == "/api/v1/replenishment-orders"
    assert task[0]["task"] == "outbound.tasks.order_planning_task"
    for line in request + task + event:
        assert {"timestamp", "level", "event", "instanceId", "correlationId"} <= set(line)
