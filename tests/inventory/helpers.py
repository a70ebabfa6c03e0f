"""Small readers shared by the inventory tests."""

from decimal import Decimal

from inventory.models import InventoryBalance


def balance_of(item, location, status) -> tuple[Decimal, Decimal]:
    """``(on_hand, reserved)`` of one balance; zeros when the row does not exist."""
    row = (
        InventoryBalance.objects.filter(item=item, location=location, status=status)
        .values_list("on_hand", "reserved")
        .first()
    )
    return row or (Decimal("0"), Decimal("0"))
