"""Adjustments with reason codes (``inventory.services.adjustment_request``): applied at once
below the thresholds, pending above them; idempotent; posted, evented, valued and audited."""

import threading
from decimal import Decimal

import pytest
from django.db import connections

from integrations.authentication import SystemPrincipal
from inventory.models import (
    AdjustmentState,
    AdjustmentThreshold,
    AuditEvent,
    FinanceEvent,
    InventoryAdjustment,
    InventoryLedgerEntry,
    LedgerEntryType,
)
from wms.exceptions import DomainError
from wms.models import OutboxEvent

from .adjustment_fixtures import *  # noqa: F403  (the fixtures)
from .helpers import balance_of

pytestmark = pytest.mark.django_db
D = Decimal


def _code(excinfo) -> str:
    return excinfo.value.code


def test_adjustment_request_below_threshold_posts_at_once(
    request_adjustment, controller_user, stocked, bin_a, available, assert_consistent
):
    """A small loss is applied at once: one ADJUSTMENT ledger entry, balance down, number given."""
    adjustment = request_adjustment("-2", actor=controller_user)

    assert adjustment.state == AdjustmentState.APPLIED
    assert adjustment.adjustment_number.startswith("ADJ-")
    assert adjustment.value == D("-5.0000")
    assert balance_of(stocked, bin_a, available) == (D("8"), D("3"))
    [entry] = InventoryLedgerEntry.objects.filter(pk__in=adjustment.ledger_entry_ids)
    assert entry.entry_type == LedgerEntryType.ADJUSTMENT
    assert entry.reason_code == "DAMAGE"
    assert entry.source_ref == adjustment.adjustment_number
    assert entry.actor_id == controller_user.pk
    assert adjustment.posting_id == entry.posting_id
    assert_consistent()


def test_adjustment_request_applied_emits_event_and_negative_finance_event(
    request_adjustment, controller_user, warehouse
):
    """An applied loss: its inventory.adjusted event and a negative finance event (qty x cost)."""
    adjustment = request_adjustment("-2", actor=controller_user)

    event = OutboxEvent.objects.get(event_type="inventory.adjusted")
    assert event.data["sourceRef"] == adjustment.adjustment_number
    assert event.data["qty"] == "-2.000"
    finance = FinanceEvent.objects.get(source_key=f"adjustment:{adjustment.pk}")
    assert finance.event_type == "inventory.adjusted"
    assert finance.total_amount == D("-5.0000")
    assert finance.currency == warehouse.currency
    assert finance.reason_code == "DAMAGE"
    assert finance.reference_number == adjustment.adjustment_number
    assert finance.lines == [
        {
            "sku": "SKU-1001",
            "qty": "-2",
            "uom": finance.lines[0]["uom"],
            "unitCost": "2.5000",
            "amount": "-5.0000",
        }
    ]


def test_adjustment_request_found_stock_has_positive_finance_amount(
    request_adjustment, controller_user
):
    """Found stock is valued positive."""
    adjustment = request_adjustment("4", reason="FOUND", actor=controller_user)
    assert FinanceEvent.objects.get(source_key=f"adjustment:{adjustment.pk}").total_amount == D(
        "10.0000"
    )


def test_adjustment_request_above_qty_threshold_waits_and_posts_nothing(
    request_adjustment, controller_user, stocked, bin_a, available
):
    """Above the quantity threshold: pending, no ledger entry, no event, no finance event."""
    adjustment = request_adjustment("25", reason="FOUND", actor=controller_user)

    assert adjustment.state == AdjustmentState.PENDING_APPROVAL
    assert adjustment.posting_id is None and adjustment.ledger_entry_ids == []
    assert balance_of(stocked, bin_a, available) == (D("10"), D("3"))
    assert not OutboxEvent.objects.filter(event_type="inventory.adjusted").exists()
    assert not FinanceEvent.objects.exists()


def test_adjustment_request_above_value_threshold_waits(request_adjustment, controller_user):
    """19 units x 2.50 = 47.50 is under 100; a threshold of 40 makes it wait."""
    threshold_row = AdjustmentThreshold.objects.get()
    threshold_row.max_abs_value = D("40")
    threshold_row.save()
    adjustment = request_adjustment("19", reason="FOUND", actor=controller_user)
    assert adjustment.state == AdjustmentState.PENDING_APPROVAL


def test_adjustment_request_reason_requiring_approval_waits_however_small(
    request_adjustment, controller_user
):
    """A reason that requires approval sends even one unit to the queue."""
    adjustment = request_adjustment("-1", reason="LOST", actor=controller_user)
    assert adjustment.state == AdjustmentState.PENDING_APPROVAL


@pytest.mark.parametrize("reason", ["NOPE", "SHORT_PICK", ""])
def test_adjustment_request_invalid_reason_code_is_422(request_adjustment, controller_user, reason):
    """An unknown reason, or one not for adjustments: 422 invalid_reason_code, nothing written."""
    with pytest.raises(DomainError) as excinfo:
        request_adjustment("-1", reason=reason, actor=controller_user)
    assert (_code(excinfo), excinfo.value.status) == ("invalid_reason_code", 422)
    assert not InventoryAdjustment.objects.exists()
    assert not AuditEvent.objects.exists()


