"""Order intake: accept (durably, then plan asynchronously) and cancel.

Accepting writes the order, its lines, their history and the ``order.accepted``
event in one transaction and, after the commit, nudges the planner of the
order's partition. Cancelling releases the order's reservations through the
posting service and cancels its not-yet-started pick tasks.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from inventory import selectors as inventory_selectors
from inventory.services import reservation_release
from wms import metrics
from wms.correlation import get_correlation_id
from wms.exceptions import BusinessValidationError, DomainError, NotFoundError
from wms.history import current_history_user_id
from wms.outbox import outbox_emit, outbox_row, outbox_rows_insert
from wms.sql import server_bound_cursor

from .. import queries, selectors
from ..locks import order_lock
from ..models import (
    CANCELLABLE_STATUSES,
    AllocationStatus,
    LineStatus,
    OrderStatus,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
)
from ..ports import PickingStarted, pick_work

ORDER_AGGREGATE = "ReplenishmentOrder"


@dataclass(frozen=True)
class OrderLineInput:
    line_number: int
    sku: str
    qty: Decimal
    uom: str | None = None


class DuplicateExternalOrder(DomainError):
    status = 409
    code = "duplicate_external_order"
    title = "This store already sent an order with this externalOrderId"


class OrderNotCancellable(DomainError):
    status = 409
    code = "order_not_cancellable"
    title = "The order can no longer be cancelled"


def planning_group_for(store_code: str) -> int:
    """The planning partition of a store's orders (stable across processes)."""
    return zlib.crc32(store_code.encode()) % max(1, settings.WMS_PLANNING_GROUPS)


def _duplicate(order: ReplenishmentOrder) -> DuplicateExternalOrder:
    return DuplicateExternalOrder(
        f"Order '{order.external_order_id}' of store '{order.store_code}' exists as {order.id}.",
        extra={"existingOrderId": str(order.id), "existingStatus": order.status},
    )


@dataclass(slots=True)
class _Line:
    """A checked order line, the columns intake gives a ``ReplenishmentOrderLine`` row
    (the others take their model defaults)."""

    line_number: int
    item_id: int
    uom_id: int | None
    qty_requested: Decimal
    base_units_per_uom: Decimal
    qty_requested_base: Decimal
    uom_code: str


def _resolve_lines(*, warehouse, lines: list[OrderLineInput]) -> list[_Line]:
    """The synchronous business checks of CONTRACT.md; all problems at once, as 422."""
    max_lines = settings.WMS_ORDER_MAX_LINES
    if len(lines) > max_lines:
        raise BusinessValidationError(
            f"An order may have at most {max_lines} lines; this one has {len(lines)}.",
            code="too_many_lines",
            errors=[{"field": "lines", "code": "too_many_lines", "message": f"max {max_lines}"}],
        )
    errors = _line_list_errors(lines)
    items = selectors.items_for_intake(warehouse_id=warehouse.pk, skus={line.sku for line in lines})
    units = _Units.for_lines(lines, items)
    resolved: list[_Line] = []
    for index, line in enumerate(lines):
        checked, error = _line_resolved(index, line, items.get(line.sku), warehouse, units)
        if error is not None:
            errors.append(error)
        else:
            resolved.append(checked)
    if errors:
        raise BusinessValidationError(
            "The order failed validation; nothing was stored.",
            code="validation_failed",
            errors=errors,
        )
    missing_uoms = {ln.uom_code for ln in resolved if ln.uom_id is None}
    if missing_uoms:
        ids = inventory_selectors.unit_ids_by_code(codes=missing_uoms)
        for ln in resolved:
            if ln.uom_id is None:
                ln.uom_id = ids[ln.uom_code]
    return resolved


