"""A count waiting for approvals settles itself: approving or rejecting a count line's
adjustment (service or API) reconciles the count in the decision's transaction once nothing
of it is open; inventory tells counting through ``inventory.signals`` (it never imports it).
"""

import threading
import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from counting.models import CountLineState, CountStatus, CountType, InventoryCount
from counting.services import count_close, count_open, count_result_record
from inventory import services as inventory_services
from inventory.models import (
    AdjustmentState,
    AdjustmentThreshold,
    AuditEvent,
    InventoryAdjustment,
    InventoryBalance,
)
from inventory.signals import adjustment_decided
from tests.factories import UserFactory
from wms.roles import SUPERVISOR

D = Decimal


def _on_hand(item, location) -> Decimal:
    row = InventoryBalance.objects.filter(item=item, location=location).first()
    return row.on_hand if row else D("0")


@pytest.fixture
def approver(warehouse):
    user = UserFactory(username="boss", warehouses=[warehouse])
    user.groups.add(Group.objects.get(name=SUPERVISOR))
    return user


@pytest.fixture
def pending_count(warehouse, stocked, controller, counter_one):
    """A count of A-01 (SKU-1: 10) and A-02 (SKU-1: 20, SKU-2: 5) closed with two variances
    above the approval threshold (1 unit): two adjustments wait, the count is pending."""

    def make(results=None):
        AdjustmentThreshold.objects.get_or_create(
            warehouse=warehouse, defaults={"max_abs_qty": D("1")}
        )
        count = count_open(
            warehouse=warehouse,
            type=CountType.SPOT,
            locations=["A-01", "A-02"],
            actor=controller,
        )
        count_result_record(
            count=count,
            lines=results
            or [
                {"location": "A-01", "sku": "SKU-1", "qty_counted": "7"},
                {"location": "A-02", "sku": "SKU-1", "qty_counted": "20"},
                {"location": "A-02", "sku": "SKU-2", "qty_counted": "8"},
            ],
            actor=counter_one,
            request_key=f"results-{count.pk}",
        )
        closed = count_close(count=count, actor=controller)
        assert closed.count.status == CountStatus.PENDING_APPROVAL
        return closed.count, closed.adjustments

    return make


def _status(count) -> str:
    return InventoryCount.objects.values_list("status", flat=True).get(pk=count.pk)


@pytest.mark.django_db
def test_adjustment_approve_of_the_last_waiting_line_reconciles_the_count(
    pending_count, approver, stocked
):
    """Approving one of two waiting adjustments leaves the count pending; approving the
    other reconciles it, audited as settled by the approver."""
    count, [loss, found] = pending_count()
    assert (loss.state, found.state) == (AdjustmentState.PENDING_APPROVAL,) * 2

    inventory_services.adjustment_approve(adjustment_id=loss.pk, approver=approver)
    assert _status(count) == CountStatus.PENDING_APPROVAL

    inventory_services.adjustment_approve(adjustment_id=found.pk, approver=approver)
    assert _status(count) == CountStatus.RECONCILED
    settled = AuditEvent.objects.get(event_type="count.settled", entity_id=str(count.pk))
    assert settled.actor_id == approver.pk
    bins, items = stocked
    assert _on_hand(items[0], bins[0]) == D("7")


@pytest.mark.django_db
def test_adjustment_reject_settles_the_count_and_posts_nothing(pending_count, approver, stocked):
    """A rejection decides its line too: rejecting both waiting adjustments reconciles the
    count, and the stock is what it was."""
    count, adjustments = pending_count()

    for adjustment in adjustments:
        inventory_services.adjustment_reject(
            adjustment_id=adjustment.pk, approver=approver, note="recount it"
        )

    assert _status(count) == CountStatus.RECONCILED
    bins, items = stocked
    assert (_on_hand(items[0], bins[0]), _on_hand(items[1], bins[1])) == (D("10"), D("5"))


@pytest.mark.django_db
def test_adjustment_approve_leaves_a_count_with_a_blocked_line_pending(
    pending_count, approver, available, stocked
):
    """A blocked line is still open: the approval does not reconcile its count."""
    bins, items = stocked
    inventory_services.reservation_create(
        item=items[1], location=bins[1], status=available, qty=D("5"), demand_ref="o:1",
        posting_key="reserve-all",
    )  # fmt: skip
    count, [adjustment] = pending_count(
        [
            {"location": "A-01", "sku": "SKU-1", "qty_counted": "7"},
            {"location": "A-02", "sku": "SKU-1", "qty_counted": "20"},
            {"location": "A-02", "sku": "SKU-2", "qty_counted": "1"},
        ]
    )
    assert count.lines.filter(state=CountLineState.BLOCKED).count() == 1

    inventory_services.adjustment_approve(adjustment_id=adjustment.pk, approver=approver)

    assert _status(count) == CountStatus.PENDING_APPROVAL


