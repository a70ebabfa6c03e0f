"""Prometheus side of the alerts (issue 17): /metrics carries the watched conditions and
ops/prometheus/alerts.yml uses only series that exist."""

import re
from pathlib import Path

import yaml

from integrations.metrics import WmsConditionsCollector
from wms.models import Alert, AlertKind, AlertRule, OutboxEvent, OutboxStatus

RULES = Path(__file__).resolve().parents[2] / "ops" / "prometheus" / "alerts.yml"


def test_metrics_expose_open_alerts_and_dead_letters(warehouse, client):
    """/metrics shows open alerts per warehouse and kind and dead outbox events."""
    rule = AlertRule.objects.create(warehouse=warehouse, name="R", kind=AlertKind.LOW_STOCK)
    Alert.objects.create(rule=rule, warehouse=warehouse, subject="s", message="m")
    OutboxEvent.objects.create(
        event_type="x", aggregate_type="X", aggregate_id="1", status=OutboxStatus.DEAD
    )
    body = client.get("/metrics").content.decode()
    assert 'wms_alerts_open{kind="LOW_STOCK",warehouse="MAD1"} 1.0' in body
    assert 'wms_delivery_dead{channel="outbox",target="event bus"} 1.0' in body
    assert "wms_report_metrics_up 1.0" in body


def test_alert_rules_file_uses_only_exposed_series(db):
    """Every wms_* series an alerting rule names is one the collector exposes."""
    exposed = {family.name for family in WmsConditionsCollector().collect()}
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    used = {name for r in rules for name in re.findall(r"\bwms_[a-z_]+", r["expr"])}
    assert used and used <= exposed, used - exposed


def test_metrics_describe_names_every_collected_family(db):
    """describe() (used at registration, before the database may be read) lists them all."""
    collector = WmsConditionsCollector()
    assert {f.name for f in collector.describe()} == {f.name for f in collector.collect()}
