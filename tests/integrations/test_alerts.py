"""Alerts (issue 17): raised once while the condition holds, e-mailed once, emitted as
events, cleared when it stops; one open alert per rule and subject in the database."""

from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from integrations.alerts import alert_rules_evaluate
from integrations.tasks import alerts_evaluate_task
from inventory.services.stock import stock_receive
from tests.factories import InventoryStatusFactory, ItemFactory, LocationFactory
from tests.integrations.smtp_sink import SmtpSink
from wms.models import (
    Alert,
    AlertKind,
    AlertRule,
    AlertStatus,
    OutboxEvent,
    OutboxStatus,
    StockMinimum,
)


def _low_stock(warehouse):
    available = InventoryStatusFactory(code="AVAILABLE")
    item = ItemFactory(warehouse=warehouse, sku="SKU-LOW", unit_cost=Decimal("1"))
    location = LocationFactory(warehouse=warehouse, code="A-01")
    stock_receive(item=item, location=location, status=available, qty=3, posting_key="r1",
                  source_ref="R1")  # fmt: skip
    rule = AlertRule.objects.create(
        warehouse=warehouse,
        name="Pick faces",
        kind=AlertKind.LOW_STOCK,
        recipients="super@example.com, boss@example.com",
    )
    StockMinimum.objects.create(rule=rule, item=item, location=location, min_qty=5)
    return {"rule": rule, "item": item, "location": location, "status": available}


@pytest.fixture
def low_stock(warehouse):
    """SKU-LOW: 3 on hand in A-01 against a minimum of 5 there."""
    return _low_stock(warehouse)


@pytest.fixture
def low_stock_committed(transactional_db, warehouse):
    """``low_stock`` for tests whose writes commit (a real mail server, other threads)."""
    return _low_stock(warehouse)


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def _events(event_type):
    return list(OutboxEvent.objects.filter(event_type=event_type))


def test_alerts_evaluate_low_stock_raised_once_over_100_beats(
    low_stock, django_capture_on_commit_callbacks
):
    """100 beat runs while stock stays below the minimum: one alert, one mail, one event."""
    for _ in range(100):
        with django_capture_on_commit_callbacks(execute=True):
            alerts_evaluate_task()
    alerts = list(Alert.objects.all())
    assert len(alerts) == 1
    assert alerts[0].status == AlertStatus.OPEN
    assert alerts[0].subject == "stock:SKU-LOW@A-01"
    assert alerts[0].message == "SKU-LOW at A-01: 3 on hand, minimum 5"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["super@example.com", "boss@example.com"]
    assert "SKU-LOW at A-01" in mail.outbox[0].body
    [event] = _events("alert.raised")
    assert event.data["subject"] == "stock:SKU-LOW@A-01"
    assert event.data["warehouse"] == "MAD1"


def test_alerts_evaluate_low_stock_cleared_when_stock_received(
    low_stock, django_capture_on_commit_callbacks
):
    """Receiving up to the minimum closes the alert, mails and emits alert.cleared once."""
    with django_capture_on_commit_callbacks(execute=True):
        alert_rules_evaluate()
    stock_receive(item=low_stock["item"], location=low_stock["location"],
                  status=low_stock["status"], qty=2, posting_key="r2", source_ref="R2")  # fmt: skip
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            alert_rules_evaluate()
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.CLOSED and alert.closed_at is not None
    assert len(_events("alert.cleared")) == 1
    assert len(mail.outbox) == 2
    assert "1 cleared" in mail.outbox[1].subject


