"""Planning in one process: allocation rules, backorders, deep checks, re-runs."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.models import InventoryBalance, InventoryReservation, LocationType
from outbound.models import (
    Allocation,
    LineStatus,
    OrderStatus,
    PlanningJob,
    PlanningJobStatus,
    ReplenishmentOrder,
)
from outbound.services import (
    backorders_reopen_with_stock,
    order_cancel,
    planning_group_for,
    planning_job_run,
)
from wms.models import OutboxEvent

pytestmark = pytest.mark.django_db


def _allocations(order):
    return sorted(
        (a.location.code, a.qty) for a in Allocation.objects.filter(order=order, status="ACTIVE")
    )


def _reserved(item, location):
    return InventoryBalance.objects.get(item=item, location=location).reserved


def test_planning_takes_pick_faces_before_reserve(accept, plan_all, item, location, receive):
    """Pick-face stock is reserved first; reserve stock only for what is missing."""
    sku = item("SKU-1001")
    reserve = location("R-01", type=LocationType.RESERVE, pick_sequence=1)
    face = location("P-01", pick_sequence=50)
    receive(sku, reserve, 100)
    receive(sku, face, 10)
    order = accept("E1", [("SKU-1001", 24)])
    plan_all()
    order.refresh_from_db()
    assert order.status == OrderStatus.PLANNED and not order.needs_planning
    assert _allocations(order) == [("P-01", Decimal("10")), ("R-01", Decimal("14"))]
    line = order.lines.get()
    assert (line.qty_allocated, line.status) == (Decimal("24"), LineStatus.ALLOCATED)
    assert (_reserved(sku, face), _reserved(sku, reserve)) == (Decimal("10"), Decimal("14"))
    reservations = InventoryReservation.objects.filter(
        demand_ref=f"ReplenishmentOrderLine:{line.pk}"
    )
    assert sorted(r.qty for r in reservations) == [Decimal("10"), Decimal("14")]
    event = OutboxEvent.objects.get(event_type="order.planned", aggregate_id=str(order.pk))
    assert event.data["lines"][0]["qtyAllocated"] == "24.000"


def test_planning_prefers_one_location_that_covers_the_line(
    accept, plan_all, item, location, receive
):
    """Stock of the same age: one location that covers the whole line beats several."""
    sku = item("SKU-1001")
    small = location("P-01", pick_sequence=1)
    big = location("P-02", pick_sequence=2)
    bigger = location("P-03", pick_sequence=3)
    receive(sku, small, 5)
    receive(sku, big, 30)
    receive(sku, bigger, 80)
    covered = accept("E1", [("SKU-1001", 24)])
    spread = accept("E2", [("SKU-1001", 100)])
    plan_all()
    # The smallest location that covers 24 is P-02; 100 is covered nowhere, so the
    # largest first (P-03 80), then the largest of what is left (P-02 6, P-01 5).
    assert _allocations(covered) == [("P-02", Decimal("24"))]
    assert _allocations(spread) == [
        ("P-01", Decimal("5")),
        ("P-02", Decimal("6")),
        ("P-03", Decimal("80")),
    ]
    spread.refresh_from_db()
    assert spread.status == OrderStatus.BACKORDERED
    assert spread.lines.get().qty_open == Decimal("9")


def test_planning_ignores_unallocatable_stock(
    accept, plan_all, item, location, receive, quarantined
):
    """Quarantined stock and stock at staging or receiving is never reserved."""
    sku = item("SKU-1001")
    receive(sku, location("P-01"), 50, status=quarantined)
    receive(sku, location("STG-01", type=LocationType.STAGING), 50)
    receive(sku, location("RCV-01", type=LocationType.RECEIVING), 50)
    inactive = location("P-02", is_active=True)
    receive(sku, inactive, 50)
    type(inactive).objects.filter(pk=inactive.pk).update(is_active=False)
    order = accept("E1", [("SKU-1001", 5)])
    plan_all()
    order.refresh_from_db()
    assert order.status == OrderStatus.BACKORDERED
    assert _allocations(order) == []
    assert not InventoryReservation.objects.exists()
    assert OutboxEvent.objects.filter(event_type="order.backordered").count() == 1


def test_planning_backorders_remainder_then_plans_when_stock_arrives(
    accept, plan_all, item, location, receive
):
    """Partial stock: the remainder is BACKORDERED; a receipt re-opens and completes it."""
    sku = item("SKU-1001")
    face = location("P-01")
    receive(sku, face, 10)
    order = accept("E1", [("SKU-1001", 24)])
    plan_all()
    order.refresh_from_db()
    line = order.lines.get()
    assert order.status == OrderStatus.BACKORDERED
    assert (line.qty_allocated, line.status) == (Decimal("10"), LineStatus.BACKORDERED)
    event = OutboxEvent.objects.get(event_type="order.backordered")
    assert event.data["lines"][0]["qtyBackordered"] == "14.000"

    # Nothing new: a sweep re-opens nothing and another pass changes nothing.
    assert backorders_reopen_with_stock() == 0
    plan_all()
    assert OutboxEvent.objects.filter(event_type__startswith="order.").count() == 2

    receive(sku, face, 20)
    assert backorders_reopen_with_stock() == 1
    plan_all()
    order.refresh_from_db()
    line.refresh_from_db()
    assert order.status == OrderStatus.PLANNED
    assert (line.qty_allocated, line.plan_round) == (Decimal("24"), 2)
    keys = sorted(Allocation.objects.filter(line=line).values_list("posting_key", flat=True))
    assert [k.rsplit(":", 1)[1] for k in keys] == ["r1", "r2"]
    assert _reserved(sku, face) == Decimal("24")


def test_planning_rejects_order_failing_deep_checks(accept, plan_all, item, location, receive):
    """An inactive SKU or a long-passed ship-by → REJECTED with reasons and order.rejected."""
    sku = item("SKU-1001")
    receive(sku, location("P-01"), 50)
    inactive_item = accept("E1", [("SKU-1001", 5)])
    late = accept("E2", [("SKU-1001", 5)], ship_by=timezone.now() - timedelta(days=3))
    type(sku).objects.filter(pk=sku.pk).update(is_active=False)
    plan_all()
    inactive_item.refresh_from_db()
    late.refresh_from_db()
    assert inactive_item.status == late.status == OrderStatus.REJECTED
    assert inactive_item.rejection_reasons == [
        {"code": "item_inactive", "message": "SKU 'SKU-1001' is no longer active.", "lineNumber": 1}
    ]
    assert "ship_by_passed" in [r["code"] for r in late.rejection_reasons]
    assert not InventoryReservation.objects.exists()
    events = OutboxEvent.objects.filter(event_type="order.rejected")
    assert {e.aggregate_id for e in events} == {str(inactive_item.pk), str(late.pk)}
    assert set(inactive_item.lines.values_list("status", flat=True)) == {LineStatus.REJECTED}


def test_planning_rejects_order_of_a_store_no_longer_served(
    accept, plan_all, item, location, receive, store
):
    """A store whose warehouse grant was withdrawn after intake → REJECTED store_not_granted."""
    sku = item("SKU-1001")
    receive(sku, location("P-01"), 50)
    order = accept("E1", [("SKU-1001", 5)])
    store.system.warehouses.clear()
    plan_all()
    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED
    assert [r["code"] for r in order.rejection_reasons] == ["store_not_granted"]


def test_planning_job_rerun_changes_nothing(accept, item, location, receive, warehouse):
    """Running a partition's job again (same task id) reserves, waves and emits nothing new."""
    sku = item("SKU-1001")
    receive(sku, location("P-01"), 50)
    order = accept("E1", [("SKU-1001", 5)])
    group = planning_group_for("S042")
    first = planning_job_run(warehouse_id=warehouse.pk, planning_group=group, task_id="t-1")
    counts = (
        InventoryReservation.objects.count(),
        Allocation.objects.count(),
        OutboxEvent.objects.count(),
    )
    again = planning_job_run(warehouse_id=warehouse.pk, planning_group=group, task_id="t-1")
    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.status, again.attempts, again.orders_planned) == (PlanningJobStatus.DONE, 2, 1)
    assert counts == (
        InventoryReservation.objects.count(),
        Allocation.objects.count(),
        OutboxEvent.objects.count(),
    )
    assert PlanningJob.objects.count() == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.PLANNED


