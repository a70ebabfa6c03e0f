"""Reads of the inventory context: for an actor always scoped by warehouse
(``wms.scoping``); for the outbound planner by the warehouse it plans. Other
apps read inventory's tables only through these (its SQL is in ``queries``)."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Now

from wms import sql
from wms.scoping import scope_by_warehouse, warehouses_visible_to

from . import queries
from .models import (
    OPEN_RESERVATION_STATES,
    InventoryBalance,
    InventoryLedgerEntry,
    InventoryPosting,
    InventoryReservation,
    InventoryStatus,
    Item,
    ItemUnitConversion,
    Location,
    UnitOfMeasure,
    Zone,
)


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


# --- stock reads ----------------------------------------------------------------


def _visible_warehouse_ids(actor, warehouse_code: str | None) -> list[int]:
    """The ids ``scope_by_warehouse`` would allow, materialised as constants.

    Stock tables are large: with literal ids (and literal item, location and
    status ids below) PostgreSQL estimates exactly and walks the right index;
    nested ``IN (SELECT …)`` subqueries made it hash-join a whole warehouse.
    """
    visible = warehouses_visible_to(actor)
    if warehouse_code:
        visible = visible.filter(code=warehouse_code)
    return list(visible.values_list("pk", flat=True))


def _code_filters(
    qs: QuerySet, warehouse_ids: list[int], *, sku=None, location_code=None, status_code=None
) -> QuerySet:
    # SKUs and location codes are unique per warehouse: resolve them through the
    # (warehouse, sku) / (warehouse, code) unique indexes first, then hit the
    # stock table by id.
    qs = qs.filter(warehouse_id__in=warehouse_ids)
    if sku:
        qs = qs.filter(
            item_id__in=list(
                Item.objects.filter(warehouse_id__in=warehouse_ids, sku=sku).values_list(
                    "pk", flat=True
                )
            )
        )
    if location_code:
        qs = qs.filter(
            location_id__in=list(
                Location.objects.filter(
                    warehouse_id__in=warehouse_ids, code=location_code
                ).values_list("pk", flat=True)
            )
        )
    if status_code:
        qs = qs.filter(
            status_id__in=list(
                InventoryStatus.objects.filter(code=status_code).values_list("pk", flat=True)
            )
        )
    return qs


def balance_list(
    *,
    actor,
    warehouse_code: str | None = None,
    sku: str | None = None,
    location_code: str | None = None,
    status_code: str | None = None,
    include_empty: bool = False,
) -> QuerySet:
    """Balances the actor may see, by the contract's filters; empty rows only on request.

    Indexes: item lookups use the (item, location, status) unique index,
    location lookups ``balance_location_idx``, warehouse/status listings in
    id order ``balance_wh_status_idx`` / ``balance_wh_idx``
    (``bench/inventory_balance_search.py`` measures them).
    """
    qs = _code_filters(
        InventoryBalance.objects.select_related("warehouse", "item", "location", "status"),
        _visible_warehouse_ids(actor, warehouse_code),
        sku=sku,
        location_code=location_code,
        status_code=status_code,
    )
    if not include_empty:
        qs = qs.filter(on_hand__gt=0)
    return qs


def ledger_list(
    *,
    actor,
    warehouse_code: str | None = None,
    sku: str | None = None,
    location_code: str | None = None,
    since=None,
    posting_key: str | None = None,
    source_ref: str | None = None,
    reservation_id: int | None = None,
) -> QuerySet:
    """Ledger entries the actor may see, oldest first (cursor pagination by id)."""
    qs = _code_filters(
        InventoryLedgerEntry.objects.select_related(
            "warehouse", "item", "location", "status", "posting"
        ),
        _visible_warehouse_ids(actor, warehouse_code),
        sku=sku,
        location_code=location_code,
    )
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if posting_key:
        qs = qs.filter(
            posting_id__in=InventoryPosting.objects.filter(posting_key=posting_key).values("pk")
        )
    if source_ref:
        qs = qs.filter(source_ref=source_ref)
    if reservation_id:
        qs = qs.filter(reservation_id=reservation_id)
    return qs


def _as_balance_rows(qs: QuerySet) -> QuerySet:
    return qs.values(
        "id",
        "on_hand",
        "reserved",
        "available",
        "updated_at",
        warehouse_code=F("warehouse__code"),
        sku=F("item__sku"),
        location_code=F("location__code"),
        status_code=F("status__code"),
    )


def balance_rows(**filters) -> QuerySet:
    """``balance_list`` as plain rows (dicts) for the API: no model instances to build."""
    return _as_balance_rows(balance_list(**filters))


def _as_ledger_rows(qs: QuerySet) -> QuerySet:
    return qs.values(
        "id",
        "occurred_at",
        "entry_type",
        "on_hand_delta",
        "reserved_delta",
        "reservation_id",
        "source_ref",
        "reason_code",
        "actor_label",
        "correlation_id",
        warehouse_code=F("warehouse__code"),
        sku=F("item__sku"),
        location_code=F("location__code"),
        status_code=F("status__code"),
        posting_key=F("posting__posting_key"),
    )


def ledger_rows(**filters) -> QuerySet:
    """``ledger_list`` as plain rows (dicts) for the API."""
    return _as_ledger_rows(ledger_list(**filters))


def ledger_rows_for_ids(*, entry_ids: list[int]) -> list[dict]:
    """The rows of just-posted entries, in id order (a posting's API answer)."""
    return list(
        _as_ledger_rows(InventoryLedgerEntry.objects.filter(pk__in=entry_ids)).order_by("id")
    )


def reservation_list(*, actor, demand_ref: str | None = None, open_only: bool = False) -> QuerySet:
    qs = scope_by_warehouse(
        InventoryReservation.objects.select_related("item", "location", "status"), actor
    )
    if demand_ref:
        qs = qs.filter(demand_ref=demand_ref)
    if open_only:
        qs = qs.filter(state__in=OPEN_RESERVATION_STATES)
    return qs


def item_for_sku(*, warehouse, sku: str) -> Item | None:
    return Item.objects.select_related("warehouse").filter(warehouse=warehouse, sku=sku).first()


def item_for_scan(*, warehouse, code: str) -> Item | None:
    """An active item of the warehouse from a scan of its barcode (GTIN) or its SKU."""
    code = (code or "").strip()
    if not code:
        return None
    return (
        Item.objects.filter(warehouse=warehouse, is_active=True)
        .filter(Q(gtin=code) | Q(sku=code))
        .select_related("base_uom")
        .first()
    )


def location_for_code(*, warehouse, code: str) -> Location | None:
    return Location.objects.filter(warehouse=warehouse, code=code).first()


def status_for_code(*, code: str) -> InventoryStatus | None:
    return InventoryStatus.objects.filter(code=code).first()


def unit_codes_known(*, codes) -> set[str]:
    """The codes among ``codes`` that name a unit of measure."""
    return set(UnitOfMeasure.objects.filter(code__in=codes).values_list("code", flat=True))


def unit_ids_by_code(*, codes) -> dict[str, int]:
    """unit code → unit id, for the units among ``codes``."""
    return dict(UnitOfMeasure.objects.filter(code__in=codes).values_list("code", "pk"))


def unit_conversions(*, item_ids, codes) -> dict[tuple[int, str], Decimal]:
    """(item id, unit code) → base units in one such unit, for these items and units."""
    rows = ItemUnitConversion.objects.filter(item__in=item_ids, uom__code__in=codes).values_list(
        "item_id", "uom__code", "base_units"
    )
    return {(item_id, code): base_units for item_id, code, base_units in rows}


# --- stock the outbound planner may allocate ---------------------------------------


def items_with_warehouse(*, item_ids) -> dict[int, Item]:
    """id → item, with its warehouse cached on it (``queries.items_with_warehouse``)."""
    if not item_ids:
        return {}
    item, warehouse, statement = queries.items_with_warehouse()
    with connection.cursor() as cursor:
        cursor.execute(statement, [list(item_ids)])
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        loaded = item.instance(row)
        Item.warehouse.field.set_cached_value(loaded, warehouse.instance(row, len(item)))
        found[loaded.pk] = loaded
    return found


def locations_by_id(*, location_ids) -> dict[int, Location]:
    """id → location, without compiling a queryset (``wms.sql.in_bulk``)."""
    return sql.in_bulk(Location, location_ids)


def statuses_by_id(*, status_ids) -> dict[int, InventoryStatus]:
    """id → inventory status, without compiling a queryset (``wms.sql.in_bulk``)."""
    return sql.in_bulk(InventoryStatus, status_ids)


def balances_available(*, warehouse_id: int, item_ids) -> list[tuple]:
    """(id, item id, location id, status id, available, on hand) of the warehouse's
    balances with available stock of these items, by id (the order balances are
    locked in); ``queries.BALANCES_AVAILABLE``."""
    item_ids = list(item_ids)
    if not item_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(queries.BALANCES_AVAILABLE, [warehouse_id, item_ids])
        # Sorted here, not by ORDER BY id: that could tempt the planner away from the
        # item index onto the primary key.
        return sorted(cursor.fetchall())


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
    with connection.cursor() as cursor:
        cursor.execute(queries.STOCK_FIFO_DATES, [list(balance_ids)])
        return dict(cursor.fetchall())


# --- verification (verify_inventory) -----------------------------------------


@dataclass
class InventoryVerification:
    """What ``inventory_verify`` found: ``problems`` is empty when nothing drifts."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(statement: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchall()


def inventory_verify() -> InventoryVerification:
    """Recompute every balance from the ledger and check every invariant and reservation.

    Read-only; runs in one transaction so all checks see one snapshot
    (REPEATABLE READ when it owns the transaction, since postings may run
    concurrently).
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute(queries.VERIFY_SNAPSHOT)
        return _verify()


def _verify() -> InventoryVerification:
    report = InventoryVerification(counts=_table_counts())
    for check in (
        _balances_not_matching_ledger,
        _balances_breaking_invariants,
        _balances_in_another_warehouse,
        _reserved_not_matching_reservations,
        _reservations_not_matching_ledger,
        _postings_without_entries,
    ):
        report.problems.extend(check())
    report.notes.extend(_reservations_overdue())
    return report


def _table_counts() -> dict[str, int]:
    [counts] = _rows(queries.VERIFY_COUNTS)
    return dict(
        zip(("balances", "ledger entries", "reservations", "postings"), counts, strict=True)
    )


def _balances_not_matching_ledger() -> list[str]:
    """Every balance is the sum of its ledger entries (and no ledger sum lacks a balance)."""
    return [
        f"balance item={item_id} location={location_id} status={status_id}: "
        f"on hand {on_hand} / reserved {reserved} but the ledger sums to "
        f"{l_on_hand} / {l_reserved}"
        for item_id, location_id, status_id, on_hand, reserved, l_on_hand, l_reserved in _rows(
            queries.VERIFY_BALANCES_AGAINST_LEDGER
        )
    ]


def _balances_breaking_invariants() -> list[str]:
    """On hand ≥ 0, 0 ≤ reserved ≤ on hand (the check constraints should make these impossible)."""
    return [
        f"balance #{balance_id}: invariant broken "
        f"(on hand {on_hand}, reserved {reserved}, available {available})"
        for balance_id, on_hand, reserved, available in _rows(queries.VERIFY_BALANCE_INVARIANTS)
    ]


def _balances_in_another_warehouse() -> list[str]:
    """A balance belongs to the warehouse of its item and of its location."""
    return [
        f"balance #{balance_id}: warehouse {warehouse_id} but item in {item_wh}, "
        f"location in {location_wh}"
        for balance_id, warehouse_id, item_wh, location_wh in _rows(
            queries.VERIFY_BALANCE_WAREHOUSES
        )
    ]


def _reserved_not_matching_reservations() -> list[str]:
    """Reserved on a balance is exactly what its open reservations hold."""
    return [
        f"balance #{balance_id}: reserved {reserved} but open reservations hold {held}"
        for balance_id, reserved, held in _rows(queries.VERIFY_RESERVED_AGAINST_RESERVATIONS)
    ]


def _reservations_not_matching_ledger() -> list[str]:
    """Each reservation: state matches quantities, identity matches its balance, and its
    ledger entries add up to what it says was reserved, consumed, released."""
    problems = []
    for row in _rows(queries.VERIFY_RESERVATIONS_AGAINST_LEDGER):
        (res_id, state, qty, consumed, released, l_res, l_cons, l_rel, l_held, wrong_bal) = row
        problems.append(
            f"reservation #{res_id} ({state}): qty {qty}, consumed {consumed}, released "
            f"{released}; ledger says reserved {l_res}, consumed {l_cons}, released {l_rel}, "
            f"still held {l_held}" + ("; not on its own balance" if wrong_bal else "")
        )
    return problems


def _postings_without_entries() -> list[str]:
    """Every posting left ledger entries (a posting is all or nothing)."""
    return [
        f"posting #{posting_id} '{key}' has no ledger entries"
        for posting_id, key in _rows(queries.VERIFY_POSTINGS_WITHOUT_ENTRIES)
    ]


def _reservations_overdue() -> list[str]:
    """Not a problem: open reservations past their expiry wait for the expiry task."""
    overdue = InventoryReservation.objects.filter(
        state__in=OPEN_RESERVATION_STATES, expires_at__lte=Now()
    ).count()
    if not overdue:
        return []
    return [f"{overdue} open reservation(s) past their expiry, waiting for the expiry task"]


# --- what a pick confirmation reads ------------------------------------------------------


@dataclass(frozen=True)
class StockForPick:
    """``stock_for_pick``: the picked item (its base unit and warehouse cached), the
    source location, and the pick's reservations by id with their status (and the
    item and location cached on those that are the pick's)."""

    item: Item
    location: Location
    reservations: list[InventoryReservation]


def stock_for_pick(*, item_id: int, location_id: int, reservation_ids) -> StockForPick | None:
    """What the posting service needs to consume a pick's reservations, in one
    statement (``queries.stock_for_pick``); None without the item or the location.
    Read without locks: the posting service locks and re-checks each reservation."""
    parts, statement = queries.stock_for_pick()
    with connection.cursor() as cursor:
        cursor.execute(statement, [location_id, [int(pk) for pk in reservation_ids], item_id])
        rows = cursor.fetchall()
    if not rows:
        return None
    starts, start = [], 0
    for part in parts:
        starts.append(start)
        start += len(part)
    item_part, uom_part, warehouse_part, location_part, reservation_part, status_part = parts
    row = rows[0]
    item = item_part.instance(row, starts[0])
    Item.base_uom.field.set_cached_value(item, uom_part.instance(row, starts[1]))
    Item.warehouse.field.set_cached_value(item, warehouse_part.instance(row, starts[2]))
    location = location_part.instance(row, starts[3])
    reservations = []
    for row in rows:
        if row[starts[4]] is None:  # no reservation (LEFT JOIN)
            continue
        reservation = reservation_part.instance(row, starts[4])
        InventoryReservation.status.field.set_cached_value(
            reservation, status_part.instance(row, starts[5])
        )
        if reservation.item_id == item.pk:
            InventoryReservation.item.field.set_cached_value(reservation, item)
        if reservation.location_id == location.pk:
            InventoryReservation.location.field.set_cached_value(reservation, location)
        reservations.append(reservation)
    return StockForPick(item, location, reservations)


def stock_for_picks(*, picks) -> list[StockForPick | None]:
    """``stock_for_pick`` for a batch of picks (``picks``: (item id, location id,
    reservation ids) each), in three statements for the batch: the items (unit and
    warehouse), the locations, the reservations (status). Read without locks, as
    ``stock_for_pick``; an instance read once is shared by the picks naming it."""
    picks = [(item_id, location_id, [int(pk) for pk in ids]) for item_id, location_id, ids in picks]
    items = Item.objects.select_related("base_uom", "warehouse").in_bulk(
        {item_id for item_id, _, _ in picks}
    )
    locations = Location.objects.in_bulk({location_id for _, location_id, _ in picks})
    reservations = InventoryReservation.objects.select_related("status").in_bulk(
        {pk for _, _, ids in picks for pk in ids}
    )
    found = []
    for item_id, location_id, ids in picks:
        item, location = items.get(item_id), locations.get(location_id)
        if item is None or location is None:
            found.append(None)
            continue
        own = []
        for pk in sorted(ids):
            reservation = reservations.get(pk)
            if reservation is None:
                continue
            if reservation.item_id == item.pk:
                InventoryReservation.item.field.set_cached_value(reservation, item)
            if reservation.location_id == location.pk:
                InventoryReservation.location.field.set_cached_value(reservation, location)
            own.append(reservation)
        found.append(StockForPick(item, location, own))
    return found


# --- what counting reads: where the ledger stands for a count's balances -----------------
#
# ``counting`` opens count lines without freezing stock: each line keeps the id of
# its balance's last ledger entry. Read under the balance's row lock (FOR SHARE:
# postings wait, other counts do not), after the lock is granted, in a statement
# of its own, so no posting of that balance is in flight: every entry with a
# larger id is posted after the line was opened. Balances are locked in primary-key
# order like every posting (``inventory.locks``), so counts and postings cannot
# deadlock. Used only inside the caller's transaction, which holds the locks.

_BALANCE = InventoryBalance._meta.db_table
_LEDGER = InventoryLedgerEntry._meta.db_table
_LOCATION = Location._meta.db_table

#: The id of a balance's last ledger entry, 0 when it has none (``ledger_balance_idx``
#: answers it backwards, one index probe).
_LAST_ENTRY = (
    f"COALESCE((SELECT e.id FROM {_LEDGER} e WHERE e.item_id = {{a}}.item_id "
    f"AND e.location_id = {{a}}.location_id AND e.status_id = {{a}}.status_id "
    "ORDER BY e.id DESC LIMIT 1), 0)"
)


def _count_scope(
    *, warehouse_id: int, location_ids=None, zone_id=None, item_ids=None
) -> tuple[str, list, str, list]:
    """The WHERE of the locations and of the balances of a count's scope."""
    where, params = ["l.warehouse_id = %s", "l.is_active"], [warehouse_id]
    if location_ids is not None:
        where.append("l.id = ANY(%s)")
        params.append([int(pk) for pk in location_ids])
    if zone_id is not None:
        where.append("l.zone_id = %s")
        params.append(zone_id)
    balance_where, balance_params = ["b.on_hand <> 0"], []
    if item_ids is not None:
        balance_where.append("b.item_id = ANY(%s)")
        balance_params.append([int(pk) for pk in item_ids])
    return " AND ".join(where), params, " AND ".join(balance_where), balance_params


def count_sheet(
    *,
    warehouse_id: int,
    location_ids=None,
    zone_id=None,
    item_ids=None,
    empty_locations: bool = True,
) -> tuple[str, list]:
    """Lock the balances a count covers and give the query of its sheet.

    Locks (FOR SHARE, primary-key order) every balance with stock at the
    scope's locations (and items), then returns a SELECT (SQL and parameters)
    of ``location_id, item_id, status_id, on_hand, ledger_mark`` per balance,
    plus, with ``empty_locations``, one row with no item per location of the
    scope that holds nothing. The caller runs it (an ``INSERT … SELECT``) in
    the same transaction, after this call: a new statement, so it sees every
    posting that committed while the lock waited.
    """
    loc_where, loc_params, bal_where, bal_params = _count_scope(
        warehouse_id=warehouse_id, location_ids=location_ids, zone_id=zone_id, item_ids=item_ids
    )
    balances = (
        f"FROM {_BALANCE} b JOIN {_LOCATION} l ON l.id = b.location_id "
        f"WHERE b.warehouse_id = %s AND {loc_where} AND {bal_where}"
    )
    params = [warehouse_id, *loc_params, *bal_params]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT b.id {balances} ORDER BY b.id FOR SHARE OF b) locked",
            params,
        )
    sheet = (
        "SELECT b.location_id, b.item_id, b.status_id, b.on_hand, "
        f"{_LAST_ENTRY.format(a='b')} AS ledger_mark {balances}"
    )
    if not empty_locations:
        return sheet, params
    empty = (
        "SELECT l.id, NULL::bigint, NULL::bigint, 0::numeric, 0::bigint "
        f"FROM {_LOCATION} l WHERE {loc_where} AND NOT EXISTS "
        f"(SELECT 1 FROM {_BALANCE} b WHERE b.location_id = l.id AND {bal_where})"
    )
    return f"{sheet} UNION ALL {empty}", [*params, *loc_params, *bal_params]