def _line_list_errors(lines: list[OrderLineInput]) -> list[dict]:
    """What is wrong with the list itself: no line, repeated line numbers, quantities
    that are not positive."""
    errors: list[dict] = []
    if not lines:
        errors.append({"field": "lines", "code": "required", "message": "An order needs a line."})
    seen: set[int] = set()
    for index, line in enumerate(lines):
        if line.line_number in seen:
            errors.append(
                {
                    "field": f"lines[{index}].lineNumber",
                    "code": "duplicate_line_number",
                    "message": f"Line number {line.line_number} appears more than once.",
                }
            )
        seen.add(line.line_number)
        if line.qty <= 0:
            errors.append(
                {
                    "field": f"lines[{index}].qty",
                    "code": "qty_not_positive",
                    "message": "Quantity must be greater than zero.",
                }
            )
    return errors


@dataclass
class _Units:
    """The units the lines name beyond their items' base units: which exist, and how
    many base units each is for each item (looked up only when a line names one)."""

    known: set[str]
    conversions: dict[tuple[int, str], Decimal]

    @classmethod
    def for_lines(cls, lines: list[OrderLineInput], items: dict) -> _Units:
        codes = {line.uom for line in lines if line.uom}
        if not codes - {item.base_uom_code for item in items.values()}:
            return cls(set(), {})
        return cls(
            inventory_selectors.unit_codes_known(codes=codes),
            inventory_selectors.unit_conversions(
                item_ids=[i.pk for i in items.values()], codes=codes
            ),
        )


def _line_resolved(
    index: int, line: OrderLineInput, item, warehouse, units: _Units
) -> tuple[_Line | None, dict | None]:
    """The line with its item and unit resolved, or the problem with its SKU or unit."""
    if item is None or not item.is_active:
        return None, {
            "field": f"lines[{index}].sku",
            "code": "unknown_sku",
            "message": f"SKU '{line.sku}' is not known in warehouse {warehouse.code}.",
        }
    uom_code = line.uom or item.base_uom_code
    if uom_code == item.base_uom_code:
        uom_id, factor = item.base_uom_id, Decimal("1")
    elif (item.pk, uom_code) in units.conversions:
        uom_id, factor = None, units.conversions[(item.pk, uom_code)]
    else:
        return None, {
            "field": f"lines[{index}].uom",
            "code": "unknown_uom",
            "message": (
                f"Unit '{uom_code}' is not known for SKU '{line.sku}'"
                if uom_code in units.known
                else f"Unit '{uom_code}' is not known."
            ),
        }
    return _new_line(line, item, uom_id, uom_code, factor), None


def _new_line(line: OrderLineInput, item, uom_id, uom_code, factor) -> _Line:
    return _Line(
        line_number=line.line_number,
        item_id=item.pk,
        uom_id=uom_id,
        qty_requested=line.qty,
        base_units_per_uom=factor,
        qty_requested_base=(line.qty * factor).quantize(Decimal("0.001")),
        uom_code=uom_code,
    )


@transaction.atomic(savepoint=False)
def _order_create(
    *,
    warehouse,
    store_code: str,
    external_order_id: str,
    requested_ship_by,
    priority: int,
    lines: list[OrderLineInput],
) -> ReplenishmentOrder:
    # A duplicate externalOrderId is caught by the unique constraint on insert
    # (see ``_order_write``): no look-up on the hot path.
    order_lines = _resolve_lines(warehouse=warehouse, lines=lines)
    if any(line.qty_requested_base <= 0 for line in order_lines):
        raise BusinessValidationError(
            "A quantity rounds to zero base units.", code="validation_failed", errors=[]
        )
    group = planning_group_for(store_code)
    order = ReplenishmentOrder(
        warehouse=warehouse,
        store_code=store_code,
        external_order_id=external_order_id,
        status=OrderStatus.ACCEPTED,
        priority=priority,
        requested_ship_by=requested_ship_by,
        planning_group=group,
        needs_planning=True,
        correlation_id=get_correlation_id(),
    )
    event = outbox_row(
        event_type="order.accepted",
        aggregate_type=ORDER_AGGREGATE,
        aggregate_id=order.id,
        data={
            "orderId": str(order.id),
            "externalOrderId": external_order_id,
            "storeCode": store_code,
            "warehouse": warehouse.code,
            "status": order.status,
            "priority": priority,
            "requestedShipBy": requested_ship_by.isoformat() if requested_ship_by else None,
            "lineCount": len(order_lines),
        },
    )
    if not _order_write(order, order_lines, event):
        existing = ReplenishmentOrder.objects.get(
            store_code=store_code, external_order_id=external_order_id
        )
        raise _duplicate(existing)
    # Imported here: planning imports this module (ORDER_AGGREGATE) at its top.
    from .planning import planning_nudge

    warehouse_id = warehouse.pk
    transaction.on_commit(lambda: planning_nudge(warehouse_id=warehouse_id, planning_group=group))
    metrics.order_accepted(warehouse=warehouse)
    return order