def test_order_cancel_releases_stock_for_a_backorder(accept, plan_all, item, location, receive):
    """Cancelling a planned order frees its stock and re-opens planning of a backorder."""
    sku = item("SKU-1001")
    face = location("P-01")
    receive(sku, face, 24)
    first = accept("E1", [("SKU-1001", 24)])
    plan_all()
    waiting = accept("E2", [("SKU-1001", 10)])
    plan_all()
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.BACKORDERED

    order_cancel(order_id=first.pk, reason="store asked")
    first.refresh_from_db()
    waiting.refresh_from_db()
    assert first.status == OrderStatus.CANCELLED
    assert set(Allocation.objects.filter(order=first).values_list("status", flat=True)) == {
        "RELEASED"
    }
    assert waiting.needs_planning
    assert _reserved(sku, face) == Decimal("0")
    plan_all()
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.PLANNED
    assert _reserved(sku, face) == Decimal("10")


def test_planning_handles_two_lines_of_the_same_item(accept, plan_all, item, location, receive):
    """Two lines of one SKU share the stock without reserving it twice."""
    sku = item("SKU-1001")
    face = location("P-01")
    receive(sku, face, 30)
    order = accept("E1", [("SKU-1001", 20), ("SKU-1001", 20)])
    plan_all()
    order.refresh_from_db()
    assert order.status == OrderStatus.BACKORDERED
    assert sorted(order.lines.values_list("qty_allocated", flat=True)) == [
        Decimal("10"),
        Decimal("20"),
    ]
    assert _reserved(sku, face) == Decimal("30")


