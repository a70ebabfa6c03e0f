"""The posting service: every stock change, its ledger entries, balances, events and errors."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory import services
from inventory.models import (
    InventoryBalance,
    InventoryLedgerEntry,
    InventoryPosting,
    InventoryReservation,
    LedgerEntryType,
    ReservationState,
)
from tests.factories import ItemFactory, LocationFactory, UserFactory, WarehouseFactory
from wms.exceptions import DomainError
from wms.models import OutboxEvent

from .helpers import balance_of
from .helpers import reserve as _reserve

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def stocked(item, bin_a, available):
    """20 units of the item available in bin A."""
    services.stock_receive(
        item=item,
        location=bin_a,
        status=available,
        qty=D("20"),
        posting_key="rcv-setup",
        source_ref="Receipt:setup",
    )
    return item


# --- receipts and idempotency -------------------------------------------------


def test_stock_receive_creates_balance_entry_and_event(item, bin_a, available, assert_consistent):
    """A receipt appends one ledger entry, creates the balance and writes inventory.received."""
    user = UserFactory(username="receiver1")
    result = services.stock_receive(
        item=item,
        location=bin_a,
        status=available,
        qty=D("12.5"),
        posting_key="rcv-1",
        source_ref="ReceiptLine:1",
        actor=user,
    )
    assert not result.replayed
    [entry] = result.entries
    assert entry.entry_type == LedgerEntryType.RECEIPT
    assert entry.on_hand_delta == D("12.5") and entry.reserved_delta == 0
    assert entry.actor == user and entry.actor_label == "receiver1"
    assert entry.correlation_id
    balance = InventoryBalance.objects.get(item=item, location=bin_a, status=available)
    assert (balance.on_hand, balance.reserved, balance.available) == (D("12.5"), 0, D("12.5"))
    assert balance.warehouse_id == item.warehouse_id
    event = OutboxEvent.objects.get(event_type="inventory.received")
    assert event.data["qty"] == "12.500"
    assert event.data["sku"] == "SKU-1001"
    assert event.data["ledgerEntryIds"] == [entry.pk]
    assert event.correlation_id == entry.correlation_id
    assert_consistent()


def test_stock_receive_same_key_replays_first_result(item, bin_a, available):
    """The same posting key and content posts once and returns the first entries."""
    kwargs = dict(
        item=item, location=bin_a, status=available, qty=D("5"), posting_key="rcv-2", source_ref="R"
    )
    first = services.stock_receive(**kwargs)
    again = services.stock_receive(**{**kwargs, "qty": "5.000"})
    assert again.replayed and not first.replayed
    assert again.entry_ids == first.entry_ids
    assert balance_of(item, bin_a, available) == (D("5"), 0)
    assert InventoryLedgerEntry.objects.count() == 1
    assert OutboxEvent.objects.filter(event_type="inventory.received").count() == 1


def test_stock_receive_same_key_other_content_is_refused(item, bin_a, available):
    """The same posting key with different content → posting_key_reused, no second effect."""
    services.stock_receive(
        item=item, location=bin_a, status=available, qty=D("5"), posting_key="k", source_ref="R"
    )
    with pytest.raises(DomainError) as err:
        services.stock_receive(
            item=item, location=bin_a, status=available, qty=D("6"), posting_key="k", source_ref="R"
        )
    assert err.value.code == "posting_key_reused"
    assert err.value.status == 422
    with pytest.raises(DomainError) as err:
        services.stock_issue(
            item=item, location=bin_a, status=available, qty=D("5"), posting_key="k", source_ref="R"
        )
    assert err.value.code == "posting_key_reused"
    assert balance_of(item, bin_a, available) == (D("5"), 0)


def test_stock_receive_refused_posting_leaves_key_free(item, bin_a, available, warehouse):
    """A refused posting stores nothing: the key can be used once the input is fixed."""
    other_wh_bin = LocationFactory(warehouse=WarehouseFactory(code="ZZZ1"), code="Z-1")
    with pytest.raises(DomainError) as err:
        services.stock_receive(
            item=item,
            location=other_wh_bin,
            status=available,
            qty=D("1"),
            posting_key="fix-me",
            source_ref="R",
        )
    assert err.value.code == "warehouse_mismatch"
    assert not InventoryPosting.objects.filter(posting_key="fix-me").exists()
    result = services.stock_receive(
        item=item,
        location=bin_a,
        status=available,
        qty=D("1"),
        posting_key="fix-me",
        source_ref="R",
    )
    assert not result.replayed


@pytest.mark.parametrize(
    ("qty", "code"),
    [
        (0, "invalid_quantity"),
        (D("-1"), "invalid_quantity"),
        (1.5, "invalid_quantity"),
        (D("0.0001"), "invalid_quantity"),
        ("abc", "invalid_quantity"),
        (D("NaN"), "invalid_quantity"),
    ],
)
def test_stock_receive_bad_quantity_is_refused(item, bin_a, available, qty, code):
    """Zero, negative, float, over-precise and non-numeric quantities are refused (422)."""
    with pytest.raises(DomainError) as err:
        services.stock_receive(
            item=item, location=bin_a, status=available, qty=qty, posting_key="q", source_ref="R"
        )
    assert (err.value.code, err.value.status) == (code, 422)
    assert not InventoryLedgerEntry.objects.exists()


def test_stock_receive_into_inactive_location_is_refused(item, bin_a, available):
    """An inactive location takes no stock."""
    bin_a.is_active = False
    bin_a.save()
    with pytest.raises(DomainError) as err:
        services.stock_receive(
            item=item, location=bin_a, status=available, qty=1, posting_key="x", source_ref="R"
        )
    assert err.value.code == "location_inactive"


# --- moves, status transfers, issues, adjustments -----------------------------


def test_stock_move_moves_available_only(stocked, bin_a, bin_b, available, assert_consistent):
    """A move takes from one bin and puts into another; reserved stock cannot move."""
    _reserve(stocked, bin_a, available, "15", "res-move")
    result = services.stock_move(
        item=stocked,
        from_location=bin_a,
        to_location=bin_b,
        status=available,
        qty=D("5"),
        posting_key="mv-1",
        source_ref="PutAwayTask:1",
    )
    assert [e.entry_type for e in result.entries] == ["MOVE_OUT", "MOVE_IN"]
    assert balance_of(stocked, bin_a, available) == (D("15"), D("15"))
    assert balance_of(stocked, bin_b, available) == (D("5"), 0)
    with pytest.raises(DomainError) as err:
        services.stock_move(
            item=stocked,
            from_location=bin_a,
            to_location=bin_b,
            status=available,
            qty=D("0.001"),
            posting_key="mv-2",
            source_ref="x",
        )
    assert (err.value.code, err.value.status) == ("insufficient_available", 409)
    assert err.value.extra["available"] == "0.000"
    assert OutboxEvent.objects.filter(event_type="inventory.moved").count() == 1
    assert_consistent()


def test_stock_move_same_location_is_refused(stocked, bin_a, available):
    """A move to the location it comes from is refused."""
    with pytest.raises(DomainError) as err:
        services.stock_move(
            item=stocked,
            from_location=bin_a,
            to_location=bin_a,
            status=available,
            qty=1,
            posting_key="m",
            source_ref="x",
        )
    assert err.value.code == "same_location"


def test_stock_move_from_empty_location_is_insufficient(item, bin_a, bin_b, available):
    """Moving from a location that never held the item → insufficient_available, no rows."""
    with pytest.raises(DomainError) as err:
        services.stock_move(
            item=item,
            from_location=bin_a,
            to_location=bin_b,
            status=available,
            qty=1,
            posting_key="m",
            source_ref="x",
        )
    assert err.value.code == "insufficient_available"
    assert not InventoryBalance.objects.exists()
    assert not InventoryPosting.objects.exists()


def test_stock_status_transfer_quarantines_stock(
    stocked, bin_a, available, quarantined, assert_consistent
):
    """Available → quarantined moves quantity between the two balances of one bin."""
    result = services.stock_status_transfer(
        item=stocked,
        location=bin_a,
        from_status=available,
        to_status=quarantined,
        qty=D("4"),
        posting_key="st-1",
        source_ref="QC:1",
        reason_code="DAMAGED",
    )
    assert [e.entry_type for e in result.entries] == ["STATUS_OUT", "STATUS_IN"]
    assert balance_of(stocked, bin_a, available) == (D("16"), 0)
    assert balance_of(stocked, bin_a, quarantined) == (D("4"), 0)
    event = OutboxEvent.objects.get(event_type="inventory.status_changed")
    assert (event.data["fromStatus"], event.data["toStatus"]) == ("AVAILABLE", "QUARANTINED")
    with pytest.raises(DomainError) as err:
        _reserve(stocked, bin_a, quarantined, "1", "res-q")
    assert err.value.code == "status_not_allocatable"
    assert_consistent()


def test_stock_issue_takes_unreserved_stock(stocked, bin_a, available, assert_consistent):
    """An issue ships available stock and refuses to ship reserved stock."""
    _reserve(stocked, bin_a, available, "18", "res-issue")
    services.stock_issue(
        item=stocked,
        location=bin_a,
        status=available,
        qty=D("2"),
        posting_key="iss-1",
        source_ref="Shipment:1",
    )
    assert balance_of(stocked, bin_a, available) == (D("18"), D("18"))
    with pytest.raises(DomainError) as err:
        services.stock_issue(
            item=stocked,
            location=bin_a,
            status=available,
            qty=D("1"),
            posting_key="iss-2",
            source_ref="Shipment:2",
        )
    assert err.value.code == "insufficient_available"
    assert OutboxEvent.objects.filter(event_type="inventory.issued").count() == 1
    assert_consistent()


def test_stock_adjust_posts_count_differences(stocked, bin_a, available, assert_consistent):
    """Adjustments add or remove stock with a reason code and a finance-ready event."""
    services.stock_adjust(
        item=stocked,
        location=bin_a,
        status=available,
        qty_delta=D("-3"),
        reason_code="COUNT",
        posting_key="adj-1",
        source_ref="CountLine:1",
    )
    services.stock_adjust(
        item=stocked,
        location=bin_a,
        status=available,
        qty_delta=D("1"),
        reason_code="COUNT",
        posting_key="adj-2",
        source_ref="CountLine:2",
    )
    assert balance_of(stocked, bin_a, available) == (D("18"), 0)
    first = OutboxEvent.objects.filter(event_type="inventory.adjusted").order_by("id").first()
    assert first.data["qty"] == "-3.000"
    assert first.data["amount"] == "-7.5000"
    assert first.data["reasonCode"] == "COUNT"
    with pytest.raises(DomainError) as err:
        services.stock_adjust(
            item=stocked,
            location=bin_a,
            status=available,
            qty_delta=D("-19"),
            reason_code="COUNT",
            posting_key="adj-3",
            source_ref="CountLine:3",
        )
    assert err.value.code == "insufficient_available"
    with pytest.raises(DomainError) as err:
        services.stock_adjust(
            item=stocked,
            location=bin_a,
            status=available,
            qty_delta=D("1"),
            reason_code="",
            posting_key="adj-4",
            source_ref="CountLine:4",
        )
    assert err.value.code == "reason_code_required"
    assert_consistent()


def test_stock_adjust_cannot_remove_reserved_stock(stocked, bin_a, available):
    """A negative adjustment may not eat into reserved stock (release first)."""
    _reserve(stocked, bin_a, available, "19", "res-adj")
    with pytest.raises(DomainError) as err:
        services.stock_adjust(
            item=stocked,
            location=bin_a,
            status=available,
            qty_delta=D("-2"),
            reason_code="COUNT",
            posting_key="adj-r",
            source_ref="CountLine:9",
        )
    assert err.value.code == "insufficient_available"
    assert balance_of(stocked, bin_a, available) == (D("20"), D("19"))


# --- reservations -------------------------------------------------------------


def test_reservation_create_holds_stock(stocked, bin_a, available, assert_consistent):
    """A committed reservation raises reserved and lowers available; over-reserving is refused."""
    reservation = _reserve(stocked, bin_a, available, "8", "res-1")
    assert reservation.state == ReservationState.COMMITTED
    assert reservation.replayed is False
    assert reservation.qty_open == D("8")
    assert balance_of(stocked, bin_a, available) == (D("20"), D("8"))
    [entry] = reservation.posting_result.entries
    assert (entry.entry_type, entry.reserved_delta, entry.reservation_id) == (
        "RESERVE",
        D("8"),
        reservation.pk,
    )
    assert OutboxEvent.objects.filter(
        event_type="reservation.committed", aggregate_id=str(reservation.pk)
    ).exists()
    with pytest.raises(DomainError) as err:
        _reserve(stocked, bin_a, available, "12.001", "res-2")
    assert err.value.code == "insufficient_available"
    _reserve(stocked, bin_a, available, "12", "res-3")
    assert balance_of(stocked, bin_a, available) == (D("20"), D("20"))
    assert_consistent()


def test_reservation_create_replay_returns_same_reservation(stocked, bin_a, available):
    """Reserving twice with one key reserves once and returns the first reservation."""
    first = _reserve(stocked, bin_a, available, "8", "res-same")
    again = _reserve(stocked, bin_a, available, "8", "res-same")
    assert again.pk == first.pk and again.replayed is True
    assert balance_of(stocked, bin_a, available) == (D("20"), D("8"))
    assert InventoryReservation.objects.count() == 1
    with pytest.raises(DomainError) as err:
        _reserve(stocked, bin_a, available, "9", "res-same")
    assert err.value.code == "posting_key_reused"


def test_reservation_consume_partial_then_rest(
    stocked, bin_a, staging, available, assert_consistent
):
    """A pick moves reserved stock to staging; partial picks keep it open, the last closes it."""
    reservation = _reserve(stocked, bin_a, available, "10", "res-c")
    result = services.reservation_consume(
        reservation=reservation, qty=D("4"), to_location=staging, posting_key="pick-1"
    )
    assert [e.entry_type for e in result.entries] == ["PICK_OUT", "PICK_IN"]
    assert reservation.state == ReservationState.COMMITTED and reservation.qty_open == D("6")
    assert balance_of(stocked, bin_a, available) == (D("16"), D("6"))
    assert balance_of(stocked, staging, available) == (D("4"), 0)
    services.reservation_consume(
        reservation=reservation, qty=D("6"), to_location=staging, posting_key="pick-2"
    )
    reservation.refresh_from_db()
    assert reservation.state == ReservationState.CONSUMED
    assert reservation.qty_consumed == D("10") and reservation.resolved_at is not None
    assert balance_of(stocked, bin_a, available) == (D("10"), 0)
    assert balance_of(stocked, staging, available) == (D("10"), 0)
    replay = services.reservation_consume(
        reservation=reservation, qty=D("4"), to_location=staging, posting_key="pick-1"
    )
    assert replay.replayed and replay.entry_ids == result.entry_ids
    assert_consistent()


def test_reservation_consume_beyond_reserved_is_refused(stocked, bin_a, staging, available):
    """Consuming more than is still reserved → reservation_over_consume, nothing changes."""
    reservation = _reserve(stocked, bin_a, available, "5", "res-o")
    services.reservation_consume(
        reservation=reservation, qty=D("3"), to_location=staging, posting_key="p1"
    )
    with pytest.raises(DomainError) as err:
        services.reservation_consume(
            reservation=reservation, qty=D("3"), to_location=staging, posting_key="p2"
        )
    assert (err.value.code, err.value.status) == ("reservation_over_consume", 409)
    assert err.value.extra["open"] == "2.000"
    assert balance_of(stocked, bin_a, available) == (D("17"), D("2"))


def test_reservation_release_twice_is_refused(stocked, bin_a, available, assert_consistent):
    """A released reservation refuses a second release under a new key (no second effect)."""
    reservation = _reserve(stocked, bin_a, available, "5", "res-r")
    result = services.reservation_release(reservation=reservation, posting_key="rel-1")
    assert reservation.state == ReservationState.RELEASED and reservation.qty_released == D("5")
    assert [e.reserved_delta for e in result.entries] == [D("-5")]
    assert balance_of(stocked, bin_a, available) == (D("20"), 0)
    with pytest.raises(DomainError) as err:
        services.reservation_release(reservation=reservation, posting_key="rel-2")
    assert (err.value.code, err.value.status) == ("reservation_not_open", 409)
    replay = services.reservation_release(reservation=reservation, posting_key="rel-1")
    assert replay.replayed and replay.entry_ids == result.entry_ids
    assert balance_of(stocked, bin_a, available) == (D("20"), 0)
    assert_consistent()


def test_reservation_release_partial_and_over_release(stocked, bin_a, staging, available):
    """A partial release keeps the rest held; releasing more than is held is refused."""
    reservation = _reserve(stocked, bin_a, available, "6", "res-pr")
    services.reservation_release(reservation=reservation, qty=D("2"), posting_key="rel-p1")
    assert reservation.state == ReservationState.COMMITTED and reservation.qty_open == D("4")
    with pytest.raises(DomainError) as err:
        services.reservation_release(reservation=reservation, qty=D("5"), posting_key="rel-p2")
    assert err.value.code == "reservation_over_release"
    services.reservation_consume(
        reservation=reservation, qty=D("1"), to_location=staging, posting_key="pick-pr"
    )
    services.reservation_release(reservation=reservation, posting_key="rel-p3")
    reservation.refresh_from_db()
    assert reservation.state == ReservationState.RELEASED
    assert (reservation.qty_consumed, reservation.qty_released) == (D("1"), D("5"))
    with pytest.raises(DomainError) as err:
        services.reservation_consume(
            reservation=reservation, qty=D("1"), to_location=staging, posting_key="pick-pr2"
        )
    assert err.value.code == "reservation_not_open"


def test_reservation_consume_after_expiry_is_refused(stocked, bin_a, staging, available):
    """Past its expiry (database clock) a reservation cannot be picked, even before the task ran."""
    past = timezone.now() - timedelta(hours=1)
    reservation = _reserve(stocked, bin_a, available, "5", "res-e", expires_at=past)
    with pytest.raises(DomainError) as err:
        services.reservation_consume(
            reservation=reservation, qty=D("1"), to_location=staging, posting_key="pick-e"
        )
    assert (err.value.code, err.value.status) == ("reservation_expired", 409)
    assert balance_of(stocked, bin_a, available) == (D("20"), D("5"))


def test_reservation_expire_due_expires_only_due_ones(
    stocked, bin_a, staging, available, assert_consistent
):
    """The expiry task releases due reservations once; later consume/release answer expired."""
    from inventory.tasks import reservation_expire_due_task

    due = _reserve(
        stocked, bin_a, available, "5", "res-due", expires_at=timezone.now() - timedelta(hours=1)
    )
    later = _reserve(
        stocked, bin_a, available, "3", "res-later", expires_at=timezone.now() + timedelta(hours=1)
    )
    forever = _reserve(stocked, bin_a, available, "2", "res-forever")
    assert reservation_expire_due_task.delay().get() == 1
    assert reservation_expire_due_task.delay().get() == 0
    due.refresh_from_db()
    later.refresh_from_db()
    forever.refresh_from_db()
    assert due.state == ReservationState.EXPIRED and due.qty_released == D("5")
    assert later.state == forever.state == ReservationState.COMMITTED
    assert balance_of(stocked, bin_a, available) == (D("20"), D("5"))
    entry = InventoryLedgerEntry.objects.get(entry_type=LedgerEntryType.EXPIRE)
    assert entry.actor_label == services.EXPIRY_ACTOR and entry.reservation_id == due.pk
    assert OutboxEvent.objects.filter(event_type="reservation.expired").count() == 1
    for call in (
        lambda: services.reservation_release(reservation=due, posting_key="rel-due"),
        lambda: services.reservation_consume(
            reservation=due, qty=D("1"), to_location=staging, posting_key="pick-due"
        ),
    ):
        with pytest.raises(DomainError) as err:
            call()
        assert err.value.code == "reservation_expired"
    assert_consistent()


def test_reservation_pending_commit_then_consume(stocked, bin_a, staging, available):
    """A pending reservation holds stock, cannot be picked until committed, then can."""
    reservation = _reserve(stocked, bin_a, available, "4", "res-pend", pending=True)
    assert reservation.state == ReservationState.PENDING
    assert balance_of(stocked, bin_a, available) == (D("20"), D("4"))
    with pytest.raises(DomainError) as err:
        services.reservation_consume(
            reservation=reservation, qty=D("1"), to_location=staging, posting_key="pick-pend"
        )
    assert err.value.code == "reservation_pending"
    services.reservation_commit(reservation=reservation)
    assert reservation.state == ReservationState.COMMITTED
    services.reservation_commit(reservation=reservation)  # committing again changes nothing
    assert OutboxEvent.objects.filter(event_type="reservation.committed").count() == 1
    services.reservation_consume(
        reservation=reservation, qty=D("4"), to_location=staging, posting_key="pick-pend"
    )
    assert reservation.state == ReservationState.CONSUMED
    with pytest.raises(DomainError) as err:
        services.reservation_commit(reservation=reservation)
    assert err.value.code == "reservation_not_open"


def test_reservation_create_across_warehouses_is_refused(stocked, available):
    """An item cannot be reserved in a location of another warehouse."""
    other = LocationFactory(warehouse=WarehouseFactory(code="OTH1"), code="O-1")
    with pytest.raises(DomainError) as err:
        _reserve(stocked, other, available, "1", "res-x")
    assert err.value.code == "warehouse_mismatch"


def test_services_inside_caller_transaction_roll_back_with_it(item, bin_a, available):
    """Called inside a caller's transaction, a posting commits or rolls back with it."""
    from django.db import transaction

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        services.stock_receive(
            item=item, location=bin_a, status=available, qty=1, posting_key="tx", source_ref="R"
        )
        raise Boom
    assert not InventoryPosting.objects.filter(posting_key="tx").exists()
    assert balance_of(item, bin_a, available) == (0, 0)


