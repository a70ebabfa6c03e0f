"""Blocked count lines (their adjustment refused at close) are resolved by a supervisor:
the adjustment requested again, or the line closed without one; then the count settles."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from counting.models import CountLine, CountLineState, CountStatus, CountType, InventoryCount
from counting.services import (
    count_close,
    count_lines_blocked_resolve,
    count_lines_blocked_retry,
    count_open,
    count_result_record,
)
from inventory import services as inventory_services
from inventory.models import (
    AdjustmentState,
    AdjustmentThreshold,
    AuditEvent,
    InventoryAdjustment,
    InventoryBalance,
)
from tests.factories import UserFactory
from wms.exceptions import DomainError
from wms.roles import COUNTER, SUPERVISOR

pytestmark = pytest.mark.django_db
D = Decimal


def _balance(item, location) -> tuple[Decimal, Decimal]:
    row = InventoryBalance.objects.get(item=item, location=location)
    return row.on_hand, row.reserved


def _status(count) -> str:
    return InventoryCount.objects.values_list("status", flat=True).get(pk=count.pk)


@pytest.fixture
def blocked(warehouse, stocked, available, controller, counter_one):
    """SKU-1 at A-01: 10 on hand, all reserved; counted 8. The loss of 2 is refused at close:
    the line is BLOCKED, the count PENDING_APPROVAL (A-02 is adjusted at once)."""
    bins, items = stocked
    reservation = inventory_services.reservation_create(
        item=items[0], location=bins[0], status=available, qty=D("10"), demand_ref="o:1",
        posting_key="reserve-all",
    )  # fmt: skip
    count = count_open(
        warehouse=warehouse, type=CountType.SPOT, locations=["A-01", "A-02"], actor=controller
    )
    count_result_record(
        count=count,
        lines=[
            {"location": "A-01", "sku": "SKU-1", "qty_counted": "8"},
            {"location": "A-02", "sku": "SKU-2", "qty_counted": "6"},
        ],
        actor=counter_one,
        request_key="k",
    )
    count_close(count=count, actor=controller)
    line = count.lines.get(state=CountLineState.BLOCKED)
    assert "insufficient_available" in line.note
    assert _status(count) == CountStatus.PENDING_APPROVAL
    return count, line, reservation


def _release(reservation, qty="10"):
    inventory_services.reservation_release(
        reservation=reservation, qty=D(qty), posting_key=f"release:{qty}"
    )


def test_count_lines_blocked_retry_after_the_reservation_is_released_adjusts_and_settles(
    blocked, controller, stocked, assert_consistent
):
    """Once the reserved stock is released the retried loss posts: the line is reconciled
    with its adjustment, the count reconciled, the retry audited."""
    count, line, reservation = blocked
    _release(reservation)

    retried = count_lines_blocked_retry(count=count, line_ids=[line.pk], actor=controller)

    [adjustment] = retried.adjustments
    assert (adjustment.state, adjustment.qty_delta) == (AdjustmentState.APPLIED, D("-2"))
    assert adjustment.request_key == f"count-line:{line.pk}"
    assert retried.blocked == []
    line.refresh_from_db()
    assert (line.state, line.adjustment_id, line.note) == (
        CountLineState.RECONCILED,
        adjustment.pk,
        "",
    )
    assert retried.count.status == CountStatus.RECONCILED == _status(count)
    bins, items = stocked
    assert _balance(items[0], bins[0]) == (D("8"), D("0"))
    audit = AuditEvent.objects.get(event_type="count.blocked_lines_retried")
    assert audit.after["adjustments"] == [adjustment.adjustment_number]
    assert "insufficient_available" in audit.after["lines"][0]["refusedBefore"]
    assert_consistent()


def test_count_lines_blocked_retry_refused_again_stays_blocked(blocked, controller, stocked):
    """Still reserved: the retry is refused again, nothing posts, the line stays blocked with
    the new reason and the count pending."""
    count, line, _reservation = blocked

    retried = count_lines_blocked_retry(count=count, line_ids=[line.pk], actor=controller)

    assert retried.adjustments == []
    assert [b.pk for b in retried.blocked] == [line.pk]
    line.refresh_from_db()
    assert line.state == CountLineState.BLOCKED and "insufficient_available" in line.note
    assert _status(count) == CountStatus.PENDING_APPROVAL
    bins, items = stocked
    assert _balance(items[0], bins[0]) == (D("10"), D("10"))


def test_count_lines_blocked_retry_above_the_threshold_waits_then_approval_settles(
    blocked, controller, warehouse, stocked
):
    """A retried adjustment above the approval threshold waits; the line is no longer
    blocked, and its approval by another person reconciles the count."""
    count, line, reservation = blocked
    _release(reservation)
    AdjustmentThreshold.objects.create(warehouse=warehouse, max_abs_qty=D("1"))

    [adjustment] = count_lines_blocked_retry(
        count=count, line_ids=[line.pk], actor=controller
    ).adjustments
    assert adjustment.state == AdjustmentState.PENDING_APPROVAL
    assert _status(count) == CountStatus.PENDING_APPROVAL

    approver = UserFactory(username="boss", warehouses=[warehouse])
    approver.groups.add(Group.objects.get(name=SUPERVISOR))
    inventory_services.adjustment_approve(adjustment_id=adjustment.pk, approver=approver)
    assert _status(count) == CountStatus.RECONCILED


def test_count_lines_blocked_resolve_closes_the_line_without_adjustment(
    blocked, controller, stocked
):
    """Closed without an adjustment, with the supervisor's reason: nothing posts, the line
    is reconciled with the note, the count reconciled, the decision audited."""
    count, line, _reservation = blocked

    count_lines_blocked_resolve(
        count=count, line_ids=[line.pk], actor=controller, note="picked before the scan"
    )

    line.refresh_from_db()
    assert line.state == CountLineState.RECONCILED and line.adjustment_id is None
    assert "picked before the scan" in line.note
    assert _status(count) == CountStatus.RECONCILED
    assert not InventoryAdjustment.objects.filter(request_key=f"count-line:{line.pk}").exists()
    bins, items = stocked
    assert _balance(items[0], bins[0]) == (D("10"), D("10"))
    audit = AuditEvent.objects.get(event_type="count.blocked_lines_resolved")
    assert audit.actor_id == controller.pk and audit.after["note"] == "picked before the scan"


def test_count_lines_blocked_resolve_needs_a_note_and_a_blocked_line(blocked, controller):
    """No note: 422 ``note_required``; a line that is not blocked: 422 ``no_lines``."""
    count, line, _reservation = blocked
    with pytest.raises(DomainError) as no_note:
        count_lines_blocked_resolve(count=count, line_ids=[line.pk], actor=controller, note=" ")
    assert (no_note.value.code, no_note.value.status) == ("note_required", 422)
    other = count.lines.exclude(pk=line.pk).first()
    with pytest.raises(DomainError) as not_blocked:
        count_lines_blocked_retry(count=count, line_ids=[other.pk], actor=controller)
    assert not_blocked.value.code == "no_lines"
    line.refresh_from_db()
    assert line.state == CountLineState.BLOCKED


def _admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_count_line_admin_retries_a_blocked_line(blocked, controller):
    """The admin's action on the line list retries through the service."""
    count, line, reservation = blocked
    _release(reservation)

    response = _admin(controller).post(
        "/admin/counting/countline/",
        {"action": "retry_blocked_adjustments", "_selected_action": [line.pk]},
    )

    assert response.status_code == 302
    line.refresh_from_db()
    assert line.state == CountLineState.RECONCILED and line.adjustment_id is not None
    assert _status(count) == CountStatus.RECONCILED