def _order_write(order: ReplenishmentOrder, lines: list[_Line], event: dict) -> bool:
    """Insert the order, its lines, the history records of both and the outbox event
    (an ``outbox_row``), unless the store already sent this externalOrderId: then
    nothing is written and the answer is False.

    One statement (``queries.order_accept``): the order goes in with ``INSERT …
    ON CONFLICT DO NOTHING`` and the other rows are inserted from the order row
    that INSERT returned (data-modifying ``WITH``), so a duplicate (even one
    racing this request) writes none of them, without an error: no savepoint is
    needed and the caller's transaction stays usable.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    history = [now, "+", None, current_history_user_id()]
    events, event_params = outbox_rows_insert([event], join="CROSS JOIN o")
    params = [
        *[f.get_db_prep_save(f.pre_save(order, True), connection) for f in queries.ORDER_FIELDS],
        *[f.get_default() for f in _LINE_CONSTANTS],
        *_line_arrays(lines),
        *history,
        *history,
        *event_params,
    ]
    # Prepared from its second use: parsed and planned once per connection.
    with server_bound_cursor() as cursor:
        cursor.execute(queries.order_accept(_PER_LINE, _LINE_CONSTANTS, events), params)
        inserted = cursor.fetchone() is not None
    if inserted:
        order._state.adding = False
        order._state.db = connection.alias
    return inserted


_LINE_GIVEN = frozenset(_Line.__dataclass_fields__)

# The line columns that differ per line (what intake gives, and defaults computed per
# row such as the uuid7 id), and those that take one fixed default (order_id: the order's).
_PER_LINE = tuple(
    f
    for f in queries.LINE_FIELDS
    if f.attname != "order_id" and (f.attname in _LINE_GIVEN or callable(f.default))
)
_LINE_CONSTANTS = tuple(
    f for f in queries.LINE_FIELDS if f.attname != "order_id" and f not in _PER_LINE
)
_ARRAY_SAFE = frozenset({int, Decimal, uuid.UUID})


def _line_arrays(lines: list[_Line]) -> list:
    """One array per per-line column. Numbers and UUIDs go as the text of an array
    literal (none of their characters needs quoting there, and one string is far
    cheaper to send than a list psycopg adapts element by element)."""
    columns = []
    for field in _PER_LINE:
        if field.attname in _LINE_GIVEN:
            values = [getattr(line, field.attname) for line in lines]
        else:
            values = [field.get_default() for _line in lines]
        if all(type(v) in _ARRAY_SAFE for v in values):
            columns.append("{" + ",".join(map(str, values)) + "}")
        else:
            columns.append([field.get_db_prep_save(v, connection) for v in values])
    return columns


def order_accept(
    *,
    warehouse,
    store_code: str,
    external_order_id: str,
    lines: list[OrderLineInput],
    requested_ship_by=None,
    priority: int = 5,
) -> ReplenishmentOrder:
    """Durably accept a store's order (status ACCEPTED); planning follows asynchronously.

    Raises ``BusinessValidationError`` (422) for unknown SKUs or units, quantities
    that are not positive, repeated line numbers or too many lines, and
    ``DuplicateExternalOrder`` (409, with the existing id) when the store
    already sent this ``external_order_id``. Nothing is stored in either case.
    """
    return _order_create(
        warehouse=warehouse,
        store_code=store_code,
        external_order_id=external_order_id,
        requested_ship_by=requested_ship_by,
        priority=priority,
        lines=lines,
    )


@transaction.atomic
def order_cancel(*, order_id, actor=None, reason: str = "") -> ReplenishmentOrder:
    """Cancel an order that has not started picking; idempotent.

    Releases every active reservation of the order (posting keys
    ``cancel:<allocation id>``), cancels its released-but-untouched pick tasks,
    and re-opens planning for backorders of the same items. An order already
    cancelled is returned as it is; one in picking or later raises
    ``OrderNotCancellable`` (409).

    Locks: the order row, then its pick tasks, then (inside the posting
    service) balances in primary-key order.
    """
    # planning imports this module (ORDER_AGGREGATE): imported at call time.
    from .planning import backorders_reopen_for_items

    order = order_lock(order_id=order_id)
    if order is None:
        raise NotFoundError("No such order.", code="order_not_found")
    if order.status == OrderStatus.CANCELLED:
        return order
    if order.status not in CANCELLABLE_STATUSES:
        raise OrderNotCancellable(f"The order is {order.status}; it can no longer be cancelled.")
    if order.status == OrderStatus.RELEASED:
        try:
            pick_work().tasks_cancel_for_order(order=order, actor=actor)
        except PickingStarted as exc:
            raise OrderNotCancellable("Picking has started for this order.") from exc
    item_ids = _order_allocations_release(order, actor=actor)
    _order_lines_cancel(order, reason=reason)
    _order_mark_cancelled(order, reason=reason)
    if item_ids:
        backorders_reopen_for_items(warehouse_id=order.warehouse_id, item_ids=item_ids)
    return order


def _order_allocations_release(order: ReplenishmentOrder, *, actor) -> set[int]:
    """Release the order's reservations (balance order); the items they were for."""
    allocations = list(
        order.allocations.filter(status=AllocationStatus.ACTIVE)
        .select_related("reservation")
        .order_by("reservation__balance_id", "pk")
    )
    for allocation in allocations:
        reservation_release(
            reservation=allocation.reservation,
            posting_key=f"cancel:{allocation.pk}",
            actor=actor if getattr(actor, "system", None) is None else None,
        )
    if allocations:
        order.allocations.filter(pk__in=[a.pk for a in allocations]).update(
            status=AllocationStatus.RELEASED
        )
    return {allocation.item_id for allocation in allocations}


def _order_lines_cancel(order: ReplenishmentOrder, *, reason: str) -> None:
    lines = list(order.lines.all())
    for line in lines:
        line.status = LineStatus.CANCELLED
        line.qty_allocated = Decimal("0")
    bulk_update_with_history(
        lines, ReplenishmentOrderLine, ["status", "qty_allocated"], default_change_reason=reason
    )


def _order_mark_cancelled(order: ReplenishmentOrder, *, reason: str) -> None:
    previous = order.status
    order.status = OrderStatus.CANCELLED
    order.needs_planning = False
    order.cancelled_at = timezone.now()
    order._change_reason = reason or "cancelled"
    order.save(update_fields=["status", "needs_planning", "cancelled_at", "updated_at"])
    outbox_emit(
        event_type="order.cancelled",
        aggregate_type=ORDER_AGGREGATE,
        aggregate_id=order.id,
        data={
            "orderId": str(order.id),
            "externalOrderId": order.external_order_id,
            "storeCode": order.store_code,
            "previousStatus": previous,
            "reason": reason,
        },
    )
