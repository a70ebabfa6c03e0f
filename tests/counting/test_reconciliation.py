"""Counting without a freeze: postings between a line's opening and its scan are no variance."""

from decimal import Decimal

import pytest

from counting.models import CountLineState, CountStatus, CountType
from counting.services import count_close, count_open, count_result_record
from inventory import services as inventory_services
from inventory.models import AdjustmentState, InventoryBalance, ReasonCode

D = Decimal


def _on_hand(item, location, status):
    row = InventoryBalance.objects.filter(item=item, location=location, status=status).first()
    return row.on_hand if row else D("0")


def _pick(item, location, staging, status, qty, key):
    """A real pick: reserve, then consume to staging (the picking path's postings)."""
    reservation = inventory_services.reservation_create(
        item=item,
        location=location,
        status=status,
        qty=D(qty),
        demand_ref=f"order:{key}",
        posting_key=f"test-reserve:{key}",
    )
    inventory_services.reservation_consume(
        reservation=reservation, qty=D(qty), to_location=staging, posting_key=f"test-pick:{key}"
    )


def _move(item, source, target, status, qty, key):
    inventory_services.stock_move(
        item=item,
        from_location=source,
        to_location=target,
        status=status,
        qty=D(qty),
        posting_key=f"test-move:{key}",
        source_ref="test",
    )


@pytest.mark.django_db
def test_count_close_adjusts_only_planted_variances_while_picking_and_receiving(
    warehouse, stocked, staging, available, receive, controller, counter_one, assert_consistent
):
    """Receipts, moves and picks between opening and scan are accounted for: the adjustments
    are exactly the planted variances, and the ledger still matches every balance."""
    bins, items = stocked
    sku1, sku2, sku3 = items
    count = count_open(
        warehouse=warehouse, type=CountType.CYCLE, zone=bins[0].zone, actor=controller
    )
    # The floor goes on: between the opening of the lines and their scan.
    receive(sku1, bins[0], 7)  # A-01 SKU-1: 10 -> 17
    _move(sku1, bins[1], bins[0], available, 4, "m1")  # A-02 -> A-01: 16 / 21
    _pick(sku1, bins[1], staging, available, 3, "p1")  # A-02 SKU-1: 13
    _pick(sku2, bins[1], staging, available, 2, "p2")  # A-02 SKU-2: 3
    receive(sku3, bins[3], 6)  # A-04 (opened empty) receives SKU-3: 6

    # The shelf: 2 of SKU-1 missing at A-01, 1 SKU-2 too many at A-02, 4 SKU-3 at A-03
    # that nobody booked, A-02 SKU-1 exact, A-04 as booked.
    count_result_record(
        count=count,
        lines=[
            {"location": "A-01", "sku": "SKU-1", "qty_counted": "19"},
            {"location": "A-02", "sku": "SKU-1", "qty_counted": "13"},
            {"location": "A-02", "sku": "SKU-2", "qty_counted": "4"},
            {"location": "A-03", "sku": "SKU-3", "qty_counted": "4"},
            {"location": "A-04", "sku": "SKU-3", "qty_counted": "6"},
        ],
        actor=counter_one,
        request_key="scan-1",
    )
    # After the scan: more movements, which are no variance either.
    receive(sku1, bins[0], 5)  # 21 + 5
    _pick(sku1, bins[1], staging, available, 1, "p3")  # A-02 SKU-1: 12

    closed = count_close(count=count, actor=controller)

    planted = {("A-01", "SKU-1"): D("-2"), ("A-02", "SKU-2"): D("1"), ("A-03", "SKU-3"): D("4")}
    made = {(a.location.code, a.item.sku): a.qty_delta for a in closed.adjustments}
    assert made == planted
    assert all(a.state == AdjustmentState.APPLIED for a in closed.adjustments)
    assert {a.reason_code.code for a in closed.adjustments} == {"COUNT_DIFF"}
    assert closed.count.status == CountStatus.RECONCILED
    # The books end where the shelf was, plus what moved after the scan.
    assert _on_hand(sku1, bins[0], available) == D("19") + 5
    assert _on_hand(sku1, bins[1], available) == D("13") - 1
    assert _on_hand(sku2, bins[1], available) == D("4")
    assert _on_hand(sku3, bins[2], available) == D("4")
    assert _on_hand(sku3, bins[3], available) == D("6")
    lines = {
        (line.location.code, line.item.sku if line.item else None): line
        for line in count.lines.select_related("location", "item")
    }
    assert lines[("A-01", "SKU-1")].qty_moved == D("11")
    assert lines[("A-03", "SKU-3")].added_at_scan
    assert all(line.state == CountLineState.RECONCILED for line in lines.values())
    assert_consistent()


