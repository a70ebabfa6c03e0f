"""Reads of the outbound context: orders for the API and admin (always scoped by
warehouse), stores, admission figures, wave policies and the stock the
planner may allocate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from inventory import selectors as inventory_selectors
from inventory.models import Item, Location, LocationType, Warehouse
from wms import sql
from wms.scoping import scope_by_warehouse

from . import queries
from .models import (
    LineStatus,
    PlanningJob,
    PlanningJobStatus,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
    Shipment,
    Wave,
    WavePolicy,
    WaveStatus,
)

#: Where the planner may take stock from, best first.
PICKABLE_LOCATION_TYPES = (LocationType.PICK_FACE, LocationType.RESERVE)
_BACKLOG_CACHE_SECONDS = 2
_LOCAL_CACHE_SECONDS = 30.0
_WAREHOUSES: dict[int, tuple[float, object]] = {}
_BACKLOG: dict[int, tuple[float, int]] = {}
_ITEMS: dict[tuple[int, str], tuple[float, object]] = {}


# --- Orders -------------------------------------------------------------------


def _order_queryset() -> QuerySet:
    return ReplenishmentOrder.objects.select_related("warehouse").prefetch_related(
        Prefetch(
            "lines",
            queryset=ReplenishmentOrderLine.objects.select_related("item", "uom").order_by(
                "line_number"
            ),
        )
    )


def order_get(*, actor, order_id) -> ReplenishmentOrder | None:
    return scope_by_warehouse(_order_queryset(), actor).filter(pk=order_id).first()


def order_list(
    *,
    actor,
    store_code: str | None = None,
    external_order_id: str | None = None,
    status: str | None = None,
) -> QuerySet:
    qs = scope_by_warehouse(_order_queryset(), actor)
    if store_code:
        qs = qs.filter(store_code=store_code)
    if external_order_id:
        qs = qs.filter(external_order_id=external_order_id)
    if status:
        qs = qs.filter(status=status)
    return qs


def shipment_list(*, actor, store_code: str | None = None, since=None) -> QuerySet:
    """Confirmed shipments of the actor's warehouses (oldest first), by store and time."""
    qs = scope_by_warehouse(Shipment.objects.all(), actor)
    if store_code:
        qs = qs.filter(store_code=store_code)
    if since is not None:
        qs = qs.filter(shipped_at__gte=since)
    return qs


# --- Stores (external systems of type "store") ----------------------------------


def store_for_code(code: str):
    """The active store system whose code is ``code``, or None.

    Looked up by app label: the integration layer adapts stores onto outbound,
    outbound does not import it.
    """
    ExternalSystem = apps.get_model("integrations", "ExternalSystem")
    return ExternalSystem.objects.filter(code=code, type="store", is_active=True).first()


def store_warehouse_ids(store) -> frozenset[int]:
    return frozenset(store.warehouses.values_list("pk", flat=True))


def warehouse_by_pk(pk: int):
    """A warehouse row, cached in the process for half a minute (intake asks on every
    order for a table that changes a few times a year)."""
    now = time.monotonic()
    hit = _WAREHOUSES.get(pk)
    if hit is not None and hit[0] > now:
        return hit[1]
    warehouse = Warehouse.objects.filter(pk=pk).first()
    if warehouse is not None:
        _WAREHOUSES[pk] = (now + _LOCAL_CACHE_SECONDS, warehouse)
    return warehouse


class IntakeItem(NamedTuple):
    pk: int
    sku: str
    base_uom_id: int
    base_uom_code: str
    is_active: bool


def items_for_intake(*, warehouse_id: int, skus) -> dict[str, IntakeItem]:
    """SKU → item for the synchronous intake check, active items remembered per process.

    Only hits are remembered (half a minute): a SKU created a moment ago is
    found at once, and an item deactivated within the half minute is caught
    by the planner's deep check (the order is REJECTED, ``item_inactive``).
    """
    now = time.monotonic()
    found: dict[str, IntakeItem] = {}
    missing = []
    for sku in skus:
        hit = _ITEMS.get((warehouse_id, sku))
        if hit is not None and hit[0] > now:
            found[sku] = hit[1]
        else:
            missing.append(sku)
    if missing:
        rows = Item.objects.filter(warehouse_id=warehouse_id, sku__in=missing).values_list(
            "pk", "sku", "base_uom_id", "base_uom__code", "is_active"
        )
        for row in rows:
            item = IntakeItem(*row)
            found[item.sku] = item
            if item.is_active:
                _ITEMS[(warehouse_id, item.sku)] = (now + _LOCAL_CACHE_SECONDS, item)
    return found