def test_count_line_admin_closes_a_blocked_line_with_a_note_only(blocked, controller):
    """Closing without an adjustment from the admin needs the note of the action form."""
    count, line, _reservation = blocked
    client = _admin(controller)

    client.post(
        "/admin/counting/countline/",
        {"action": "resolve_blocked_lines", "_selected_action": [line.pk], "note": ""},
    )
    line.refresh_from_db()
    assert line.state == CountLineState.BLOCKED

    client.post(
        "/admin/counting/countline/",
        {"action": "resolve_blocked_lines", "_selected_action": [line.pk], "note": "damaged"},
    )
    line.refresh_from_db()
    assert line.state == CountLineState.RECONCILED and "damaged" in line.note
    assert _status(count) == CountStatus.RECONCILED


def test_count_line_admin_blocked_actions_refused_to_a_counter(blocked, warehouse):
    """A counter (counts lines, reviews nothing) is not offered the actions: nothing changes."""
    _count, line, _reservation = blocked
    counter = UserFactory(username="counter", warehouses=[warehouse], is_staff=True)
    counter.groups.add(Group.objects.get(name=COUNTER))
    _admin(counter).post(
        "/admin/counting/countline/",
        {"action": "resolve_blocked_lines", "_selected_action": [line.pk], "note": "x"},
    )
    assert CountLine.objects.get(pk=line.pk).state == CountLineState.BLOCKED
