"""Every row lock the outbound context takes, in one place.

Lock order (every transaction that takes more than one follows it):
the warehouse's wave advisory lock → wave rows → order rows (primary-key
order) → pick task rows → inventory balances (inside the posting service,
primary-key order). Planners take orders with SKIP LOCKED, so two planners
never wait for each other on an order; they only meet on balances.
"""

from django.db import connection

from wms import sql

from . import queries
from .models import ReplenishmentOrder, ReplenishmentOrderLine, Wave

_WAVES_NAMESPACE = 0x5741_5645  # "WAVE"


def order_lock(*, order_id) -> ReplenishmentOrder | None:
    """The order, locked until the end of the transaction (waits for a planner)."""
    return (
        ReplenishmentOrder.objects.select_for_update(of=("self",))
        .filter(pk=order_id)
        .select_related("warehouse")
        .first()
    )


def orders_lock(*, order_ids) -> list[ReplenishmentOrder]:
    """The orders with their warehouse, locked in primary-key order (one statement: the
    rows are locked as the sort hands them out); the ones that exist."""
    return list(
        ReplenishmentOrder.objects.select_for_update(of=("self",))
        .filter(pk__in=list(order_ids))
        .select_related("warehouse")
        .order_by("pk")
    )


def order_lock_for_pick(
    *, order_id, line_id=None
) -> tuple[ReplenishmentOrder, ReplenishmentOrderLine | None] | None:
    """The order locked as ``order_lock`` locks it (its warehouse not read), with the
    line ``line_id`` read in the same statement (None when it is not one of the
    order's, or not asked for); None without the order. Every pick confirmation
    starts with it (``queries.order_lock_for_pick``)."""
    order, line, statement = queries.order_lock_for_pick()
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            [
                None if line_id is None else sql.db_value(ReplenishmentOrderLine, "id", line_id),
                sql.db_value(ReplenishmentOrder, "id", order_id),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    found = row[len(order)] is not None  # the line's id
    return order.instance(row), line.instance(row, len(order)) if found else None


def orders_lock_for_pick(*, order_ids, line_ids) -> tuple[dict, dict]:
    """``order_lock_for_pick`` for a batch of picks: the orders locked in primary-key
    order and the lines read (not locked): (order id → order, line id → line), the
    ones that exist (``queries.orders_lock_for_pick``)."""
    order, line, lock_statement, line_statement = queries.orders_lock_for_pick()
    order_keys = sorted({sql.db_value(ReplenishmentOrder, "id", pk) for pk in order_ids})
    line_keys = list({sql.db_value(ReplenishmentOrderLine, "id", pk) for pk in line_ids})
    with connection.cursor() as cursor:
        cursor.execute(lock_statement, [order_keys])
        orders = [order.instance(row) for row in cursor.fetchall()]
        cursor.execute(line_statement, [line_keys])
        lines = [line.instance(row) for row in cursor.fetchall()]
    return {o.pk: o for o in orders}, {li.pk: li for li in lines}


def order_claim_next_for_planning(
    *, warehouse_id: int, planning_group: int
) -> ReplenishmentOrder | None:
    """The next order of this partition awaiting planning that no one else holds.

    ``SKIP LOCKED``: a planner working on an order (or a cancel waiting on it)
    is passed by, so several planners can drain one partition side by side.
    Every planned order starts here (``queries.order_claim_next_for_planning``).
    """
    order, statement = queries.order_claim_next_for_planning()
    with connection.cursor() as cursor:
        cursor.execute(statement, [warehouse_id, planning_group])
        row = cursor.fetchone()
    return None if row is None else order.instance(row)


def orders_claim_unwaved(*, warehouse_id: int, limit: int) -> list[ReplenishmentOrder]:
    """Planned orders not yet in a wave (their wave is being built by the caller)."""
    return list(
        ReplenishmentOrder.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(warehouse_id=warehouse_id, status="PLANNED", wave__isnull=True)
        .order_by("priority", "requested_ship_by", "id")[:limit]
    )


def orders_lock_in_wave(*, wave_id, statuses) -> list[ReplenishmentOrder]:
    return list(
        ReplenishmentOrder.objects.select_for_update(of=("self",))
        .filter(wave_id=wave_id, status__in=statuses)
        .order_by("pk")
    )


def wave_lock(*, wave_id) -> Wave | None:
    return Wave.objects.select_for_update(of=("self",)).filter(pk=wave_id).first()


def waves_lock_open(*, warehouse_id: int) -> list[Wave]:
    return list(
        Wave.objects.select_for_update(of=("self",))
        .filter(warehouse_id=warehouse_id, status="OPEN")
        .order_by("pk")
    )


def warehouse_waves_lock(*, warehouse_id: int) -> None:
    """Serialise wave building and release of one warehouse (until commit).

    Wave work is batched and short; one at a time per warehouse keeps two
    builders from opening two waves for the same group.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_WAVES_NAMESPACE, warehouse_id])
