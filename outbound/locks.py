"""Every row lock the outbound context takes, in one place.

Lock order (every transaction that takes more than one follows it):
the warehouse's wave advisory lock → wave rows → order rows (primary-key
order) → pick task rows → inventory balances (inside the posting service,
primary-key order). Planners take orders with SKIP LOCKED, so two planners
never wait for each other on an order; they only meet on balances.
"""

from functools import partial

from django.db import connection

from wms import sql

from .models import ReplenishmentOrder, Wave

_WAVES_NAMESPACE = 0x5741_5645  # "WAVE"


def order_lock(*, order_id) -> ReplenishmentOrder | None:
    """The order, locked until the end of the transaction (waits for a planner)."""
    return (
        ReplenishmentOrder.objects.select_for_update(of=("self",))
        .filter(pk=order_id)
        .select_related("warehouse")
        .first()
    )


_ORDER_LOCK_SQL: dict = {}


def order_lock_for_pick(*, order_id) -> ReplenishmentOrder | None:
    """``order_lock`` in a statement built once per process (``wms.sql``): every pick
    confirmation starts with it."""
    from inventory.models import Warehouse

    order, warehouse = sql.select(ReplenishmentOrder, "o"), sql.select(Warehouse, "w")
    statement = _ORDER_LOCK_SQL.get(connection.vendor)
    if statement is None:
        lock = sql.row_lock("o")
        statement = _ORDER_LOCK_SQL[connection.vendor] = (
            f"SELECT {order.sql}, {warehouse.sql} FROM {sql.table(ReplenishmentOrder)} o "
            f"JOIN {sql.table(Warehouse)} w "
            f"ON w.id = o.{sql.column(ReplenishmentOrder, 'warehouse')} "
            f"WHERE o.id = %s{lock}"
        )
    with connection.cursor() as cursor:
        cursor.execute(statement, [sql.db_value(ReplenishmentOrder, "id", order_id)])
        row = cursor.fetchone()
    if row is None:
        return None
    result = order.instance(row)
    ReplenishmentOrder.warehouse.field.set_cached_value(result, warehouse.instance(row, len(order)))
    return result


_CLAIM_SQL: dict = {}


def order_claim_next_for_planning(
    *, warehouse_id: int, planning_group: int
) -> ReplenishmentOrder | None:
    """The next order of this partition awaiting planning that no one else holds.

    ``SKIP LOCKED``: a planner working on an order (or a cancel waiting on it)
    is passed by, so several planners can drain one partition side by side.
    Built once per process (``wms.sql``): every planned order starts here. The
    conditions and the order are those of ``order_planning_queue_idx``.
    """
    order = sql.select(ReplenishmentOrder, "o")
    statement = _CLAIM_SQL.get(connection.vendor)
    if statement is None:
        column = partial(sql.column, ReplenishmentOrder)
        statement = _CLAIM_SQL[connection.vendor] = (
            f"SELECT {order.sql} FROM {sql.table(ReplenishmentOrder)} o "
            f"WHERE o.{column('warehouse')} = %s AND o.{column('planning_group')} = %s "
            f"AND o.{column('needs_planning')} = true "
            f"ORDER BY o.{column('priority')}, o.{column('requested_ship_by')}, o.id "
            f"LIMIT 1{sql.row_lock('o', skip_locked=True)}"
        )
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
