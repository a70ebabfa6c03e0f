"""The database keeps the inventory invariants even against raw SQL."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from inventory import services
from inventory.models import InventoryBalance, InventoryLedgerEntry, InventoryReservation

pytestmark = pytest.mark.django_db

LEDGER = InventoryLedgerEntry._meta.db_table
BALANCE = InventoryBalance._meta.db_table
RESERVATION = InventoryReservation._meta.db_table


@pytest.fixture
def posted(item, bin_a, available):
    services.stock_receive(
        item=item, location=bin_a, status=available, qty=10, posting_key="r", source_ref=""
    )
    return InventoryLedgerEntry.objects.get()


def _refused(sql, params=(), error=DatabaseError):
    with pytest.raises(error) as err, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(err.value)


def test_ledger_update_is_refused_by_database(posted):
    """UPDATE on the ledger is refused by a trigger, whatever the column."""
    message = _refused(f"UPDATE {LEDGER} SET on_hand_delta = 999 WHERE id = %s", [posted.pk])
    assert "append-only" in message
    _refused(f"UPDATE {LEDGER} SET source_ref = 'tampered'")
    posted.refresh_from_db()
    assert posted.on_hand_delta == Decimal("10") and posted.source_ref == ""


def test_ledger_delete_is_refused_by_database(posted):
    """DELETE on the ledger is refused by a trigger (also through the ORM)."""
    message = _refused(f"DELETE FROM {LEDGER} WHERE id = %s", [posted.pk])
    assert "append-only" in message
    with pytest.raises(DatabaseError), transaction.atomic():
        InventoryLedgerEntry.objects.filter(pk=posted.pk).delete()
    assert InventoryLedgerEntry.objects.filter(pk=posted.pk).exists()


def test_balance_negative_on_hand_is_refused_by_database(posted):
    """A balance cannot go below zero on hand, even by raw SQL."""
    _refused(f"UPDATE {BALANCE} SET on_hand = -1", error=IntegrityError)


def test_balance_reserved_above_on_hand_is_refused_by_database(posted):
    """Reserved must stay between zero and on hand, even by raw SQL."""
    _refused(f"UPDATE {BALANCE} SET reserved = on_hand + 1", error=IntegrityError)
    _refused(f"UPDATE {BALANCE} SET reserved = -1", error=IntegrityError)


def test_reservation_state_must_match_quantities_in_database(item, bin_a, available, posted):
    """A closed reservation with quantity still held (or the reverse) is refused."""
    reservation = services.reservation_create(
        item=item, location=bin_a, status=available, qty=2, demand_ref="d", posting_key="res"
    )
    _refused(
        f"UPDATE {RESERVATION} SET state = 'RELEASED' WHERE id = %s",
        [reservation.pk],
        error=IntegrityError,
    )
    _refused(
        f"UPDATE {RESERVATION} SET qty_consumed = 3 WHERE id = %s",
        [reservation.pk],
        error=IntegrityError,
    )


def test_balance_duplicate_row_is_refused_by_database(posted, item, bin_a, available):
    """One balance per item, location and status: a duplicate quant cannot exist."""
    with pytest.raises(IntegrityError), transaction.atomic():
        InventoryBalance.objects.create(
            warehouse=item.warehouse, item=item, location=bin_a, status=available
        )
