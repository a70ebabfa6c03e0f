"""Count variance alerts (issue 17): a closed count's line whose variance is above the
rule's quantity or value and waits for a decision raises one alert (one mail, one
alert.raised) however often beat evaluates; approving or rejecting its adjustment
clears it (alert.cleared once)."""

from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from counting.models import CountType
from counting.services import count_close, count_open, count_result_record
from integrations.alerts import alert_rules_evaluate
from integrations.tasks import alerts_evaluate_task
from inventory import services as inventory_services
from inventory.models import AdjustmentState, AdjustmentThreshold
from tests.factories import UserFactory
from wms.models import Alert, AlertKind, AlertRule, AlertStatus, OutboxEvent
from wms.roles import SUPERVISOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_count(warehouse, stocked, controller, counter_one):
    """Spot count of A-01 and A-02 (unit cost 2): SKU-1 10 → 7 at A-01 (-3, value -6)
    waits for approval (threshold 1 unit); SKU-2 5 → 6 at A-02 (+1) applied at once."""
    AdjustmentThreshold.objects.create(warehouse=warehouse, max_abs_qty=D("1"))
    count = count_open(warehouse=warehouse, type=CountType.SPOT, locations=["A-01", "A-02"],
                       actor=controller)  # fmt: skip
    count_result_record(
        count=count,
        lines=[
            {"location": "A-01", "sku": "SKU-1", "qty_counted": "7"},
            {"location": "A-02", "sku": "SKU-1", "qty_counted": "20"},
            {"location": "A-02", "sku": "SKU-2", "qty_counted": "6"},
        ],
        actor=counter_one,
        request_key="alert-count",
    )
    closed = count_close(count=count, actor=controller)
    states = {a.qty_delta: a.state for a in closed.adjustments}
    assert states == {D("-3"): AdjustmentState.PENDING_APPROVAL, D("1"): AdjustmentState.APPLIED}
    return closed


def _rule(warehouse, kind, threshold):
    return AlertRule.objects.create(
        warehouse=warehouse,
        name="Count variances",
        kind=kind,
        threshold=D(threshold),
        recipients="audit@example.com",
    )


def _approver(warehouse):
    user = UserFactory(username="approver", warehouses=[warehouse])
    user.groups.add(Group.objects.get(name=SUPERVISOR))
    return user


def _events(event_type):
    return list(OutboxEvent.objects.filter(event_type=event_type))


def test_count_variance_alert_raised_once_then_cleared_by_approval(
    warehouse, pending_count, django_capture_on_commit_callbacks
):
    """30 beats: one alert for the waiting line only (subject count-line:<id>), one mail,
    one alert.raised; after approval one alert.cleared and the alert closed."""
    _rule(warehouse, AlertKind.COUNT_VARIANCE_QTY, "2")
    for _ in range(30):
        with django_capture_on_commit_callbacks(execute=True):
            alerts_evaluate_task()
    [alert] = Alert.objects.all()
    line = pending_count.count.lines.get(item__sku="SKU-1", location__code="A-01")
    assert alert.subject == f"count-line:{line.pk}" and alert.status == AlertStatus.OPEN
    assert alert.message == (
        f"Count {pending_count.count.count_number}: SKU-1 at A-01 off by -3 "
        "(value -6.0000), waiting for a decision"
    )
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["audit@example.com"]
    [raised] = _events("alert.raised")
    assert raised.data["kind"] == "COUNT_VARIANCE_QTY" and raised.data["warehouse"] == "MAD1"
    inventory_services.adjustment_approve(
        adjustment_id=line.adjustment_id, approver=_approver(warehouse)
    )
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            alert_rules_evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.CLOSED and alert.closed_at is not None
    assert len(_events("alert.cleared")) == 1 and len(_events("alert.raised")) == 1
    assert len(mail.outbox) == 2 and "1 cleared" in mail.outbox[1].subject


def test_count_variance_alert_cleared_by_rejection(warehouse, pending_count):
    """Rejecting the waiting adjustment decides the variance too: the alert clears."""
    _rule(warehouse, AlertKind.COUNT_VARIANCE_QTY, "0")
    alert_rules_evaluate()
    assert Alert.objects.get().status == AlertStatus.OPEN
    line = pending_count.count.lines.get(item__sku="SKU-1", location__code="A-01")
    inventory_services.adjustment_reject(
        adjustment_id=line.adjustment_id, approver=_approver(warehouse), note="recount first"
    )
    alert_rules_evaluate()
    assert Alert.objects.get().status == AlertStatus.CLOSED


@pytest.mark.parametrize(
    ("kind", "threshold", "raised"),
    [
        (AlertKind.COUNT_VARIANCE_QTY, "3", 0),  # |-3| is not above 3
        (AlertKind.COUNT_VARIANCE_QTY, "2.999", 1),
        (AlertKind.COUNT_VARIANCE_VALUE, "6", 0),  # |-6.0000| is not above 6
        (AlertKind.COUNT_VARIANCE_VALUE, "5.99", 1),
    ],
)
def test_count_variance_alert_threshold_quantity_or_value(
    warehouse, pending_count, other_warehouse, kind, threshold, raised
):
    """Only a variance strictly above the threshold (quantity, or value at unit cost)
    raises; a rule of another warehouse sees nothing of this one."""
    _rule(warehouse, kind, threshold)
    _rule(other_warehouse, kind, "0")
    alert_rules_evaluate()
    assert Alert.objects.filter(warehouse=warehouse).count() == raised
    assert not Alert.objects.filter(warehouse=other_warehouse).exists()


def test_count_variance_metrics_gauge_counts_lines_waiting(warehouse, pending_count, client):
    """/metrics: one line of MAD1 waits for a decision (the applied one does not count)."""
    body = client.get("/metrics").content.decode()
    assert 'wms_count_variances_undecided{warehouse="MAD1"} 1.0' in body