def test_adjustment_request_below_reserved_is_409_when_applied_at_once(
    request_adjustment, controller_user, stocked, bin_a, available
):
    """Taking 8 of 10 with 3 reserved would leave on hand below reserved: 409, nothing posted."""
    with pytest.raises(DomainError) as excinfo:
        request_adjustment("-8", actor=controller_user)
    assert (_code(excinfo), excinfo.value.status) == ("insufficient_available", 409)
    assert balance_of(stocked, bin_a, available) == (D("10"), D("3"))
    assert not InventoryAdjustment.objects.exists()
    assert not FinanceEvent.objects.exists()


def test_adjustment_request_below_reserved_is_409_when_pending(request_adjustment, controller_user):
    """A pending loss is checked too (LOST waits): 409, no adjustment kept."""
    with pytest.raises(DomainError) as excinfo:
        request_adjustment("-8", reason="LOST", actor=controller_user)
    assert _code(excinfo) == "insufficient_available"
    assert not InventoryAdjustment.objects.exists()


@pytest.mark.parametrize("qty", ["0", "1.0001", 1.5])
def test_adjustment_request_bad_quantity_is_422(request_adjustment, controller_user, qty):
    """Zero, more than three decimals, or a float: 422 invalid_quantity."""
    with pytest.raises(DomainError) as excinfo:
        request_adjustment(qty, actor=controller_user)
    assert (_code(excinfo), excinfo.value.status) == ("invalid_quantity", 422)


def test_adjustment_request_same_key_returns_the_first_without_second_effect(
    request_adjustment, controller_user, stocked, bin_a, available
):
    """The same request key again: the same adjustment, one posting, one finance event."""
    first = request_adjustment("-2", actor=controller_user, key="k1")
    again = request_adjustment("-2", actor=controller_user, key="k1")

    assert again.pk == first.pk
    assert again.ledger_entry_ids == first.ledger_entry_ids
    assert balance_of(stocked, bin_a, available) == (D("8"), D("3"))
    assert FinanceEvent.objects.count() == 1
    assert AuditEvent.objects.count() == 2


def test_adjustment_request_same_key_other_content_is_422(request_adjustment, controller_user):
    """The same request key with another quantity is refused."""
    request_adjustment("-2", actor=controller_user, key="k1")
    with pytest.raises(DomainError) as excinfo:
        request_adjustment("-3", actor=controller_user, key="k1")
    assert _code(excinfo) == "adjustment_request_key_reused"


def test_adjustment_request_is_audited(request_adjustment, controller_user, warehouse):
    """Applied at once: a requested and an applied audit record, by the requester, correlated."""
    adjustment = request_adjustment("-2", actor=controller_user)
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.event_type for e in events] == ["adjustment.requested", "adjustment.applied"]
    for event in events:
        assert (event.actor_id, event.actor_label) == (controller_user.pk, "ctrl")
        assert event.warehouse_id == warehouse.pk
        assert (event.entity_type, event.entity_id) == ("InventoryAdjustment", str(adjustment.pk))
        assert event.correlation_id == adjustment.correlation_id != ""
    assert events[0].after["qtyDelta"] == "-2.000"
    assert events[1].after["ledgerEntryIds"] == adjustment.ledger_entry_ids


def test_adjustment_request_by_external_system_is_labelled(
    request_adjustment, system_client, warehouse
):
    """An automation system's request carries its name, no user."""
    system = system_client("automation", "RFID1", [warehouse]).system
    principal = SystemPrincipal(system=system, warehouse_ids=frozenset([warehouse.pk]))
    adjustment = request_adjustment("-1", actor=principal)
    assert adjustment.requested_by_id is None
    assert adjustment.requested_by_label == "system:RFID1"


def test_adjustment_request_keeps_history(request_adjustment, controller_user):
    """simple-history keeps the adjustment's versions."""
    adjustment = request_adjustment("-1", actor=controller_user)
    assert adjustment.history.count() == 1


@pytest.mark.django_db(transaction=True)
def test_adjustment_request_same_key_from_two_connections_one_effect(
    request_adjustment, controller_user, stocked, bin_a, available
):
    """The same request key sent twice at the same moment (two connections): one adjustment,
    one posting, one finance event, and both callers get that adjustment."""
    barrier = threading.Barrier(2)
    results = []

    def send():
        try:
            barrier.wait()
            results.append(request_adjustment("-2", actor=controller_user, key="race-1").pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [adjustment] = InventoryAdjustment.objects.all()
    assert results == [adjustment.pk, adjustment.pk]
    assert InventoryLedgerEntry.objects.filter(entry_type=LedgerEntryType.ADJUSTMENT).count() == 1
    assert FinanceEvent.objects.count() == 1
    assert balance_of(stocked, bin_a, available) == (D("8"), D("3"))