@pytest.mark.django_db
def test_adjustment_approve_through_the_api_reconciles_the_count(pending_count, approver):
    """The API's approve and reject (the same services) settle the count as well."""
    count, [loss, found] = pending_count()
    client = APIClient()
    client.force_login(approver)
    url = "/api/v1/inventory/adjustments"

    approved = client.post(
        f"{url}/{loss.pk}/approve", {"note": "ok"}, format="json", HTTP_IDEMPOTENCY_KEY="a-1"
    )
    assert approved.status_code == 200, approved.content
    assert _status(count) == CountStatus.PENDING_APPROVAL
    rejected = client.post(
        f"{url}/{found.pk}/reject", {"note": "no"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    assert rejected.status_code == 200, rejected.content
    assert rejected.json()["status"] == "REJECTED"
    assert _status(count) == CountStatus.RECONCILED


@pytest.mark.django_db
def test_adjustment_decided_receiver_failing_undoes_the_decision(pending_count, approver):
    """The signal is sent inside the decision's transaction: a receiver that fails takes the
    approval, its posting and the count's settling back with it."""
    count, [loss, found] = pending_count()
    inventory_services.adjustment_approve(adjustment_id=loss.pk, approver=approver)

    def failing(**kwargs):
        raise RuntimeError("receiver failed")

    adjustment_decided.connect(failing, dispatch_uid="test-failing")
    try:
        with pytest.raises(RuntimeError):
            inventory_services.adjustment_approve(adjustment_id=found.pk, approver=approver)
    finally:
        adjustment_decided.disconnect(dispatch_uid="test-failing")

    found.refresh_from_db()
    assert found.state == AdjustmentState.PENDING_APPROVAL and found.posting_id is None
    assert _status(count) == CountStatus.PENDING_APPROVAL


@pytest.mark.django_db
def test_adjustment_approve_of_an_adjustment_without_a_count_settles_nothing(
    warehouse, stocked, controller, approver
):
    """An adjustment from the API or the admin has no count: the decision goes as before."""
    AdjustmentThreshold.objects.create(warehouse=warehouse, max_abs_qty=D("1"))
    bins, items = stocked
    adjustment = inventory_services.adjustment_request(
        warehouse=warehouse,
        item=items[0],
        location=bins[0],
        status=bins[0].balances.first().status,
        qty_delta=D("-3"),
        reason_code="COUNT_DIFF",
        actor=controller,
        source="api",
        request_key="api-1",
    )
    assert adjustment.state == AdjustmentState.PENDING_APPROVAL

    inventory_services.adjustment_approve(adjustment_id=adjustment.pk, approver=approver)

    assert InventoryAdjustment.objects.get(pk=adjustment.pk).state == AdjustmentState.APPLIED
    assert not AuditEvent.objects.filter(event_type="count.settled").exists()


def _lock_waiters() -> int:
    """Other sessions of this database waiting for a lock now (the activity snapshot is
    kept for a transaction unless cleared)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_adjustment_approve_locks_the_count_before_the_adjustment(pending_count, approver):
    """Lock order: an approval of a count line's adjustment waits for the count row before
    it locks the adjustment, so a transaction holding the count can still take the
    adjustment (a count, then its adjustment: no deadlock)."""
    count, [loss, _found] = pending_count()
    errors = []

    def approve():
        try:
            inventory_services.adjustment_approve(adjustment_id=loss.pk, approver=approver)
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=approve)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM counting_inventorycount WHERE id = %s FOR UPDATE", [count.pk]
            )
        thread.start()
        deadline = time.monotonic() + 30
        while _lock_waiters() == 0:  # the approval reaches the count row and waits
            assert time.monotonic() < deadline and thread.is_alive(), errors
            time.sleep(0.05)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '5s'")
            cursor.execute(
                "SELECT id FROM inventory_inventoryadjustment WHERE id = %s FOR UPDATE",
                [loss.pk],
            )
            assert cursor.fetchone() == (loss.pk,)
        assert thread.is_alive()
    thread.join(30)
    assert not thread.is_alive() and errors == []
    assert InventoryAdjustment.objects.get(pk=loss.pk).state == AdjustmentState.APPLIED
    assert _status(count) == CountStatus.PENDING_APPROVAL  # the other one still waits
