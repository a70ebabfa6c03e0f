"""Backbone metrics (wms.metrics): the relay counts published events and their commit →
publish lag, dead letters are counted, webhook attempts by outcome, and /metrics reads
the outbox depth and lag at scrape time; also in multiprocess mode."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from prometheus_client import REGISTRY

from integrations.relay import LogSink, outbox_relay_batch
from integrations.webhooks import deliveries_deliver_due, webhook_subscription_create
from tests.factories import ExternalSystemFactory, WarehouseFactory
from tests.outbound.conftest import subprocess_env
from wms.outbox import outbox_emit

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: on_commit runs
ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels) -> float:
    value = REGISTRY.get_sample_value(name, {"instance_id": settings.WMS_INSTANCE_ID, **labels})
    return value or 0.0


def _emit(n: int = 1, event_type: str = "order.accepted") -> None:
    with transaction.atomic():
        for k in range(n):
            outbox_emit(
                event_type=event_type,
                aggregate_type="ReplenishmentOrder",
                aggregate_id=f"ORD-{k}",
                data={"warehouse": "MAD1"},
            )


class RefusingSink(LogSink):
    """A bus that refuses every event."""

    name = "refusing"

    def publish(self, messages):
        return {m.event_id: "refused by the test" for m in messages}


def test_outbox_relay_counts_published_and_publish_lag(client):
    """Published events add to wms_outbox_published_total and one lag observation each;
    before, /metrics shows them pending with the age of the oldest."""
    _emit(3)
    body = client.get("/metrics").content.decode()
    assert f'wms_outbox_pending{{instance_id="{settings.WMS_INSTANCE_ID}"}} 3.0' in body
    assert f'wms_outbox_lag_seconds{{instance_id="{settings.WMS_INSTANCE_ID}"}}' in body
    published = sample("wms_outbox_published_total", sink="log")
    lags = sample("wms_outbox_publish_lag_seconds_count")
    assert outbox_relay_batch(sink=LogSink()).published == 3
    assert sample("wms_outbox_published_total", sink="log") == published + 3
    assert sample("wms_outbox_publish_lag_seconds_count") == lags + 3
    body = client.get("/metrics").content.decode()
    assert f'wms_outbox_pending{{instance_id="{settings.WMS_INSTANCE_ID}"}} 0.0' in body


def test_outbox_event_dead_lettered_is_counted(settings):
    """An event the bus refuses past its last attempt counts as a dead letter."""
    settings.WMS_OUTBOX_MAX_ATTEMPTS = 1
    _emit(1, event_type="pick.confirmed")
    labels = {"channel": "outbox", "target": "pick.confirmed"}
    before = sample("wms_dead_letters_total", **labels)
    assert outbox_relay_batch(sink=RefusingSink()).dead == 1
    assert sample("wms_dead_letters_total", **labels) == before + 1


def test_webhook_attempt_counted_by_outcome_and_dead_letter(settings):
    """An unreachable receiver with a budget of one attempt: the delivery is dead,
    counted under its target as outcome dead and as a webhook dead letter."""
    settings.WMS_EVENT_BUS_URL = ""
    settings.WMS_WEBHOOK_KICK_WORKER = False
    store = ExternalSystemFactory(
        code="S042", type="store", warehouses=[WarehouseFactory(code="MAD1")]
    )
    webhook_subscription_create(
        system=store, url="http://127.0.0.1:1/hook", event_types=["*"], max_attempts=1
    )
    dead = sample("wms_webhook_deliveries_total", target="S042", outcome="dead")
    letters = sample("wms_dead_letters_total", channel="webhook", target="S042")
    _emit(1)
    outbox_relay_batch(sink=LogSink())
    assert deliveries_deliver_due() == 1
    assert sample("wms_webhook_deliveries_total", target="S042", outcome="dead") == dead + 1
    assert sample("wms_dead_letters_total", channel="webhook", target="S042") == letters + 1


def test_metrics_view_in_multiprocess_mode_sums_processes_and_reads_collectors(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, /metrics sums what every process counted (two
    processes each accepting an order's count here) and still serves the collectors
    read at scrape time (outbox depth, the alert conditions)."""
    env = subprocess_env(
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="wms.settings"
    )
    count = (
        "import django; django.setup();"
        "from wms.metrics import ORDERS_ACCEPTED;"
        "ORDERS_ACCEPTED.labels('wms-test', 'MAD1').inc()"
    )
    for _process in range(2):
        subprocess.run([sys.executable, "-c", count], cwd=ROOT, env=env, check=True)
    scrape = (
        "import django; django.setup();"
        "from django.test import Client;"
        "print(Client(HTTP_HOST='localhost').get('/metrics').content.decode())"
    )
    body = subprocess.run(
        [sys.executable, "-c", scrape],
        cwd=ROOT,
        env={**env, "WMS_INSTANCE_ID": "wms-test"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'wms_orders_accepted_total{instance_id="wms-test",warehouse="MAD1"} 2.0' in body
    assert 'wms_outbox_pending{instance_id="wms-test"}' in body
    assert "wms_report_metrics_up 1.0" in body
    assert os.listdir(tmp_path)  # the processes' files
