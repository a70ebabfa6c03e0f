"""Oldest stock first: the planner dates stock from the ledger (committed postings)."""

import uuid
from decimal import Decimal

import pytest

from inventory import services as inventory_services
from outbound.models import Allocation

pytestmark = pytest.mark.django_db(transaction=True)


def _allocated_at(order):
    return sorted(
        (a.location.code, a.qty) for a in Allocation.objects.filter(order=order, status="ACTIVE")
    )


def test_planning_takes_oldest_stock_first(accept, plan_all, item, location, receive, settings):
    """Of two pick faces, the one whose stock arrived first is used, whatever the path."""
    settings.WMS_PLANNING_FIFO_BUCKET_MINUTES = 0
    sku = item("SKU-1001")
    near = location("P-01", pick_sequence=1)
    far = location("P-02", pick_sequence=2)
    receive(sku, far, 50)  # each receipt commits on its own: distinct ledger times
    receive(sku, near, 50)
    order = accept("E1", [("SKU-1001", 30)])
    plan_all()
    assert _allocated_at(order) == [("P-02", Decimal("30"))]


def test_planning_dates_stock_by_what_is_left(
    accept, plan_all, item, location, receive, available, settings
):
    """Stock that left a location no longer makes it old: the remaining layers count."""
    settings.WMS_PLANNING_FIFO_BUCKET_MINUTES = 0
    sku = item("SKU-1001")
    first = location("P-01", pick_sequence=1)
    second = location("P-02", pick_sequence=2)
    receive(sku, first, 10)  # oldest layer of P-01 ...
    inventory_services.stock_issue(
        item=sku,
        location=first,
        status=available,
        qty=Decimal("10"),
        posting_key=f"test-issue:{uuid.uuid4()}",
        source_ref="test",
    )  # ... is gone
    receive(sku, second, 10)
    receive(sku, first, 10)  # P-01 now holds only stock newer than P-02's
    order = accept("E1", [("SKU-1001", 5)])
    plan_all()
    assert _allocated_at(order) == [("P-02", Decimal("5"))]


def test_planning_same_day_stock_prefers_fewest_locations(
    accept, plan_all, item, location, receive
):
    """Within one FIFO bucket (a day), one covering location beats the older small one."""
    sku = item("SKU-1001")
    small = location("P-01", pick_sequence=1)
    big = location("P-02", pick_sequence=2)
    receive(sku, small, 5)
    receive(sku, big, 50)
    order = accept("E1", [("SKU-1001", 20)])
    plan_all()
    assert _allocated_at(order) == [("P-02", Decimal("20"))]
