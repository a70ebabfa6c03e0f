"""``reservations_consume``: a batch of picks posted with its locks taken once (the
handheld sync's stock), with the rules and rows of one ``reservation_consume`` each."""

from decimal import Decimal

import pytest
from django.db import transaction

from inventory import services
from inventory.models import InventoryBalance, InventoryPosting, ReservationState
from wms.exceptions import DomainError
from wms.models import OutboxEvent

from .helpers import balance_of
from .helpers import reserve as _reserve

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def stocked(item, bin_a, available):
    services.stock_receive(
        item=item, location=bin_a, status=available, qty=D("20"), posting_key="rcv", source_ref="t"
    )
    return item


def test_reservations_consume_two_picks_of_one_reservation(
    stocked, bin_a, staging, available, assert_consistent
):
    """Two picks of one reservation in a batch: the second sees the first (the
    reservation closes on the last unit), one posting and one event each."""
    reservation = _reserve(stocked, bin_a, available, "10", "res-1")
    with transaction.atomic():
        results = services.reservations_consume(
            [
                services.Consume(reservation, D("4"), staging, "batch-1"),
                services.Consume(reservation, D("6"), staging, "batch-2"),
            ]
        )
    assert [r.replayed for r in results] == [False, False]
    assert [e.entry_type for e in results[1].entries] == ["PICK_OUT", "PICK_IN"]
    reservation.refresh_from_db()
    assert (reservation.state, reservation.qty_consumed) == (ReservationState.CONSUMED, D("10"))
    assert balance_of(stocked, bin_a, available) == (D("10"), 0)
    assert balance_of(stocked, staging, available) == (D("10"), 0)
    assert InventoryPosting.objects.filter(posting_key__startswith="batch-").count() == 2
    assert OutboxEvent.objects.filter(event_type="reservation.consumed").count() == 2
    assert_consistent()


def test_reservations_consume_refusal_writes_nothing(stocked, bin_a, staging, available):
    """An over-consume in the middle of a batch refuses the batch before any write: the
    error names the refused pick, no posting, no balance (the staging row created to
    lock it is taken back), the reservation unchanged."""
    reservation = _reserve(stocked, bin_a, available, "5", "res-2")
    with transaction.atomic():
        with pytest.raises(DomainError) as err:
            services.reservations_consume(
                [
                    services.Consume(reservation, D("3"), staging, "over-1"),
                    services.Consume(reservation, D("3"), staging, "over-2"),
                ]
            )
        assert (err.value.code, err.value.posting_key) == ("reservation_over_consume", "over-2")
        assert not InventoryPosting.objects.filter(posting_key__startswith="over-").exists()
        assert not InventoryBalance.objects.filter(location=staging).exists()
    reservation.refresh_from_db()
    assert reservation.qty_consumed == 0
    assert balance_of(stocked, bin_a, available) == (D("20"), D("5"))


@pytest.mark.django_db(transaction=True)
def test_reservations_consume_needs_the_callers_transaction(stocked, bin_a, staging, available):
    """Outside a transaction the locks would be worth nothing: refused."""
    reservation = _reserve(stocked, bin_a, available, "5", "res-3")
    with pytest.raises(RuntimeError):
        services.reservations_consume([services.Consume(reservation, D("1"), staging, "x")])
