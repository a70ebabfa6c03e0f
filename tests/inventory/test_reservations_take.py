"""``reservations_take``: several reservations in one batch, each taking what its balance
still has, written as the very rows ``reservation_create`` writes."""

from decimal import Decimal

import pytest
from django.db import transaction

from inventory import services
from inventory.exceptions import InvalidPosting, PostingKeyReused
from inventory.models import (
    InventoryBalance,
    InventoryLedgerEntry,
    InventoryPosting,
    InventoryReservation,
)
from inventory.services import ReservationRequest
from wms.models import OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked(item, bin_a, bin_b, available):
    services.stock_receive(
        item=item, location=bin_a, status=available, qty=5, posting_key="r-a", source_ref="R"
    )
    services.stock_receive(
        item=item, location=bin_b, status=available, qty=8, posting_key="r-b", source_ref="R"
    )


def _request(item, location, status, qty, n):
    return ReservationRequest(
        item=item,
        location=location,
        status=status,
        qty=Decimal(qty),
        demand_ref=f"D{n}",
        posting_key=f"take-{n}",
    )


def _rows(reservation):
    """What a reservation posting wrote, without ids and times."""
    entry = InventoryLedgerEntry.objects.get(reservation=reservation)
    event = OutboxEvent.objects.get(
        event_type="reservation.committed", aggregate_id=str(reservation.pk)
    )
    data = dict(event.data)
    assert data.pop("reservationId") == reservation.pk
    assert data.pop("ledgerEntryIds") == [entry.pk]
    data.pop("postingKey"), data.pop("demandRef"), data.pop("sourceRef")
    return (
        (reservation.state, reservation.qty, reservation.balance_id, reservation.expires_at),
        (
            entry.posting.kind,
            entry.line_no,
            entry.entry_type,
            entry.on_hand_delta,
            entry.reserved_delta,
            entry.source_ref == entry.posting.source_ref == reservation.demand_ref,
        ),
        (event.aggregate_type, event.status, data),
    )


def test_each_request_takes_what_its_balance_still_has(
    item, bin_a, bin_b, available, stocked, assert_consistent
):
    """5 at A and 8 at B: 3 + 3 at A get 3 and 2, a third request at A gets nothing."""
    requests = [
        _request(item, bin_a, available, 3, 1),
        _request(item, bin_a, available, 3, 2),
        _request(item, bin_b, available, "7.5", 3),
        _request(item, bin_a, available, 1, 4),
    ]
    with transaction.atomic():
        taken = services.reservations_take(requests=requests)
    assert [r.qty if r else None for r in taken] == [Decimal(3), Decimal(2), Decimal("7.5"), None]
    assert [r.demand_ref for r in taken if r] == ["D1", "D2", "D3"]
    balances = dict(
        InventoryBalance.objects.values_list("location__code", "reserved").order_by("id")
    )
    assert balances == {bin_a.code: Decimal(5), bin_b.code: Decimal("7.5")}
    assert InventoryReservation.objects.count() == 3
    assert not InventoryPosting.objects.filter(posting_key="take-4").exists()
    assert_consistent()


def test_a_batch_writes_what_reservation_create_writes(
    item, bin_a, bin_b, available, stocked, assert_consistent
):
    """Same rows, and the same posting fingerprint: ``reservation_create`` with a batch
    posting's key and content replays it instead of refusing a reused key."""
    with transaction.atomic():
        [batched] = services.reservations_take(requests=[_request(item, bin_a, available, 2, 1)])
    single = services.reservation_create(
        item=item, location=bin_a, status=available, qty=2, demand_ref="D2", posting_key="one-2"
    )
    assert _rows(batched) == _rows(single)
    again = services.reservation_create(
        item=item, location=bin_a, status=available, qty=2, demand_ref="D1", posting_key="take-1"
    )
    assert again.replayed and again.pk == batched.pk
    with pytest.raises(PostingKeyReused):
        services.reservation_create(
            item=item,
            location=bin_a,
            status=available,
            qty=1,
            demand_ref="D1",
            posting_key="take-1",
        )
    assert_consistent()


def test_a_key_posted_before_replays_instead_of_posting_twice(
    item, bin_a, bin_b, available, stocked, assert_consistent
):
    """The batch finds one key taken: it writes nothing and posts one by one (a replay
    for that key, new postings for the rest)."""
    first = services.reservation_create(
        item=item, location=bin_a, status=available, qty=2, demand_ref="D1", posting_key="take-1"
    )
    with transaction.atomic():
        taken = services.reservations_take(
            requests=[
                _request(item, bin_a, available, 2, 1),
                _request(item, bin_b, available, 4, 2),
            ]
        )
    assert [r.replayed for r in taken] == [True, False]
    assert taken[0].pk == first.pk
    assert InventoryReservation.objects.count() == 2
    assert InventoryPosting.objects.filter(kind="RESERVE").count() == 2
    assert InventoryBalance.objects.get(location=bin_a).reserved == Decimal(2)
    assert_consistent()


def test_bad_input_takes_no_lock_and_writes_nothing(item, bin_a, available, stocked):
    with pytest.raises(InvalidPosting), transaction.atomic():
        services.reservations_take(
            requests=[
                _request(item, bin_a, available, 1, 1),
                ReservationRequest(item, bin_a, available, Decimal("-1"), "D2", "take-2"),
            ]
        )
    assert InventoryReservation.objects.count() == 0


def test_a_retried_batch_returns_its_reservations_though_the_stock_is_gone(
    item, bin_a, bin_b, available, stocked, assert_consistent
):
    """The first call took all of A; its retry (same keys) takes nothing more and hands
    back the same reservations, even the one that took less than asked."""
    requests = [_request(item, bin_a, available, 9, 1), _request(item, bin_b, available, 2, 2)]
    with transaction.atomic():
        first = services.reservations_take(requests=requests)
    with transaction.atomic():
        again = services.reservations_take(requests=requests)
    assert [r.qty for r in first] == [Decimal(5), Decimal(2)]
    assert [(r.pk, r.qty, r.replayed) for r in again] == [
        (first[0].pk, Decimal(5), True),
        (first[1].pk, Decimal(2), True),
    ]
    assert InventoryReservation.objects.count() == 2
    assert_consistent()


def test_a_key_reused_for_another_demand_is_refused(item, bin_a, available, stocked):
    with transaction.atomic():
        services.reservations_take(requests=[_request(item, bin_a, available, 1, 1)])
    other = ReservationRequest(item, bin_a, available, Decimal(1), "OTHER", "take-1")
    with pytest.raises(PostingKeyReused), transaction.atomic():
        services.reservations_take(requests=[other])
    assert InventoryReservation.objects.count() == 1
