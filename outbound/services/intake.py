"""Order intake: accept (durably, then plan asynchronously) and cancel.

Accepting writes the order, its lines, their history and the ``order.accepted``
event in one transaction and, after the commit, nudges the planner of the
order's partition. Cancelling releases the order's reservations through the
posting service and cancels its not-yet-started pick tasks.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from inventory.models import ItemUnitConversion, UnitOfMeasure
from wms.correlation import get_correlation_id
from wms.exceptions import BusinessValidationError, DomainError, NotFoundError
from wms.history import current_history_user_id, history_snapshot_sql
from wms.outbox import OUTBOX_TABLE, outbox_emit, outbox_row

from .. import selectors
from ..models import (
    CANCELLABLE_STATUSES,
    AllocationStatus,
    LineStatus,
    OrderStatus,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
)

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
    errors: list[dict] = []
    max_lines = settings.WMS_ORDER_MAX_LINES
    if not lines:
        errors.append({"field": "lines", "code": "required", "message": "An order needs a line."})
    if len(lines) > max_lines:
        raise BusinessValidationError(
            f"An order may have at most {max_lines} lines; this one has {len(lines)}.",
            code="too_many_lines",
            errors=[{"field": "lines", "code": "too_many_lines", "message": f"max {max_lines}"}],
        )
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

    items = selectors.items_for_intake(warehouse_id=warehouse.pk, skus={line.sku for line in lines})
    uom_codes = {line.uom for line in lines if line.uom}
    conversions: dict[tuple[int, str], Decimal] = {}
    known_uoms: set[str] = set()
    if uom_codes - {item.base_uom_code for item in items.values()}:
        known_uoms = set(
            UnitOfMeasure.objects.filter(code__in=uom_codes).values_list("code", flat=True)
        )
        for item_id, code, base_units in ItemUnitConversion.objects.filter(
            item__in=[i.pk for i in items.values()], uom__code__in=uom_codes
        ).values_list("item_id", "uom__code", "base_units"):
            conversions[(item_id, code)] = base_units

    resolved: list[_Line] = []
    for index, line in enumerate(lines):
        item = items.get(line.sku)
        if item is None or not item.is_active:
            errors.append(
                {
                    "field": f"lines[{index}].sku",
                    "code": "unknown_sku",
                    "message": f"SKU '{line.sku}' is not known in warehouse {warehouse.code}.",
                }
            )
            continue
        uom_code = line.uom or item.base_uom_code
        if uom_code == item.base_uom_code:
            uom_id, factor = item.base_uom_id, Decimal("1")
        elif (item.pk, uom_code) in conversions:
            uom_id, factor = None, conversions[(item.pk, uom_code)]
        else:
            errors.append(
                {
                    "field": f"lines[{index}].uom",
                    "code": "unknown_uom",
                    "message": (
                        f"Unit '{uom_code}' is not known for SKU '{line.sku}'"
                        if uom_code in known_uoms
                        else f"Unit '{uom_code}' is not known."
                    ),
                }
            )
            continue
        resolved.append(_new_line(line, item, uom_id, uom_code, factor))
    if errors:
        raise BusinessValidationError(
            "The order failed validation; nothing was stored.",
            code="validation_failed",
            errors=errors,
        )
    missing_uoms = {ln.uom_code for ln in resolved if ln.uom_id is None}
    if missing_uoms:
        ids = dict(UnitOfMeasure.objects.filter(code__in=missing_uoms).values_list("code", "pk"))
        for ln in resolved:
            if ln.uom_id is None:
                ln.uom_id = ids[ln.uom_code]
    return resolved


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
    # (see ``order_accept``): no look-up on the hot path.
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
    existing_id = _order_insert(order)
    if existing_id is not None:
        existing = ReplenishmentOrder.objects.get(pk=existing_id)
        raise _duplicate(existing)
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
    _order_rows_write(order, order_lines, event)
    from .planning import planning_nudge

    warehouse_id = warehouse.pk
    transaction.on_commit(lambda: planning_nudge(warehouse_id=warehouse_id, planning_group=group))
    return order


def _order_insert(order: ReplenishmentOrder):
    """Insert the order unless the store already sent its externalOrderId.

    ``INSERT … ON CONFLICT DO NOTHING RETURNING``: a duplicate (even one racing
    this request) is detected without an exception, so no savepoint is needed
    and the caller's transaction stays usable. Returns None when inserted,
    else the id of the existing order.
    """
    meta = ReplenishmentOrder._meta
    fields = meta.concrete_fields
    quote = connection.ops.quote_name
    values = [f.get_db_prep_save(f.pre_save(order, True), connection) for f in fields]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote('store_code')}, {quote('external_order_id')}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        inserted = cursor.fetchone()
    if inserted is not None:
        order._state.adding = False
        order._state.db = connection.alias
        return None
    return (
        ReplenishmentOrder.objects.filter(
            store_code=order.store_code, external_order_id=order.external_order_id
        )
        .values_list("pk", flat=True)
        .first()
    )


def _execute(statements: list[tuple[str, list]]) -> None:
    """Run ``[(sql, params), ...]`` in order: one round trip on PostgreSQL (several
    statements in one query, client-side binding), one at a time elsewhere."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                ";\n".join(sql for sql, _ in statements),
                [param for _, params in statements for param in params],
            )
        else:
            for sql, params in statements:
                cursor.execute(sql, params)