@dataclass(frozen=True)
class BalanceMark:
    """A balance as a count sees it under its lock: on hand and its last ledger entry."""

    on_hand: Decimal
    ledger_mark: int


def balance_marks(*, keys) -> dict[tuple[int, int, int], BalanceMark]:
    """Lock the balances of ``keys`` (item, location, status; FOR SHARE, primary-key
    order) and read, in a statement of its own, their on hand and last ledger entry.
    A key without a balance row reads 0 and its last entry (usually none)."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    arrays = [list(column) for column in zip(*keys, strict=True)]
    wanted = (
        "unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS k(item_id, location_id, status_id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT b.id FROM {_BALANCE} b JOIN {wanted} "
            "ON b.item_id = k.item_id AND b.location_id = k.location_id "
            "AND b.status_id = k.status_id ORDER BY b.id FOR SHARE OF b) locked",
            arrays,
        )
        cursor.execute(
            f"SELECT k.item_id, k.location_id, k.status_id, COALESCE(b.on_hand, 0), "
            f"{_LAST_ENTRY.format(a='k')} FROM {wanted} LEFT JOIN {_BALANCE} b "
            "ON b.item_id = k.item_id AND b.location_id = k.location_id "
            "AND b.status_id = k.status_id",
            arrays,
        )
        rows = cursor.fetchall()
    return {(i, loc, s): BalanceMark(on_hand, mark) for i, loc, s, on_hand, mark in rows}


def on_hand_moved(*, ranges) -> list[Decimal]:
    """Per ``(item_id, location_id, status_id, after_id, up_to_id)``: the sum of the
    on-hand changes of that balance's ledger entries with ``after_id < id ≤ up_to_id``
    (``ledger_balance_idx``; an empty range costs one probe), in the order given."""
    ranges = list(ranges)
    if not ranges:
        return []
    arrays = [list(column) for column in zip(*ranges, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE((SELECT sum(e.on_hand_delta) FROM "
            f"{_LEDGER} e WHERE e.item_id = r.i AND e.location_id = r.l AND e.status_id = r.s "
            "AND e.id > r.a AND e.id <= r.b), 0) FROM unnest(%s::bigint[], %s::bigint[], "
            "%s::bigint[], %s::bigint[], %s::bigint[]) WITH ORDINALITY AS r(i, l, s, a, b, n) "
            "ORDER BY r.n",
            arrays,
        )
        return [row[0] for row in cursor.fetchall()]


def balance_keys_with_stock(*, location_ids, item_ids=None) -> list[tuple[int, int, int]]:
    """(item, location, status) of the balances holding stock at ``location_ids``."""
    qs = InventoryBalance.objects.filter(
        location_id__in=list(location_ids), on_hand__gt=0
    ).order_by("pk")
    if item_ids is not None:
        qs = qs.filter(item_id__in=list(item_ids))
    return list(qs.values_list("item_id", "location_id", "status_id"))


def locations_for_codes(*, warehouse, codes) -> dict[str, Location]:
    """Locations of ``warehouse`` by code (or barcode); unknown codes are left out."""
    codes = list(set(codes))
    rows = Location.objects.filter(warehouse=warehouse).filter(
        Q(code__in=codes) | Q(barcode__in=codes)
    )
    found = {}
    for location in rows:
        for code in (location.barcode, location.code):  # the code wins a clash
            if code in codes:
                found[code] = location
    return found


def items_for_skus(*, warehouse, skus) -> dict[str, Item]:
    """Items of ``warehouse`` by SKU (or GTIN); unknown codes are left out."""
    codes = list(set(skus))
    rows = Item.objects.filter(warehouse=warehouse).filter(Q(sku__in=codes) | Q(gtin__in=codes))
    found = {}
    for item in rows:
        for code in (item.gtin, item.sku):
            if code and code in codes:
                found[code] = item
    return found


def item_ids_of_class(*, warehouse, item_class: str) -> list[int]:
    """Active items of an ABC (item) class."""
    return list(
        Item.objects.filter(warehouse=warehouse, item_class=item_class, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def location_ids_in_scope(*, warehouse, zone=None, codes=None) -> list[int]:
    """Active locations of ``warehouse`` (in ``zone``, or with those codes)."""
    qs = Location.objects.filter(warehouse=warehouse, is_active=True)
    if zone is not None:
        qs = qs.filter(zone=zone)
    if codes is not None:
        qs = qs.filter(code__in=list(codes))
    return list(qs.order_by("pk").values_list("pk", flat=True))


def zone_for_code(*, warehouse, code: str) -> Zone | None:
    return Zone.objects.filter(warehouse=warehouse, code=code).first()