def test_alerts_evaluate_warehouse_minimum_counts_allocatable_stock_only(
    low_stock, django_capture_on_commit_callbacks
):
    """A warehouse-wide minimum sums allocatable stock of every location; damaged stock
    does not count."""
    damaged = InventoryStatusFactory(code="DAMAGED", allocatable=False)
    other = LocationFactory(warehouse=low_stock["rule"].warehouse, code="B-01")
    stock_receive(item=low_stock["item"], location=other, status=damaged, qty=50,
                  posting_key="r3", source_ref="R3")  # fmt: skip
    StockMinimum.objects.filter(rule=low_stock["rule"]).update(location=None, min_qty=4)
    alert_rules_evaluate()
    assert Alert.objects.get().subject == "stock:SKU-LOW@*"
    stock_receive(item=low_stock["item"], location=other, status=low_stock["status"], qty=1,
                  posting_key="r4", source_ref="R4")  # fmt: skip
    alert_rules_evaluate()
    assert not Alert.objects.filter(status=AlertStatus.OPEN).exists()


def test_alert_one_open_per_rule_and_subject_in_the_database(low_stock):
    """A second open alert for the same rule and subject is refused by the database."""
    rule = low_stock["rule"]
    Alert.objects.create(rule=rule, warehouse=rule.warehouse, subject="x", message="m")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(rule=rule, warehouse=rule.warehouse, subject="x", message="m")
    Alert.objects.filter(subject="x").update(status=AlertStatus.CLOSED)
    Alert.objects.create(rule=rule, warehouse=rule.warehouse, subject="x", message="m")


def test_alerts_evaluate_dead_letters(warehouse):
    """A dead outbox event raises a dead-letter alert; replaying it clears the alert."""
    rule = AlertRule.objects.create(warehouse=warehouse, name="Dead", kind=AlertKind.DEAD_LETTERS)
    event = OutboxEvent.objects.create(
        event_type="x", aggregate_type="X", aggregate_id="1", status=OutboxStatus.DEAD
    )
    alert_rules_evaluate()
    assert list(Alert.objects.filter(rule=rule).values_list("subject", "status")) == [
        ("outbox:dead", "OPEN")
    ]
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxStatus.PUBLISHED)
    alert_rules_evaluate()
    assert Alert.objects.get(rule=rule).status == AlertStatus.CLOSED


def test_alerts_evaluate_inactive_rule_clears_its_alerts(low_stock):
    """Switching a rule off closes what it had open."""
    alert_rules_evaluate()
    AlertRule.objects.filter(pk=low_stock["rule"].pk).update(is_active=False)
    alert_rules_evaluate()
    assert Alert.objects.get().status == AlertStatus.CLOSED


def test_alerts_evaluate_unplanned_backlog(warehouse):
    """Three orders waiting for planning against a threshold of 3 open one alert; planning
    one of them clears it."""
    from outbound.models import OrderStatus, ReplenishmentOrder

    rule = AlertRule.objects.create(
        warehouse=warehouse, name="Backlog", kind=AlertKind.UNPLANNED_BACKLOG, threshold=3
    )
    orders = [
        ReplenishmentOrder.objects.create(warehouse=warehouse, store_code="S", external_order_id=n)
        for n in "abc"
    ]
    alert_rules_evaluate()
    assert Alert.objects.get(rule=rule).message.startswith("3 orders wait for planning")
    ReplenishmentOrder.objects.filter(pk=orders[0].pk).update(status=OrderStatus.PLANNED)
    alert_rules_evaluate()
    assert Alert.objects.get(rule=rule).status == AlertStatus.CLOSED


@pytest.mark.django_db(transaction=True)
def test_alert_mail_reaches_a_real_smtp_server(low_stock_committed, settings, smtp_sink):
    """Over SMTP (a local sink server), the alert mail arrives once with its message."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_sink.port
    for _ in range(5):
        alerts_evaluate_task()
    assert len(smtp_sink.messages) == 1
    recipients, body = smtp_sink.messages[0]
    assert recipients == ["super@example.com", "boss@example.com"]
    assert "SKU-LOW at A-01: 3 on hand, minimum 5" in body


def test_alert_message_in_the_instance_language(low_stock):
    """An instance running in Spanish writes its alerts in Spanish."""
    from django.utils import translation

    with translation.override("es"):
        alert_rules_evaluate()
    assert Alert.objects.get().message == "SKU-LOW en A-01: 3 en existencias, mínimo 5"
