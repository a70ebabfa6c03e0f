"""``verify_inventory``: exit 0 only when balances, ledger and reservations agree."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from inventory import services
from inventory.models import InventoryBalance, InventoryReservation

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_stock(item, bin_a, bin_b, staging, available, quarantined):
    """Some of every posting kind."""
    s = services
    s.stock_receive(
        item=item, location=bin_a, status=available, qty=30, posting_key="1", source_ref=""
    )
    s.stock_move(
        item=item,
        from_location=bin_a,
        to_location=bin_b,
        status=available,
        qty=5,
        posting_key="2",
        source_ref="",
    )
    s.stock_status_transfer(
        item=item,
        location=bin_b,
        from_status=available,
        to_status=quarantined,
        qty=2,
        posting_key="3",
        source_ref="",
    )
    r = s.reservation_create(
        item=item, location=bin_a, status=available, qty=10, demand_ref="d", posting_key="4"
    )
    s.reservation_consume(reservation=r, qty=4, to_location=staging, posting_key="5")
    s.reservation_release(reservation=r, qty=1, posting_key="6")
    s.stock_issue(
        item=item, location=staging, status=available, qty=4, posting_key="7", source_ref=""
    )
    s.stock_adjust(
        item=item,
        location=bin_a,
        status=available,
        qty_delta=Decimal("-1.5"),
        reason_code="C",
        posting_key="8",
        source_ref="",
    )
    return r


def test_verify_inventory_clean_exits_zero(busy_stock, capsys):
    """With every posting kind applied, the command reports no drift and exits 0."""
    call_command("verify_inventory")
    out = capsys.readouterr().out
    assert "verify_inventory: OK" in out
    assert "DRIFT" not in out


def test_verify_inventory_reports_balance_drift(busy_stock, capsys):
    """A balance changed behind the service's back is reported, and the command fails."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {InventoryBalance._meta.db_table} SET on_hand = on_hand + 1 "
            "WHERE on_hand > reserved + 1"
        )
    with pytest.raises(CommandError) as err:
        call_command("verify_inventory")
    assert "drift" in str(err.value)
    out = capsys.readouterr().out
    assert "DRIFT balance item=" in out
    assert "ledger sums to" in out


def test_verify_inventory_reports_reservation_drift(busy_stock, capsys):
    """A reservation whose quantities disagree with its balance and ledger is reported."""
    InventoryReservation.objects.filter(pk=busy_stock.pk).update(qty_released=Decimal("2"))
    with pytest.raises(CommandError):
        call_command("verify_inventory")
    out = capsys.readouterr().out
    assert f"DRIFT reservation #{busy_stock.pk}" in out
    assert "open reservations hold" in out
