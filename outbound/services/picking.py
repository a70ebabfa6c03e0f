"""What picking does to orders: progress, shorts and re-allocation (called by tasking).

Tasking owns pick tasks and confirmations; the order side of a pick lives
here so that only outbound writes orders, lines and allocations:

- ``order_pick_lock``: the first lock of every pick transaction (order row,
  then the caller's task row, then balances inside the posting service: the
  order of ``outbound.locks``), so a confirmation never deadlocks a cancel;
  ``order_line_pick_lock`` reads the picked line with it;
- ``order_picking_started``: RELEASED → PICKING when a task is started;
- ``order_line_pick_record``: a confirmed pick adds to the line's
  ``qty_picked``; allocations whose reservation is used up become CONSUMED;
- ``order_line_short``: the unpicked remainder of a line at a location is
  released (the order continues without it);
- ``order_line_reallocate``: reserve a remainder again at other locations
  (planning's allocation, ``allocation.order_lines_allocate``) and return the
  new allocations for new tasks.

Invariant kept here: a line's ``qty_allocated`` is what is picked plus what is
still reserved for it (shorting lowers it, re-allocating raises it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from inventory import services as inventory_services
from inventory.models import InventoryReservation, ReservationState
from wms import sql
from wms.exceptions import NotFoundError
from wms.history import current_history_user_id, history_records, history_snapshot_sql

from .. import queries
from ..locks import order_lock_for_pick, orders_lock_for_pick
from ..models import (
    Allocation,
    AllocationStatus,
    OrderStatus,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
)
from .allocation import order_lines_allocate

ZERO = Decimal("0")


def _user(actor):
    return actor if getattr(actor, "_meta", None) is not None else None


def _stamp(obj, actor, reason: str) -> None:
    """History reason and user of the next save (the request's user when no person)."""
    obj._change_reason = reason
    if _user(actor) is not None:
        obj._history_user = actor


@transaction.atomic(savepoint=False)
def order_pick_lock(*, order_id) -> ReplenishmentOrder:
    """Lock the order for a pick (until the caller's transaction ends) and return it."""
    locked = order_lock_for_pick(order_id=order_id)
    if locked is None:
        raise NotFoundError("No such order.", code="order_not_found")
    return locked[0]


@transaction.atomic(savepoint=False)
def order_line_pick_lock(*, order_id, line_id) -> tuple[ReplenishmentOrder, ReplenishmentOrderLine]:
    """``order_pick_lock`` for a pick of one line: the order locked, and the line read
    in the same statement (not locked: the order lock serialises picks of its
    lines). A line of another order is not found."""
    locked = order_lock_for_pick(order_id=order_id, line_id=line_id)
    if locked is None:
        raise NotFoundError("No such order.", code="order_not_found")
    order, line = locked
    if line is None:
        raise NotFoundError("No such order line in this order.", code="order_line_not_found")
    return order, line


def _to_picking(order: ReplenishmentOrder, actor, reason: str) -> None:
    if order.status != OrderStatus.RELEASED:
        return
    order.status = OrderStatus.PICKING
    _stamp(order, actor, reason)
    order.save(update_fields=["status", "updated_at"])


@transaction.atomic(savepoint=False)
def order_picking_started(*, order_id, actor=None) -> ReplenishmentOrder:
    """A task of the order is in someone's hands: RELEASED → PICKING (no-op otherwise)."""
    order = order_pick_lock(order_id=order_id)
    _to_picking(order, actor, "picking started")
    return order


def _allocation_status_for(reservation: InventoryReservation) -> str | None:
    if reservation.state == ReservationState.CONSUMED:
        return AllocationStatus.CONSUMED
    if reservation.state in (ReservationState.RELEASED, ReservationState.EXPIRED):
        # Closed by a release: what was picked of it counts as consumed.
        if reservation.qty_consumed > 0:
            return AllocationStatus.CONSUMED
        return AllocationStatus.RELEASED
    return None


def _close_allocations(reservation_ids) -> None:
    if not reservation_ids:
        return
    for reservation in InventoryReservation.objects.filter(pk__in=list(reservation_ids)):
        status = _allocation_status_for(reservation)
        if status is not None:
            Allocation.objects.filter(
                reservation_id=reservation.pk, status=AllocationStatus.ACTIVE
            ).update(status=status)


@transaction.atomic(savepoint=False)
def order_line_pick_record(
    *,
    line_id,
    qty: Decimal,
    order_id=None,
    order: ReplenishmentOrder | None = None,
    consumed_reservation_ids=(),
    actor=None,
) -> None:
    """A pick of ``qty`` base units for the line is being posted: add it to
    ``qty_picked``, move the order to PICKING, mark CONSUMED the allocations whose
    reservations this pick uses up (``consumed_reservation_ids``).

    Pass ``order`` when the caller's transaction already holds it from
    ``order_pick_lock`` (saves locking it again); else ``order_id``.

    Every pick confirmation comes here, so the writes are plain statements sent
    in one round trip (``wms.sql``): the line's increment (in the database: the
    order lock serialises picks of its lines), its history record, the
    allocations, and the first time the order's status and history, the same
    rows ``save()`` and simple-history would write.
    """
    if order is None:
        order = order_pick_lock(order_id=order_id)
    statements = _line_pick_statements(order, line_id, qty, consumed_reservation_ids, actor)
    if sql.execute(statements)[0] != 1:
        # Rolled back with the caller's transaction (the exception leaves it).
        raise NotFoundError("No such order line in this order.", code="order_line_not_found")


@dataclass(frozen=True)
class LinePick:
    """One pick of ``order_lines_pick_record``: ``order_line_pick_record``'s arguments."""

    order: ReplenishmentOrder
    line_id: object
    qty: Decimal
    consumed_reservation_ids: tuple = ()
    actor: object = None


@transaction.atomic(savepoint=False)
def order_lines_pick_record_many(*, picks: list[LinePick]) -> None:
    """``order_line_pick_record`` for a batch of picks (the caller holds their orders
    locked, ``orders_pick_lock``), set-based in one round trip: the lines'
    increments, a history record per line and person, the allocations used up,
    the orders that were RELEASED to PICKING with their history. A line picked
    twice in one batch gets one history record (its state after the batch)."""
    if not picks:
        return
    now = timezone.now()
    when = sql.db_value(ReplenishmentOrder, "updated_at", now)
    statements = [
        (
            queries.LINES_PICKED,
            [
                [sql.db_value(ReplenishmentOrderLine, "id", p.line_id) for p in picks],
                [sql.db_value(ReplenishmentOrder, "id", p.order.pk) for p in picks],
                [sql.db_value(ReplenishmentOrderLine, "qty_picked", p.qty) for p in picks],
            ],
        )
    ]
    lines = {p.line_id for p in picks}
    histories: dict = {}
    starting: dict = {}
    for pick in picks:
        user = _user(pick.actor)
        user_id = user.pk if user is not None else current_history_user_id()
        if pick.qty > 0:
            histories.setdefault(user_id, {})[pick.line_id] = True
        if pick.order.status == OrderStatus.RELEASED:
            pick.order.status = OrderStatus.PICKING
            pick.order.updated_at = now
            starting.setdefault(user_id, {})[pick.order.pk] = True
    for user_id, line_ids in histories.items():
        statements.append(
            history_records(
                ReplenishmentOrderLine,
                list(line_ids),
                history_type="~",
                change_reason="picked",
                user_id=user_id,
            )
        )
    consumed = [int(pk) for p in picks for pk in p.consumed_reservation_ids]
    if consumed:
        statements.append(
            (
                queries.ALLOCATIONS_CONSUMED,
                [AllocationStatus.CONSUMED, AllocationStatus.ACTIVE, consumed],
            )
        )
    for user_id, order_ids in starting.items():
        keys = [sql.db_value(ReplenishmentOrder, "id", pk) for pk in order_ids]
        statements.append((queries.ORDERS_PICKING, [OrderStatus.PICKING, when, keys]))
        statements.append(
            history_records(
                ReplenishmentOrder,
                list(order_ids),
                history_type="~",
                change_reason="picking",
                user_id=user_id,
            )
        )
    if sql.execute(statements)[0] != len(lines):
        raise NotFoundError("No such order line in this order.", code="order_line_not_found")


def orders_pick_lock(*, order_ids, line_ids) -> tuple[dict, dict]:
    """``order_line_pick_lock`` for a batch of picks: the orders locked (primary-key
    order) and the lines read, as (id → order, id → line), the ones that exist."""
    return orders_lock_for_pick(order_ids=order_ids, line_ids=line_ids)


def _line_pick_statements(order, line_id, qty, consumed_reservation_ids, actor) -> list:
    """The statements of one pick on a line (the first: ``LINE_PICKED``, one row)."""
    now = timezone.now()
    user = _user(actor)
    user_id = user.pk if user is not None else current_history_user_id()
    line_key = sql.db_value(ReplenishmentOrderLine, "id", line_id)
    order_key = sql.db_value(ReplenishmentOrder, "id", order.pk)
    when = sql.db_value(ReplenishmentOrder, "updated_at", now)
    statements = [
        (
            queries.LINE_PICKED,
            [sql.db_value(ReplenishmentOrderLine, "qty_picked", qty), line_key, order_key],
        )
    ]
    if qty > 0:
        statements.append(
            (
                history_snapshot_sql(ReplenishmentOrderLine).format(where="id = %s"),
                [when, "~", "picked", user_id, line_key],
            )
        )
    if consumed_reservation_ids:
        statements.append(
            (
                queries.ALLOCATIONS_CONSUMED,
                [
                    AllocationStatus.CONSUMED,
                    AllocationStatus.ACTIVE,
                    [int(pk) for pk in consumed_reservation_ids],
                ],
            )
        )
    if order.status == OrderStatus.RELEASED:
        order.status = OrderStatus.PICKING
        order.updated_at = now
        statements.append(sql.update(order, ["status", "updated_at"]))
        statements.append(
            (
                history_snapshot_sql(ReplenishmentOrder).format(where="id = %s"),
                [when, "~", "picking", user_id, order_key],
            )
        )
    return statements


@transaction.atomic
def order_line_short(
    *, order_id, line_id, reservation_ids, qty: Decimal, posting_key_prefix: str, actor=None
) -> Decimal:
    """Release up to ``qty`` still reserved for the line in ``reservation_ids`` (oldest
    first) and lower the line's ``qty_allocated`` by what was released.

    Posting keys ``<prefix>:release:<reservation id>``: a retry releases nothing
    twice. Returns the quantity released.
    """
    order_pick_lock(order_id=order_id)
    line = ReplenishmentOrderLine.objects.select_for_update(of=("self",)).get(
        pk=line_id, order_id=order_id
    )
    released = ZERO
    touched = []
    reservations = InventoryReservation.objects.filter(pk__in=list(reservation_ids)).order_by("pk")
    for reservation in reservations.select_related("item", "location", "status"):
        left = qty - released
        if left <= 0:
            break
        if not reservation.is_open or reservation.qty_open <= 0:
            continue
        take = min(left, reservation.qty_open)
        result = inventory_services.reservation_release(
            reservation=reservation,
            qty=None if take == reservation.qty_open else take,
            posting_key=f"{posting_key_prefix}:release:{reservation.pk}",
            actor=actor,
        )
        released += sum(-entry.reserved_delta for entry in result.entries)
        touched.append(reservation.pk)
    if released > 0:
        line.qty_allocated -= released  # the line row is locked until commit
        _stamp(line, actor, "short: remainder released")
        line.save(update_fields=["qty_allocated"])
    _close_allocations(touched)
    return released


@transaction.atomic
def order_line_reallocate(
    *, order_id, line_id, qty: Decimal, exclude_location_ids=(), actor=None
) -> list[Allocation]:
    """Reserve up to ``qty`` more for the line at locations other than
    ``exclude_location_ids``, as planning does (``allocation.order_lines_allocate``:
    pick faces first, oldest stock, fewest locations). Returns the new allocations
    (may be empty)."""
    order_pick_lock(order_id=order_id)
    line = (
        ReplenishmentOrderLine.objects.select_for_update(of=("self",))
        .select_related("item__warehouse")  # the reservation events name the warehouse
        .get(pk=line_id, order_id=order_id)
    )
    if qty <= 0:
        return []
    allocated, allocations = order_lines_allocate(
        order_id=order_id,
        warehouse_id=line.item.warehouse_id,
        wanted=[(line, qty)],
        exclude_location_ids=exclude_location_ids,
    )
    if allocations:
        Allocation.objects.bulk_create(allocations)
        line.qty_allocated += allocated[line.pk]
        line.plan_round += 1
        bulk_update_with_history(
            [line],
            ReplenishmentOrderLine,
            ["qty_allocated", "plan_round"],
            default_user=_user(actor),
            default_change_reason="re-allocated after a picking exception",
        )
    return allocations
