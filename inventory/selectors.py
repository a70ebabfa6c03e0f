"""Reads of the inventory context, always scoped by warehouse (``wms.scoping``)."""

from django.db.models import QuerySet

from wms.scoping import scope_by_warehouse, warehouses_visible_to

from .models import Item, Location


def warehouse_list(*, actor) -> QuerySet:
    return warehouses_visible_to(actor).order_by("code")


def item_list(*, actor, warehouse_code: str | None = None, sku: str | None = None) -> QuerySet:
    qs = scope_by_warehouse(Item.objects.select_related("warehouse", "base_uom"), actor)
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    if sku:
        qs = qs.filter(sku=sku)
    return qs


def location_list(
    *, actor, warehouse_code: str | None = None, location_type: str | None = None
) -> QuerySet:
    qs = scope_by_warehouse(Location.objects.select_related("warehouse", "zone"), actor)
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    if location_type:
        qs = qs.filter(type=location_type)
    return qs
