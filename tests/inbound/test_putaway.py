"""Put-away: placement by the warehouse's ordered rules, and confirmation posting one move."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from inbound.models import (
    PutAwayRuleType,
    PutAwayStrategy,
    PutAwayTaskStatus,
    ReceivingExceptionType,
)
from inbound.services import ReceiptLineSpec, putaway_task_confirm, receipt_post
from inventory.models import InventoryPosting, LedgerEntryType
from inventory.services import stock_receive
from tests.factories import LocationFactory, WarehouseFactory
from tests.inventory.helpers import balance_of
from wms.exceptions import BusinessValidationError, DomainError

pytestmark = pytest.mark.django_db

D = Decimal


def _receive(asn, receiver, *specs, status=None):
    lines = [ReceiptLineSpec(item=item, qty=D(qty), status_code=status) for item, qty in specs]
    return receipt_post(shipment=asn, lines=lines, actor=receiver)


@pytest.fixture
def asn(make_asn):
    return make_asn(
        lines=[
            (1, "SKU-A", "500", "EA"),
            (2, "SKU-B", "500", "EA"),
            (3, "SKU-C", "500", "EA"),
        ]
    )


def test_putaway_rules_place_by_first_matching_rule(
    layout, inbound_settings, strategy, asn, receiver
):
    """Fixed location, item class, nearest empty and damaged rules each place their goods."""
    result = _receive(asn, receiver, (layout.sku_b, "5"), (layout.sku_c, "7"), (layout.sku_a, "9"))
    placed = {task.item.sku: (task.to_location.code, task.rule.sequence) for task in result.tasks}
    assert placed == {
        "SKU-B": ("A-03", 20),  # fixed location
        "SKU-C": ("R-01", 30),  # item class FROZEN → reserve zone
        "SKU-A": ("A-01", 50),  # nearest empty pick face
    }
    damaged = _receive(asn, receiver, (layout.sku_a, "1"), status="DAMAGED")
    [task] = damaged.tasks
    assert (task.to_location, task.inventory_status) == (layout.qa1, layout.damaged)
    assert all(t.from_location == layout.rcv for t in result.tasks + damaged.tasks)


def test_putaway_rules_consolidate_with_the_same_item(
    layout, inbound_settings, strategy, asn, receiver
):
    """Stock of the item already at A-02 draws the new goods there, not to the empty A-01."""
    stock_receive(
        item=layout.sku_a,
        location=layout.a2,
        status=layout.available,
        qty=D("10"),
        posting_key="test:seed-a2",
        source_ref="test",
    )
    [task] = _receive(asn, receiver, (layout.sku_a, "20")).tasks
    assert task.to_location == layout.a2
    assert task.rule.rule_type == PutAwayRuleType.CONSOLIDATE


def test_putaway_rules_respect_capacity_and_open_tasks(
    layout, inbound_settings, strategy, asn, receiver
):
    """Open tasks take room: 60 + 60 do not both fit A-01 (100); too big for any pick face
    goes to reserve."""
    first = _receive(asn, receiver, (layout.sku_a, "60")).tasks[0]
    second = _receive(asn, receiver, (layout.sku_a, "60")).tasks[0]
    big = _receive(asn, receiver, (layout.sku_a, "150")).tasks[0]
    assert (first.to_location.code, second.to_location.code, big.to_location.code) == (
        "A-01",
        "A-02",
        "R-01",
    )
    small = _receive(asn, receiver, (layout.sku_a, "40")).tasks[0]
    assert small.to_location.code == "A-01"  # consolidates into the 40 left at A-01


def test_putaway_without_a_location_goes_to_staging_with_an_exception(
    layout, inbound_settings, asn, receiver
):
    """No strategy (or no rule finding room) → staging and a NO_PUTAWAY_LOCATION case."""
    result = _receive(asn, receiver, (layout.sku_a, "5"))
    [task] = result.tasks
    assert task.to_location == layout.stg
    assert task.strategy is None
    [case] = result.exceptions
    assert case.type == ReceivingExceptionType.NO_PUTAWAY_LOCATION
    assert case.put_away_task == task
    strategy = PutAwayStrategy.objects.create(warehouse=layout.warehouse, name="Tiny")
    strategy.rules.create(sequence=1, rule_type=PutAwayRuleType.NEAREST_EMPTY, zone=layout.pf)
    result = _receive(asn, receiver, (layout.sku_a, "101"))
    assert result.tasks[0].to_location == layout.stg
    assert result.tasks[0].strategy == strategy
    assert [c.type for c in result.exceptions] == [ReceivingExceptionType.NO_PUTAWAY_LOCATION]


def test_putaway_task_confirm_posts_one_move(
    layout, inbound_settings, strategy, asn, receiver, assert_inventory_clean
):
    """Confirming at the suggested location moves the stock once; repeating it is a replay."""
    [task] = _receive(asn, receiver, (layout.sku_a, "12")).tasks
    result = putaway_task_confirm(task=task, location=layout.a1, actor=receiver)
    assert not result.replayed and not result.overridden
    assert result.task.status == PutAwayTaskStatus.DONE
    assert result.task.confirmed_by == receiver
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == D("0")
    assert balance_of(layout.sku_a, layout.a1, layout.available)[0] == D("12")
    again = putaway_task_confirm(task=task, location=layout.a1, actor=receiver)
    assert again.replayed
    posting = InventoryPosting.objects.get(posting_key=task.posting_key)
    assert [e.entry_type for e in posting.entries.order_by("line_no")] == [
        LedgerEntryType.MOVE_OUT,
        LedgerEntryType.MOVE_IN,
    ]
    assert balance_of(layout.sku_a, layout.a1, layout.available)[0] == D("12")
    with pytest.raises(DomainError) as elsewhere:
        putaway_task_confirm(task=task, location=layout.a2, reason_code=layout.override)
    assert elsewhere.value.code == "task_not_open"
    assert_inventory_clean()


def test_putaway_task_confirm_wrong_location_needs_a_reason(
    layout, inbound_settings, strategy, asn, receiver
):
    """A scan of another location is refused and changes nothing, unless a reason is given."""
    [task] = _receive(asn, receiver, (layout.sku_a, "12")).tasks
    with pytest.raises(BusinessValidationError) as refused:
        putaway_task_confirm(task=task, location=layout.a2, actor=receiver)
    assert refused.value.code == "override_reason_required"
    assert "A-01" in refused.value.detail
    with pytest.raises(BusinessValidationError) as bad_reason:
        putaway_task_confirm(
            task=task, location=layout.a2, reason_code=layout.adjust_reason, actor=receiver
        )
    assert bad_reason.value.code == "invalid_reason_code"
    task.refresh_from_db()
    assert task.status == PutAwayTaskStatus.OPEN
    assert balance_of(layout.sku_a, layout.a2, layout.available)[0] == D("0")
    assert not InventoryPosting.objects.filter(posting_key=task.posting_key).exists()

    result = putaway_task_confirm(
        task=task, location=layout.a2, reason_code=layout.override, actor=receiver
    )
    assert result.overridden
    assert result.task.override_reason == layout.override
    assert balance_of(layout.sku_a, layout.a2, layout.available)[0] == D("12")


def test_putaway_task_confirm_refuses_another_warehouses_location(
    layout, inbound_settings, strategy, asn, receiver
):
    """A location of another warehouse is refused even with a reason."""
    elsewhere = LocationFactory(warehouse=WarehouseFactory(code="BCN1"), code="A-01")
    [task] = _receive(asn, receiver, (layout.sku_a, "1")).tasks
    with pytest.raises(BusinessValidationError) as refused:
        putaway_task_confirm(
            task=task, location=elsewhere, reason_code=layout.override, actor=receiver
        )
    assert refused.value.code == "unknown_location"


@pytest.mark.django_db(transaction=True)
def test_putaway_task_confirm_concurrent_double_tap_moves_once(
    layout, inbound_settings, strategy, make_asn, receiver
):
    """Two confirmations of one task on real connections: one move, one replay."""
    asn = make_asn(lines=[(1, "SKU-A", "10", "EA")])
    [task] = _receive(asn, receiver, (layout.sku_a, "10")).tasks
    barrier = threading.Barrier(2)
    outcomes = []

    def confirm():
        try:
            barrier.wait(timeout=10)
            outcomes.append(putaway_task_confirm(task=task, location=layout.a1).replayed)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == [False, True]
    assert balance_of(layout.sku_a, layout.a1, layout.available)[0] == D("10")
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == D("0")
