"""Every lock the inventory context takes, in one module (STYLE.md; Saleor ``lock_objects``).

Lock order, for every posting (``inventory.services``):

1. the posting key: inserting the unique ``InventoryPosting`` row makes a second
   call with the same key wait for the first to finish;
2. missing balance rows are created (zero, natural-key order) before any
   balance row is locked, so an insert never waits while we hold a row lock;
3. balance rows, ``SELECT … FOR UPDATE`` in primary-key order;
4. the reservation row, after its balance.

Two postings therefore always want shared rows in the same order and cannot
deadlock each other. Quantities are never read-modified-written in Python:
the locked values are only read to check availability, the UPDATE adds deltas.
"""

from collections.abc import Iterable
from decimal import Decimal

from django.db import connection
from django.db.models.functions import Now

from wms import sql

from .models import OPEN_RESERVATION_STATES, InventoryBalance, InventoryReservation

# (item_id, location_id, status_id): the natural key of a balance.
BalanceKey = tuple[int, int, int]
ZERO = Decimal("0")


def balances_ensure(
    *, keys: Iterable[BalanceKey], warehouse_ids: dict[BalanceKey, int]
) -> list[int]:
    """Create the missing zero balance rows of ``keys`` (so they can be locked); their ids.

    ``ON CONFLICT DO NOTHING`` in natural-key order: two postings creating the
    same rows wait for each other in one order, and no row lock is held yet.
    Returns the ids of the rows this call inserted (not those that existed).
    """
    keys = sorted(set(keys))
    table = connection.ops.quote_name(InventoryBalance._meta.db_table)
    created = []
    with connection.cursor() as cursor:
        for key in keys:
            # An existing row is found by the unique index before anything is
            # written, so this costs no more than the SELECT it replaces.
            cursor.execute(
                f"INSERT INTO {table} (warehouse_id, item_id, location_id, status_id, on_hand, "
                "reserved, updated_at) VALUES (%s, %s, %s, %s, 0, 0, CURRENT_TIMESTAMP) "
                "ON CONFLICT (item_id, location_id, status_id) DO NOTHING RETURNING id",
                [warehouse_ids[key], *key],
            )
            row = cursor.fetchone()
            if row is not None:
                created.append(row[0])
    return created


def balances_lock(*, keys: Iterable[BalanceKey]) -> dict[BalanceKey, InventoryBalance]:
    """Lock the existing balance rows of ``keys`` in primary-key order.

    A raw query (the rows come back as model instances): this runs on every
    pick, and the ORM's query compilation cost more than the query.
    """
    keys = sorted(set(keys))
    if not keys:
        return {}
    balance = sql.select(InventoryBalance, "b")
    match = " OR ".join(["(item_id = %s AND location_id = %s AND status_id = %s)"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {balance.sql} FROM {sql.table(InventoryBalance)} b "
            f"WHERE {match} ORDER BY b.id{sql.row_lock()}",
            [value for key in keys for value in key],
        )
        rows = [balance.instance(row) for row in cursor.fetchall()]
    return {(row.item_id, row.location_id, row.status_id): row for row in rows}


def balance_update_guarded_statement(
    *, key: BalanceKey, d_on_hand: Decimal, d_reserved: Decimal, gate: str = ""
) -> tuple[str, list]:
    """Add the deltas to one balance if it stays available ≥ 0, returning its id.

    The UPDATE takes the row lock itself; used only for single-balance
    postings, where there is no order to keep. No row back when the row is
    missing or the guard refused (the caller tells which). ``gate``: an extra
    condition (the posting engine makes it depend on the claim of its key).
    """
    needed = max(ZERO, d_reserved - d_on_hand)  # how much available the change consumes
    table = connection.ops.quote_name(InventoryBalance._meta.db_table)
    return (
        # CAST: SQLite binds Decimals as text, which never compares equal to a number.
        f"UPDATE {table} SET on_hand = on_hand + CAST(%s AS NUMERIC), "
        "reserved = reserved + CAST(%s AS NUMERIC), updated_at = CURRENT_TIMESTAMP "
        "WHERE item_id = %s AND location_id = %s AND status_id = %s "
        f"AND on_hand - reserved >= CAST(%s AS NUMERIC) {gate}RETURNING id",
        [d_on_hand, d_reserved, *key, needed],
    )


def reservation_lock(*, reservation_id: int) -> InventoryReservation | None:
    """Lock one reservation (after its balance), with ``expired_by_clock`` on the DB clock.

    The row only: the caller already holds its item, location and status.
    """
    table = connection.ops.quote_name(InventoryReservation._meta.db_table)
    locked = next(
        iter(
            InventoryReservation.objects.raw(
                f"SELECT id, warehouse_id, balance_id, item_id, location_id, status_id, state, "
                "qty, qty_consumed, qty_released, demand_ref, expires_at, created_at, "
                "resolved_at, (expires_at IS NOT NULL AND expires_at <= CURRENT_TIMESTAMP) "
                f"AS expired_by_clock FROM {table} WHERE id = %s{sql.row_lock()}",
                [reservation_id],
            )
        ),
        None,
    )
    if locked is None:
        return None
    locked.expired_by_clock = bool(locked.expired_by_clock)
    return locked


def reservation_ids_due(*, limit: int) -> list[int]:
    """Open reservations whose expiry has passed on the database clock (no lock taken)."""
    return list(
        InventoryReservation.objects.filter(
            state__in=OPEN_RESERVATION_STATES, expires_at__lte=Now()
        )
        .order_by("expires_at", "id")
        .values_list("id", flat=True)[:limit]
    )