def test_planning_sweep_plans_orders_a_lost_nudge_missed(accept, item, location, receive):
    """The beat sweep plans orders whose planning nudge never arrived."""
    from outbound.services import planning_sweep

    sku = item("SKU-1001")
    receive(sku, location("P-01"), 5)
    order = accept("E1", [("SKU-1001", 5)])
    result = planning_sweep()  # eager Celery in the unit tests: the nudged task runs here
    assert result["partitions_nudged"] == 1
    order.refresh_from_db()
    assert order.status in (OrderStatus.PLANNED, OrderStatus.RELEASED)
    assert ReplenishmentOrder.objects.filter(needs_planning=True).count() == 0


def test_order_zone_is_where_most_units_are_picked(
    accept, plan_all, item, location, receive, zone_b
):
    """First round (zone from the allocations just made): 7 units in B beat 5 in A."""
    a, b = item("SKU-1001"), item("SKU-1002")
    receive(a, location("P-01", pick_sequence=1), 50)
    receive(b, location("B-01", zone=zone_b, pick_sequence=2), 50)
    order = accept("E1", [("SKU-1001", 5), ("SKU-1002", 7)])
    plan_all()
    order.refresh_from_db()
    assert order.status == OrderStatus.PLANNED
    assert order.zone.code == "B"


def test_order_zone_counts_earlier_rounds(accept, plan_all, item, location, receive, zone_b):
    """A backorder planned in two rounds: the zone weighs both rounds' allocations."""
    a, b = item("SKU-1001"), item("SKU-1002")
    face_a = location("P-01", pick_sequence=1)
    receive(a, face_a, 9)
    receive(b, location("B-01", zone=zone_b, pick_sequence=2), 3)
    order = accept("E1", [("SKU-1001", 9), ("SKU-1002", 6)])
    plan_all()
    order.refresh_from_db()
    assert order.status == OrderStatus.BACKORDERED and order.zone_id is None
    receive(b, location("B-02", zone=zone_b, pick_sequence=3), 3)
    backorders_reopen_with_stock()
    plan_all()
    order.refresh_from_db()
    # The second round allocated 3 units, all in B; over both rounds A has 9, B 6.
    assert order.status == OrderStatus.PLANNED
    assert order.zone.code == "A"
    assert order.history.filter(history_change_reason="planning").count() == 2