def test_services_refused_posting_keeps_caller_transaction_usable(stocked, bin_a, available):
    """A refused posting inside a caller's transaction leaves that transaction usable."""
    from django.db import transaction

    with transaction.atomic():
        with pytest.raises(DomainError):
            _reserve(stocked, bin_a, available, "50", "too-much")
        _reserve(stocked, bin_a, available, "5", "fine")
    assert balance_of(stocked, bin_a, available) == (D("20"), D("5"))


def test_balances_are_per_item_location_status(warehouse, bin_a, available):
    """Two items in one bin keep separate balances."""
    one, two = ItemFactory(warehouse=warehouse), ItemFactory(warehouse=warehouse)
    for n, it in enumerate((one, two)):
        services.stock_receive(
            item=it, location=bin_a, status=available, qty=n + 1, posting_key=f"r{n}", source_ref=""
        )
    assert balance_of(one, bin_a, available) == (D("1"), 0)
    assert balance_of(two, bin_a, available) == (D("2"), 0)


# --- postings inside a caller's transaction -------------------------------------


def test_refused_postings_inside_a_transaction_leave_it_usable_and_write_nothing(
    stocked, bin_a, staging, available, assert_consistent
):
    """A refused posting in the caller's transaction takes back its rows; the caller goes on."""
    from django.db import transaction

    rows_before = (InventoryPosting.objects.count(), InventoryBalance.objects.count())
    with transaction.atomic():
        with pytest.raises(DomainError) as short:
            _reserve(stocked, bin_a, available, "21", "too-much")
        reservation = _reserve(stocked, bin_a, available, "5", "fits")
        with pytest.raises(DomainError) as over:
            services.reservation_consume(
                reservation=reservation, qty=D("6"), to_location=staging, posting_key="over"
            )
        services.reservation_consume(
            reservation=reservation, qty=D("5"), to_location=staging, posting_key="pick"
        )
    assert short.value.code == "insufficient_available"
    assert over.value.code == "reservation_over_consume"
    assert not InventoryPosting.objects.filter(posting_key__in=["too-much", "over"]).exists()
    # The staging balance created for the refused pick went with it; the real pick made one.
    assert InventoryPosting.objects.count() == rows_before[0] + 2
    assert InventoryBalance.objects.count() == rows_before[1] + 1
    assert balance_of(stocked, staging, available) == (D("5"), D("0"))
    # A refused key is free for a later, valid posting.
    again = _reserve(stocked, bin_a, available, "1", "too-much")
    assert not again.replayed
    assert_consistent()


def test_engine_statements_raise_django_database_errors():
    """A failing engine statement raises Django's error type (the deadlock retries catch those)."""
    from django.db import DataError, transaction

    from inventory.services.engine import _pg_fetchone

    with pytest.raises(DataError) as err, transaction.atomic():
        _pg_fetchone("SELECT 1 / 0", [])
    assert getattr(err.value.__cause__, "sqlstate", None) == "22012"  # division_by_zero