@pytest.mark.django_db
def test_count_close_empty_location_counts_every_line_zero(
    warehouse, stocked, controller, counter_one, receive, assert_consistent
):
    """ "Location empty" counts 0 for what the books hold there, also stock booked after the
    opening; the losses are adjusted."""
    bins, items = stocked
    count = count_open(
        warehouse=warehouse, type=CountType.SPOT, locations=["A-02"], actor=controller
    )
    receive(items[2], bins[1], 3)  # booked at A-02 after the opening: no line yet
    count_result_record(
        count=count, lines=[{"location": "A-02", "empty": True}], actor=counter_one, request_key="e"
    )
    closed = count_close(count=count, actor=controller)
    made = sorted((a.item.sku, a.qty_delta) for a in closed.adjustments)
    assert made == [("SKU-1", D("-20")), ("SKU-2", D("-5")), ("SKU-3", D("-3"))]
    assert_consistent()


@pytest.mark.django_db
@pytest.mark.usefixtures("stocked")
def test_count_close_leaves_uncounted_lines_alone(warehouse, controller, counter_one):
    """Lines nobody counted are marked not counted and adjust nothing."""
    count = count_open(warehouse=warehouse, type=CountType.FULL, actor=controller)
    count_result_record(
        count=count,
        lines=[{"location": "A-01", "sku": "SKU-1", "qty_counted": "10"}],
        actor=counter_one,
        request_key="one",
    )
    closed = count_close(count=count, actor=controller)
    assert closed.adjustments == []
    assert closed.count.status == CountStatus.RECONCILED
    states = set(count.lines.values_list("state", flat=True))
    assert states == {CountLineState.RECONCILED, CountLineState.NOT_COUNTED}


@pytest.mark.django_db
def test_count_close_blocks_a_loss_of_reserved_stock(
    warehouse, stocked, available, controller, counter_one
):
    """A loss the balance cannot take (its stock is reserved) leaves the line blocked and the
    count pending; the other lines are adjusted."""
    bins, items = stocked
    inventory_services.reservation_create(
        item=items[0],
        location=bins[0],
        status=available,
        qty=D("10"),
        demand_ref="o:1",
        posting_key="res-all",
    )
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
    closed = count_close(count=count, actor=controller)
    assert [(a.item.sku, a.qty_delta) for a in closed.adjustments] == [("SKU-2", D("1"))]
    blocked = count.lines.get(state=CountLineState.BLOCKED)
    assert blocked.location.code == "A-01"
    assert "insufficient_available" in blocked.note
    assert closed.count.status == CountStatus.PENDING_APPROVAL


@pytest.mark.django_db
def test_count_reason_code_exists_for_adjustments(db):
    """The migration creates the reason code count adjustments carry."""
    assert ReasonCode.objects.filter(code="COUNT_DIFF", use="ADJUSTMENT").exists()


@pytest.mark.django_db
def test_count_settle_after_the_approver_approves(warehouse, stocked, controller, counter_one):
    """Above the approval threshold a count's adjustment waits, the count is pending (settling
    changes nothing); a second person's approval reconciles the count in its transaction."""
    from django.contrib.auth.models import Group

    from counting.services import count_settle
    from inventory.models import AdjustmentThreshold
    from tests.factories import UserFactory
    from wms.roles import SUPERVISOR

    AdjustmentThreshold.objects.create(warehouse=warehouse, max_abs_qty=D("1"))
    count = count_open(
        warehouse=warehouse, type=CountType.SPOT, locations=["A-01"], actor=controller
    )
    count_result_record(
        count=count,
        lines=[{"location": "A-01", "sku": "SKU-1", "qty_counted": "7"}],
        actor=counter_one,
        request_key="s1",
    )
    closed = count_close(count=count, actor=controller)
    [adjustment] = closed.adjustments
    assert adjustment.state == AdjustmentState.PENDING_APPROVAL
    assert closed.count.status == CountStatus.PENDING_APPROVAL
    assert count_settle(count=count).status == CountStatus.PENDING_APPROVAL
    approver = UserFactory(username="boss", warehouses=[warehouse])
    approver.groups.add(Group.objects.get(name=SUPERVISOR))
    inventory_services.adjustment_approve(adjustment_id=adjustment.pk, approver=approver)
    count.refresh_from_db()
    assert count.status == CountStatus.RECONCILED
    assert count_settle(count=count).status == CountStatus.RECONCILED
    bins, items = stocked
    assert _on_hand(items[0], bins[0], bins[0].balances.first().status) == D("7")