_LINE_FIELDS = ReplenishmentOrderLine._meta.concrete_fields
_LINE_GIVEN = frozenset(_Line.__dataclass_fields__)  # the rest: the fields' defaults
_SQL: dict = {}


def _lines_insert_sql(count: int) -> str:
    """PostgreSQL: one array per column (``UNNEST``, as ``bulk_create`` does), so the
    statement and its parameter count do not grow with the lines; elsewhere a
    multi-row ``VALUES``."""
    key = ("lines", connection.vendor, 1 if connection.vendor == "postgresql" else count)
    sql = _SQL.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        if connection.vendor == "postgresql":
            rows = "SELECT * FROM UNNEST({})".format(
                ", ".join(f"%s::{f.db_type(connection)}[]" for f in _LINE_FIELDS)
            )
        else:
            row = f"({', '.join(['%s'] * len(_LINE_FIELDS))})"
            rows = f"VALUES {', '.join([row] * count)}"
        sql = _SQL[key] = (
            f"INSERT INTO {quote(ReplenishmentOrderLine._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in _LINE_FIELDS)}) {rows}"
        )
    return sql


def _lines_params(order, lines: list[_Line]) -> list:
    """The parameters of ``_lines_insert_sql``: each line's values in field order, the
    fields intake does not set at their model defaults (a new uuid7 id per line)."""
    rows = []
    for line in lines:
        row = []
        for field in _LINE_FIELDS:
            if field.attname == "order_id":
                row.append(order.pk)
            elif field.attname in _LINE_GIVEN:
                row.append(getattr(line, field.attname))
            else:
                row.append(field.get_default())
        rows.append(row)
    if connection.vendor == "postgresql":
        # UUIDs, ints, Decimals and strings: psycopg adapts them as they are.
        return [list(column) for column in zip(*rows, strict=True)]
    return [
        field.get_db_prep_save(value, connection)
        for row in rows
        for field, value in zip(_LINE_FIELDS, row, strict=True)
    ]


def _outbox_insert_sql(columns) -> str:
    key = ("outbox", tuple(columns))
    sql = _SQL.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        sql = _SQL[key] = (
            f"INSERT INTO {quote(OUTBOX_TABLE)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})"
        )
    return sql


def _order_rows_write(order, lines, event: dict) -> None:
    """The order's lines, the history records of order and lines, and the outbox
    event: what ``bulk_create``, simple-history and ``outbox_emit`` would write,
    in one round trip after the order row (statements built once per process)."""
    order_key = ReplenishmentOrder._meta.pk.get_db_prep_value(order.pk, connection)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    history = [now, "+", None, current_history_user_id(), order_key]
    _execute(
        [
            (_lines_insert_sql(len(lines)), _lines_params(order, lines)),
            (history_snapshot_sql(ReplenishmentOrder).format(where="id = %s"), history),
            (history_snapshot_sql(ReplenishmentOrderLine).format(where="order_id = %s"), history),
            (_outbox_insert_sql(list(event)), list(event.values())),
        ]
    )


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
    from inventory import services as inventory_services
    from tasking import services as tasking_services

    from ..locks import order_lock
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
            tasking_services.pick_tasks_cancel_for_order(order=order, actor=actor)
        except tasking_services.PickingStarted as exc:
            raise OrderNotCancellable("Picking has started for this order.") from exc

    allocations = list(
        order.allocations.filter(status=AllocationStatus.ACTIVE)
        .select_related("reservation")
        .order_by("reservation__balance_id", "pk")
    )
    item_ids = set()
    for allocation in allocations:
        inventory_services.reservation_release(
            reservation=allocation.reservation,
            posting_key=f"cancel:{allocation.pk}",
            actor=actor if getattr(actor, "system", None) is None else None,
        )
        item_ids.add(allocation.item_id)
    if allocations:
        order.allocations.filter(pk__in=[a.pk for a in allocations]).update(
            status=AllocationStatus.RELEASED
        )

    lines = list(order.lines.all())
    for line in lines:
        line.status = LineStatus.CANCELLED
        line.qty_allocated = Decimal("0")
    bulk_update_with_history(
        lines, ReplenishmentOrderLine, ["status", "qty_allocated"], default_change_reason=reason
    )
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
    if item_ids:
        backorders_reopen_for_items(warehouse_id=order.warehouse_id, item_ids=item_ids)
    return order