def intake_caches_forget() -> None:
    """Forget what intake remembers per process (tests)."""
    _ITEMS.clear()
    _WAREHOUSES.clear()
    _BACKLOG.clear()


# --- Admission control ----------------------------------------------------------


def planning_backlog(*, warehouse_id: int, fresh: bool = False) -> int:
    """Orders of a warehouse accepted (or re-opened) and not yet planned.

    Remembered in the process for two seconds: intake asks on every request,
    and an estimate that lags by a second or two is what admission control
    needs (one count per process and two seconds, whatever the request rate).
    """
    now = time.monotonic()
    hit = _BACKLOG.get(warehouse_id)
    if not fresh and hit is not None and hit[0] > now:
        return hit[1]
    value = ReplenishmentOrder.objects.filter(
        warehouse_id=warehouse_id, needs_planning=True
    ).count()
    _BACKLOG[warehouse_id] = (now + _BACKLOG_CACHE_SECONDS, value)
    return value


def planning_backlog_overview() -> list[dict]:
    """Per warehouse and planning group: orders waiting, backordered, open waves (admin)."""
    rows = (
        ReplenishmentOrder.objects.filter(
            Q(needs_planning=True) | Q(status="BACKORDERED") | Q(status="PLANNED", wave=None)
        )
        .values("warehouse__code", "planning_group")
        .annotate(
            waiting=Count("pk", filter=Q(needs_planning=True)),
            backordered=Count("pk", filter=Q(status="BACKORDERED")),
            unwaved=Count("pk", filter=Q(status="PLANNED", wave=None)),
        )
        .order_by("warehouse__code", "planning_group")
    )
    return list(rows)


def partitions_awaiting_planning(*, limit: int = 1000) -> list[tuple[int, int]]:
    """(warehouse id, planning group) pairs that have orders awaiting planning."""
    return list(
        ReplenishmentOrder.objects.filter(needs_planning=True)
        .values_list("warehouse_id", "planning_group")
        .distinct()[:limit]
    )


def planning_jobs_stale(*, older_than: datetime) -> QuerySet:
    return PlanningJob.objects.filter(status=PlanningJobStatus.RUNNING, heartbeat_at__lt=older_than)


# --- Waves ------------------------------------------------------------------------


def wave_policy_for(*, warehouse_id: int) -> WavePolicy:
    """The warehouse's wave policy, or the defaults from settings (unsaved)."""
    policy = WavePolicy.objects.filter(warehouse_id=warehouse_id).first()
    if policy is not None:
        return policy
    return WavePolicy(
        warehouse_id=warehouse_id,
        max_orders=settings.WMS_WAVE_MAX_ORDERS,
        max_lines=settings.WMS_WAVE_MAX_LINES,
        max_units=Decimal(settings.WMS_WAVE_MAX_UNITS),
        window_minutes=settings.WMS_WAVE_WINDOW_MINUTES,
        release_mode=settings.WMS_WAVE_RELEASE_MODE,
        release_lead_minutes=settings.WMS_WAVE_RELEASE_LEAD_MINUTES,
        max_open_minutes=settings.WMS_WAVE_MAX_OPEN_MINUTES,
    )


def waves_open(*, warehouse_id: int) -> QuerySet:
    return Wave.objects.filter(warehouse_id=warehouse_id, status=WaveStatus.OPEN)


def warehouses_with_wave_work() -> list[int]:
    """Warehouses with open waves or planned orders not yet in a wave."""
    with_open = set(
        Wave.objects.filter(status=WaveStatus.OPEN).values_list("warehouse_id", flat=True)
    )
    with_unwaved = set(
        ReplenishmentOrder.objects.filter(status="PLANNED", wave__isnull=True)
        .values_list("warehouse_id", flat=True)
        .distinct()
    )
    return sorted(with_open | with_unwaved)


