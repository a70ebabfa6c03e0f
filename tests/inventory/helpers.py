"""Small readers and writers shared by the inventory tests."""

from decimal import Decimal

from inventory import services
from inventory.models import InventoryBalance


def balance_of(item, location, status) -> tuple[Decimal, Decimal]:
    """``(on_hand, reserved)`` of one balance; zeros when the row does not exist."""
    row = (
        InventoryBalance.objects.filter(item=item, location=location, status=status)
        .values_list("on_hand", "reserved")
        .first()
    )
    return row or (Decimal("0"), Decimal("0"))


def reserve(item, location, status, qty, key, **kwargs):
    """``reservation_create`` of ``qty`` for an order line, with posting key ``key``."""
    return services.reservation_create(
        item=item,
        location=location,
        status=status,
        qty=Decimal(qty),
        demand_ref="ReplenishmentOrderLine:1",
        posting_key=key,
        **kwargs,
    )
