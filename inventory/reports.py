"""Inventory reports (issue 17): stock on hand (now or as of a date) and stock movements.

Selectors only: each returns a ``wms.reporting`` row source and never writes.
Callers pass the warehouses the actor may see (``wms.scoping``); the filters
are checked here, so the API, the supervisor pages and mailed subscriptions
refuse the same bad input with the same message.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.db.models import DecimalField, ExpressionWrapper, F
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wms.reporting import Column, QuerySetSource, ReportFilterInvalid, SqlSource

from . import queries
from .models import InventoryLedgerEntry, InventoryStatus, Item, LedgerEntryType, Zone

STOCK_ON_HAND_COLUMNS = [
    Column("warehouse", _("Warehouse")),
    Column("location", _("Location")),
    Column("sku", _("SKU")),
    Column("status", _("Status")),
    Column("onHand", _("On hand"), "decimal"),
    Column("unitCost", _("Unit cost"), "money", sensitive=True),
    Column("value", _("Value"), "money", sensitive=True),
    Column("currency", _("Currency"), sensitive=True),
]

MOVEMENT_COLUMNS = [
    Column("occurredAt", _("Occurred at"), "datetime"),
    Column("warehouse", _("Warehouse")),
    Column("entryType", _("Entry type")),
    Column("sku", _("SKU")),
    Column("location", _("Location")),
    Column("status", _("Status")),
    Column("qty", _("Quantity"), "decimal"),
    Column("sourceRef", _("Source document")),
    Column("reasonCode", _("Reason")),
    Column("actor", _("By")),
    Column("value", _("Value"), "money", sensitive=True),
]


def as_of_checked(as_of: dt.datetime | None) -> dt.datetime | None:
    if as_of is not None and as_of > timezone.now():
        raise ReportFilterInvalid("asOf", "asOf must be a date and time in the past.")
    return as_of


def period_checked(since: dt.datetime, until: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    if since >= until:
        raise ReportFilterInvalid("from", "The period's start must be before its end.")
    return since, until


def _zone_id(warehouse_ids: list[int], code: str) -> int:
    zone = Zone.objects.filter(warehouse_id__in=warehouse_ids, code=code).first()
    if zone is None:
        raise ReportFilterInvalid("zone", f"Unknown zone '{code}'.", code="unknown_zone")
    return zone.pk


def _item_ids(warehouse_ids: list[int], sku: str) -> list[int]:
    ids = list(
        Item.objects.filter(warehouse_id__in=warehouse_ids, sku=sku).values_list("pk", flat=True)
    )
    if not ids:
        raise ReportFilterInvalid("sku", f"Unknown SKU '{sku}'.", code="unknown_sku")
    return ids


def _status_id(code: str) -> int:
    status = InventoryStatus.objects.filter(code=code).first()
    if status is None:
        raise ReportFilterInvalid("status", f"Unknown status '{code}'.", code="unknown_status")
    return status.pk


def stock_on_hand(
    *,
    warehouse_ids: list[int],
    zone: str | None = None,
    sku: str | None = None,
    status: str | None = None,
    as_of: dt.datetime | None = None,
) -> SqlSource:
    """One row per location, SKU and status with stock, valued at the item's unit cost;
    with ``as_of`` the stock at that moment, recomputed from the ledger."""
    params: dict = {"warehouse_ids": list(warehouse_ids)}
    if as_of_checked(as_of) is not None:
        params["as_of"] = as_of
    if zone:
        params["zone_id"] = _zone_id(warehouse_ids, zone)
    if sku:
        params["item_ids"] = _item_ids(warehouse_ids, sku)
    if status:
        params["status_id"] = _status_id(status)
    shape = {"as_of": as_of is not None, "zone": bool(zone), "items": bool(sku)}
    shape["status"] = bool(status)
    return SqlSource(
        sql=queries.stock_on_hand_report(**shape),
        page_sql=queries.stock_on_hand_report(**shape, per_balance=True),
        params=params,
        key_exprs=["b.location_id", "b.item_id", "b.status_id"],
        columns=STOCK_ON_HAND_COLUMNS,
    )


def stock_movements(
    *,
    warehouse_ids: list[int],
    since: dt.datetime,
    until: dt.datetime,
    sku: str | None = None,
    entry_type: str | None = None,
) -> QuerySetSource:
    """Ledger entries that changed on hand in ``[since, until)``, oldest first; the
    value of each change at the item's current unit cost."""
    period_checked(since, until)
    entries = InventoryLedgerEntry.objects.filter(
        warehouse_id__in=warehouse_ids, occurred_at__gte=since, occurred_at__lt=until
    ).exclude(on_hand_delta=0)
    if sku:
        entries = entries.filter(item_id__in=_item_ids(warehouse_ids, sku))
    if entry_type:
        if entry_type not in LedgerEntryType.values:
            raise ReportFilterInvalid("type", f"Unknown entry type '{entry_type}'.")
        entries = entries.filter(entry_type=entry_type)
    value = Round(
        ExpressionWrapper(
            F("on_hand_delta") * F("item__unit_cost"),
            output_field=DecimalField(max_digits=24, decimal_places=4),
        ),
        4,
    )
    rows = (
        entries.annotate(value=value)
        .order_by("id")
        .values_list(
            "id",
            "occurred_at",
            "warehouse__code",
            "entry_type",
            "item__sku",
            "location__code",
            "status__code",
            "on_hand_delta",
            "source_ref",
            "reason_code",
            "actor_label",
            "value",
        )
    )
    return QuerySetSource(queryset=rows, key_field="id")


def on_hand_per_item(*, warehouse_id: int, item_ids: list[int]) -> dict[int, Decimal]:
    """On hand in allocatable statuses per item (items without stock are absent)."""
    with connection.cursor() as cursor:
        cursor.execute(queries.ON_HAND_PER_ITEM, [warehouse_id, list(item_ids)])
        return dict(cursor.fetchall())


def on_hand_per_item_location(*, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], Decimal]:
    """On hand in allocatable statuses per (item, location) pair given."""
    if not pairs:
        return {}
    items, locations = zip(*pairs, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(queries.ON_HAND_PER_ITEM_LOCATION, [list(items), list(locations)])
        return {(item, location): qty for item, location, qty in cursor.fetchall()}
