"""Reads of the inventory context, always scoped by warehouse (``wms.scoping``)."""

from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Now

from wms.scoping import scope_by_warehouse, warehouses_visible_to

from .models import (
    OPEN_RESERVATION_STATES,
    InventoryBalance,
    InventoryLedgerEntry,
    InventoryPosting,
    InventoryReservation,
    InventoryStatus,
    Item,
    Location,
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


def location_for_code(*, warehouse, code: str) -> Location | None:
    return Location.objects.filter(warehouse=warehouse, code=code).first()


def status_for_code(*, code: str) -> InventoryStatus | None:
    return InventoryStatus.objects.filter(code=code).first()


# --- verification (verify_inventory) -----------------------------------------

# Quantities have three decimals; on SQLite decimals sum as floats, so compare
# with half a unit of the last decimal instead of exact equality.
_EPSILON = "0.0005"


@dataclass
class InventoryVerification:
    """What ``inventory_verify`` found: ``problems`` is empty when nothing drifts."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "balance": quote(InventoryBalance._meta.db_table),
        "ledger": quote(InventoryLedgerEntry._meta.db_table),
        "reservation": quote(InventoryReservation._meta.db_table),
        "posting": quote(InventoryPosting._meta.db_table),
        "item": quote(Item._meta.db_table),
        "location": quote(Location._meta.db_table),
    }


def inventory_verify() -> InventoryVerification:
    """Recompute every balance from the ledger and check every invariant and reservation.

    Read-only; runs in one transaction so all checks see one snapshot
    (REPEATABLE READ on PostgreSQL when it owns the transaction, since postings
    may run concurrently).
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return _verify()


def _verify() -> InventoryVerification:
    t = _tables()
    eps = _EPSILON
    open_states = ", ".join(f"'{state}'" for state in OPEN_RESERVATION_STATES)
    report = InventoryVerification()
    report.counts = {
        "balances": _rows(f"SELECT COUNT(*) FROM {t['balance']}")[0][0],
        "ledger entries": _rows(f"SELECT COUNT(*) FROM {t['ledger']}")[0][0],
        "reservations": _rows(f"SELECT COUNT(*) FROM {t['reservation']}")[0][0],
        "postings": _rows(f"SELECT COUNT(*) FROM {t['posting']}")[0][0],
    }

    # 1. Every balance is the sum of its ledger entries (and no ledger sum lacks a balance).
    for item_id, location_id, status_id, on_hand, reserved, l_on_hand, l_reserved in _rows(
        f"""
        WITH sums AS (
            SELECT item_id, location_id, status_id,
                   SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved
            FROM {t["ledger"]} GROUP BY item_id, location_id, status_id
        )
        SELECT COALESCE(b.item_id, s.item_id), COALESCE(b.location_id, s.location_id),
               COALESCE(b.status_id, s.status_id), b.on_hand, b.reserved, s.on_hand, s.reserved
        FROM {t["balance"]} b
        FULL OUTER JOIN sums s ON s.item_id = b.item_id AND s.location_id = b.location_id
                              AND s.status_id = b.status_id
        WHERE ABS(COALESCE(b.on_hand, 0) - COALESCE(s.on_hand, 0)) > {eps}
           OR ABS(COALESCE(b.reserved, 0) - COALESCE(s.reserved, 0)) > {eps}
        ORDER BY 1, 2, 3
        """
    ):
        report.problems.append(
            f"balance item={item_id} location={location_id} status={status_id}: "
            f"on hand {on_hand} / reserved {reserved} but the ledger sums to "
            f"{l_on_hand} / {l_reserved}"
        )

    # 2. Balance invariants (the check constraints should make these impossible).
    for balance_id, on_hand, reserved, available in _rows(
        f"""
        SELECT id, on_hand, reserved, available FROM {t["balance"]}
        WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand
           OR ABS(available - (on_hand - reserved)) > {eps}
        ORDER BY id
        """
    ):
        report.problems.append(
            f"balance #{balance_id}: invariant broken "
            f"(on hand {on_hand}, reserved {reserved}, available {available})"
        )

    # 3. A balance belongs to the warehouse of its item and its location.
    for balance_id, warehouse_id, item_wh, location_wh in _rows(
        f"""
        SELECT b.id, b.warehouse_id, i.warehouse_id, l.warehouse_id
        FROM {t["balance"]} b
        JOIN {t["item"]} i ON i.id = b.item_id
        JOIN {t["location"]} l ON l.id = b.location_id
        WHERE b.warehouse_id <> i.warehouse_id OR b.warehouse_id <> l.warehouse_id
        ORDER BY b.id
        """
    ):
        report.problems.append(
            f"balance #{balance_id}: warehouse {warehouse_id} but item in {item_wh}, "
            f"location in {location_wh}"
        )

    # 4. Reserved on a balance is exactly what its open reservations hold.
    for balance_id, reserved, held in _rows(
        f"""
        SELECT b.id, b.reserved, COALESCE(h.held, 0)
        FROM {t["balance"]} b
        LEFT JOIN (
            SELECT balance_id, SUM(qty - qty_consumed - qty_released) AS held
            FROM {t["reservation"]} WHERE state IN ({open_states}) GROUP BY balance_id
        ) h ON h.balance_id = b.id
        WHERE ABS(b.reserved - COALESCE(h.held, 0)) > {eps}
        ORDER BY b.id
        """
    ):
        report.problems.append(
            f"balance #{balance_id}: reserved {reserved} but open reservations hold {held}"
        )

    # 5. Each reservation: state matches quantities, identity matches its balance,
    #    and its ledger entries add up to what it says was reserved, consumed, released.
    for row in _rows(
        f"""
        SELECT r.id, r.state, r.qty, r.qty_consumed, r.qty_released,
               COALESCE(SUM(CASE WHEN e.entry_type = 'RESERVE' THEN e.reserved_delta END), 0),
               COALESCE(SUM(CASE WHEN e.entry_type = 'PICK_OUT' THEN -e.on_hand_delta END), 0),
               COALESCE(SUM(CASE WHEN e.entry_type IN ('RELEASE', 'EXPIRE')
                                 THEN -e.reserved_delta END), 0),
               COALESCE(SUM(e.reserved_delta), 0),
               MAX(CASE WHEN b.item_id <> r.item_id OR b.location_id <> r.location_id
                         OR b.status_id <> r.status_id THEN 1 ELSE 0 END)
        FROM {t["reservation"]} r
        JOIN {t["balance"]} b ON b.id = r.balance_id
        LEFT JOIN {t["ledger"]} e ON e.reservation_id = r.id
        GROUP BY r.id, r.state, r.qty, r.qty_consumed, r.qty_released
        HAVING ABS(COALESCE(SUM(CASE WHEN e.entry_type = 'RESERVE'
                                     THEN e.reserved_delta END), 0) - r.qty) > {eps}
            OR ABS(COALESCE(SUM(CASE WHEN e.entry_type = 'PICK_OUT'
                                     THEN -e.on_hand_delta END), 0) - r.qty_consumed) > {eps}
            OR ABS(COALESCE(SUM(CASE WHEN e.entry_type IN ('RELEASE', 'EXPIRE')
                                     THEN -e.reserved_delta END), 0) - r.qty_released) > {eps}
            OR ABS(COALESCE(SUM(e.reserved_delta), 0)
                   - (r.qty - r.qty_consumed - r.qty_released)) > {eps}
            OR r.qty_consumed + r.qty_released > r.qty + {eps}
            OR (r.state IN ({open_states}) AND r.qty_consumed + r.qty_released >= r.qty)
            OR (r.state NOT IN ({open_states})
                AND ABS(r.qty_consumed + r.qty_released - r.qty) > {eps})
            OR MAX(CASE WHEN b.item_id <> r.item_id OR b.location_id <> r.location_id
                        OR b.status_id <> r.status_id THEN 1 ELSE 0 END) = 1
        ORDER BY r.id
        """
    ):
        (res_id, state, qty, consumed, released, l_res, l_cons, l_rel, l_held, wrong_bal) = row
        report.problems.append(
            f"reservation #{res_id} ({state}): qty {qty}, consumed {consumed}, released "
            f"{released}; ledger says reserved {l_res}, consumed {l_cons}, released {l_rel}, "
            f"still held {l_held}" + ("; not on its own balance" if wrong_bal else "")
        )

    # 6. Every posting left ledger entries (a posting is all or nothing).
    for posting_id, key in _rows(
        f"""
        SELECT p.id, p.posting_key FROM {t["posting"]} p
        WHERE NOT EXISTS (SELECT 1 FROM {t["ledger"]} e WHERE e.posting_id = p.id)
        ORDER BY p.id
        """
    ):
        report.problems.append(f"posting #{posting_id} '{key}' has no ledger entries")

    overdue = InventoryReservation.objects.filter(
        state__in=OPEN_RESERVATION_STATES, expires_at__lte=Now()
    ).count()
    if overdue:
        report.notes.append(
            f"{overdue} open reservation(s) past their expiry, waiting for the expiry task"
        )
    return report
