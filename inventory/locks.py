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
The single-balance postings lock their row by a guarded UPDATE inside the
posting's statement instead (``queries.balance_update_guarded``): with one row
there is no order to keep. The statements are in ``inventory.queries``.
"""

from collections.abc import Iterable

from django.db import connection
from django.db.models.functions import Now

from . import queries
from .models import (
    OPEN_RESERVATION_STATES,
    InventoryAdjustment,
    InventoryBalance,
    InventoryReservation,
)

# (item_id, location_id, status_id): the natural key of a balance.
BalanceKey = tuple[int, int, int]


def balances_ensure(
    *, keys: Iterable[BalanceKey], warehouse_ids: dict[BalanceKey, int]
) -> list[int]:
    """Create the missing zero balance rows of ``keys`` (so they can be locked); their ids.

    ``ON CONFLICT DO NOTHING`` in natural-key order: two postings creating the
    same rows wait for each other in one order, and no row lock is held yet.
    Returns the ids of the rows this call inserted (not those that existed).
    """
    keys = sorted(set(keys))
    created = []
    if len(keys) > 1:
        # One statement for many rows (a batch of picks into staging), same order.
        columns = [[warehouse_ids[key] for key in keys], *map(list, zip(*keys, strict=True))]
        with connection.cursor() as cursor:
            cursor.execute(queries.BALANCE_ENSURE_MANY, columns)
            return [row[0] for row in cursor.fetchall()]
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute(queries.BALANCE_ENSURE, [warehouse_ids[key], *key])
            row = cursor.fetchone()
            if row is not None:
                created.append(row[0])
    return created


def balances_lock(*, keys: Iterable[BalanceKey]) -> dict[BalanceKey, InventoryBalance]:
    """Lock the existing balance rows of ``keys`` in primary-key order (as model instances)."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    balance, statement = queries.balances_lock(len(keys))
    with connection.cursor() as cursor:
        cursor.execute(statement, [value for key in keys for value in key])
        rows = [balance.instance(row) for row in cursor.fetchall()]
    return {(row.item_id, row.location_id, row.status_id): row for row in rows}


def reservation_lock(*, reservation_id: int) -> InventoryReservation | None:
    """Lock one reservation (after its balance), with ``expired_by_clock`` on the DB clock.

    The row only: the caller already holds its item, location and status.
    """
    locked = next(
        iter(InventoryReservation.objects.raw(queries.RESERVATION_LOCK, [reservation_id])), None
    )
    if locked is None:
        return None
    locked.expired_by_clock = bool(locked.expired_by_clock)
    return locked


def reservations_lock(*, reservation_ids) -> dict[int, InventoryReservation]:
    """Lock several reservations (after their balances) in primary-key order, as
    ``reservation_lock`` does one: id → reservation."""
    ids = sorted({int(pk) for pk in reservation_ids})
    if not ids:
        return {}
    locked = {}
    for reservation in InventoryReservation.objects.raw(queries.RESERVATIONS_LOCK, [ids]):
        reservation.expired_by_clock = bool(reservation.expired_by_clock)
        locked[reservation.pk] = reservation
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


def adjustment_lock(*, adjustment_id: int):
    """Lock one adjustment row before deciding it (approve / reject); None if unknown.

    Taken before anything else of the decision (then the posting's own locks, then
    the finance counter last), so two deciders of one adjustment queue here and
    the second sees the first's decision.
    """
    return (
        InventoryAdjustment.objects.select_for_update(of=("self",))
        .select_related("item__base_uom", "item__warehouse", "location", "status", "reason_code")
        .filter(pk=adjustment_id)
        .first()
    )
