"""Reads of the outbound context: orders for the API and admin (always scoped by
warehouse), stores, admission figures, wave policies and the stock the
planner may allocate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import NamedTuple

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils.dateparse import parse_datetime

from inventory.models import (
    InventoryBalance,
    InventoryStatus,
    Item,
    Location,
    LocationType,
    Warehouse,
)
from wms import sql
from wms.scoping import scope_by_warehouse

from .models import (
    LineStatus,
    PlanningJob,
    PlanningJobStatus,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
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
    """id → item, with its warehouse (events name both). Hand-written: a planning job
    loads each item it meets once, thousands per job."""
    item, warehouse = sql.select(Item, "i"), sql.select(Warehouse, "w")
    if not item_ids:
        return {}
    match, params = sql.any_of(item_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {item.sql}, {warehouse.sql} FROM {sql.table(Item)} i "
            f"JOIN {sql.table(Warehouse)} w ON w.id = i.{sql.column(Item, 'warehouse')} "
            f"WHERE i.id {match}",
            params,
        )
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        loaded = item.instance(row)
        Item.warehouse.field.set_cached_value(loaded, warehouse.instance(row, len(item)))
        found[loaded.pk] = loaded
    return found


_OPEN_LINES_SQL: dict = {}


def order_lines_to_plan(*, order_id) -> list[ReplenishmentOrderLine]:
    """The order's lines that planning still concerns (not cancelled or rejected), by
    item then line number (the order the planner reserves in). Built once per
    process (``wms.sql``): the planner runs it for every order."""
    line = sql.select(ReplenishmentOrderLine, "l")
    statement = _OPEN_LINES_SQL.get(connection.vendor)
    if statement is None:
        column = partial(sql.column, ReplenishmentOrderLine)
        statement = _OPEN_LINES_SQL[connection.vendor] = (
            f"SELECT {line.sql} FROM {sql.table(ReplenishmentOrderLine)} l "
            f"WHERE l.{column('order')} = %s AND l.{column('status')} NOT IN (%s, %s) "
            f"ORDER BY l.{column('item')}, l.{column('line_number')}"
        )
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
    rows = _balances_available(warehouse_id=warehouse_id, item_ids=list(item_ids))
    missing = {row[2] for row in rows} - locations.keys()
    if missing:
        locations.update(sql.in_bulk(Location, missing))
    missing = {row[3] for row in rows} - statuses.keys()
    if missing:
        statuses.update(sql.in_bulk(InventoryStatus, missing))
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


def _decimal_converters():
    expression = InventoryBalance._meta.get_field("available").get_col("b")
    functions = connection.ops.get_db_converters(expression)

    def convert(value):
        for function in functions:
            value = function(value, expression, connection)
        return value

    return convert


def _balances_available(*, warehouse_id: int, item_ids: list) -> list[tuple]:
    """(id, item id, location id, status id, available, on hand) of the balances with
    available stock of these items, by id (the order balances are locked in).

    Hand-written: the planner runs it once per order, and compiling the queryset
    cost more than running it."""
    if not item_ids:
        return []
    items, item_params = sql.any_of(item_ids)
    column = partial(sql.column, InventoryBalance)
    statement = (
        f"SELECT b.id, b.{column('item')}, b.{column('location')}, b.{column('status')}, "
        f"b.{column('available')}, b.{column('on_hand')} FROM {sql.table(InventoryBalance)} b "
        f"WHERE b.{column('warehouse')} = %s AND b.{column('item')} {items} "
        f"AND b.{column('available')} > 0"
    )
    params = [warehouse_id, *item_params]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        # Sorted here, not by ORDER BY id: that could tempt the planner away from the
        # item index onto the primary key.
        rows = sorted(cursor.fetchall())
    if connection.vendor != "postgresql":
        # SQLite hands decimals back as numbers: the converters the ORM would apply.
        convert = _decimal_converters()
        rows = [(*row[:4], convert(row[4]), convert(row[5])) for row in rows]
    return rows


def stock_fifo_dates(*, balance_ids) -> dict[int, datetime | None]:
    """balance id → when the oldest unit still in it arrived, from the ledger.

    The inflows of a balance (receipts, moves and status transfers in, positive
    adjustments) are layered newest first; under first-in-first-out consumption
    the units on hand are the newest layers that add up to ``on_hand``, so the
    oldest of those layers dates the oldest stock. Stock moved between
    locations counts from its move (the ledger has no lot date yet).
    """
    if not balance_ids:
        return {}
    Entry = apps.get_model("inventory", "InventoryLedgerEntry")
    entries = Entry._meta.db_table
    balances = InventoryBalance._meta.db_table
    sql = f"""
        SELECT b.id, (
            SELECT min(layer.occurred_at) FROM (
                SELECT e.occurred_at,
                       SUM(e.on_hand_delta) OVER (ORDER BY e.id DESC) AS newer_and_this,
                       e.on_hand_delta
                FROM {entries} e
                WHERE e.item_id = b.item_id AND e.location_id = b.location_id
                  AND e.status_id = b.status_id AND e.on_hand_delta > 0
            ) layer
            WHERE layer.newer_and_this - layer.on_hand_delta < b.on_hand
        )
        FROM {balances} b WHERE b.id IN ({", ".join(["%s"] * len(balance_ids))})
    """  # table names from model metadata, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, list(balance_ids))
        rows = cursor.fetchall()
    # SQLite hands back text; PostgreSQL an aware datetime.
    return {pk: parse_datetime(value) if isinstance(value, str) else value for pk, value in rows}


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
    from inventory.models import Location

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