def order_wave_figures(*, order_ids) -> dict:
    """order id → (line count, allocated units) of its open lines."""
    rows = (
        ReplenishmentOrderLine.objects.filter(order_id__in=order_ids)
        .exclude(status__in=("CANCELLED", "REJECTED"))
        .values("order_id")
        .annotate(lines=Count("pk"), units=Sum("qty_allocated"))
    )
    return {row["order_id"]: (row["lines"], row["units"] or Decimal("0")) for row in rows}


def items_by_id(*, item_ids) -> dict[int, Item]:
    """id → item, with its warehouse (events name both): a planning job loads each
    item it meets once, thousands per job (``inventory.selectors``)."""
    return inventory_selectors.items_with_warehouse(item_ids=item_ids)


def order_lines_to_plan(*, order_id) -> list[ReplenishmentOrderLine]:
    """The order's lines that planning still concerns (not cancelled or rejected), by
    item then line number (the order the planner reserves in); ``queries``."""
    line, statement = queries.order_lines_to_plan()
    params = [
        sql.db_value(ReplenishmentOrderLine, "order", order_id),
        LineStatus.CANCELLED.value,
        LineStatus.REJECTED.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [line.instance(row) for row in cursor.fetchall()]


# --- Stock the planner may allocate ---------------------------------------------------


@dataclass
class Candidate:
    """One balance the planner may reserve from, with what it knows about it."""

    balance_id: int
    item_id: int
    location_id: int
    status_id: int
    available: Decimal
    on_hand: Decimal
    location_type: str
    pick_sequence: int
    location_code: str
    zone_id: int | None
    fifo_at: datetime | None = None


def allocatable_candidates(
    *, warehouse_id: int, item_ids, locations: dict | None = None, statuses: dict | None = None
) -> dict[int, list[Candidate]]:
    """item id → balances with available stock in an allocatable status at an active
    pick face or reserve location of the warehouse (no locks: the posting service
    re-checks availability in its guarded update).

    One query on the balances alone (the item-first unique index, whatever the
    table statistics say); locations and statuses come from ``locations`` and
    ``statuses`` (id → row, filled here on first sight: a planning job looks
    each up once).
    """
    locations = {} if locations is None else locations
    statuses = {} if statuses is None else statuses
    rows = inventory_selectors.balances_available(warehouse_id=warehouse_id, item_ids=item_ids)
    missing = {row[2] for row in rows} - locations.keys()
    if missing:
        locations.update(inventory_selectors.locations_by_id(location_ids=missing))
    missing = {row[3] for row in rows} - statuses.keys()
    if missing:
        statuses.update(inventory_selectors.statuses_by_id(status_ids=missing))
    result: dict[int, list[Candidate]] = {}
    for pk, item_id, location_id, status_id, available, on_hand in rows:
        location = locations[location_id]
        if (
            location.type not in PICKABLE_LOCATION_TYPES
            or not location.is_active
            or not statuses[status_id].allocatable
        ):
            continue
        result.setdefault(item_id, []).append(
            Candidate(
                pk,
                item_id,
                location_id,
                status_id,
                available,
                on_hand,
                location.type,
                location.pick_sequence,
                location.code,
                location.zone_id,
            )
        )
    return result


def stock_fifo_dates(*, balance_ids) -> dict[int, datetime | None]:
    """balance id → when the oldest unit still in it arrived (``inventory.selectors``:
    first in, first out over the ledger)."""
    return inventory_selectors.stock_fifo_dates(balance_ids=balance_ids)


# --- Staging (where picks of an order go) ------------------------------------------------


_STAGING: dict[int, tuple[float, object]] = {}
_STAGING_CACHE_SECONDS = 10.0


def staging_location_for_order(*, order):
    """The location an order's picks are taken to: the warehouse's first active
    staging location on the path (pick sequence, then code); None if it has none.

    Deterministic, so every pick of an order lands in the same place; the pick
    task and its confirmation record where each pick went. Cached in the
    process for ten seconds (asked on every pick confirmation; a staging
    location changes a few times a year, and the posting service refuses an
    inactive one anyway).
    """
    now = time.monotonic()
    hit = _STAGING.get(order.warehouse_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    location = (
        Location.objects.filter(
            warehouse_id=order.warehouse_id, type=LocationType.STAGING, is_active=True
        )
        .order_by("pick_sequence", "code")
        .first()
    )
    if location is not None:
        _STAGING[order.warehouse_id] = (now + _STAGING_CACHE_SECONDS, location)
    return location
