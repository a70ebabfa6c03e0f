"""Hand-written SQL on the outbound context's own tables: each statement named, with
what ORM code it replaces and the figure that earns it its place.

Inventory's tables are read through ``inventory.selectors`` (its SQL is in
``inventory.queries``); helpers that know no table are in ``wms.sql``.
"""

import functools

from django.db import connection

from wms import sql
from wms.history import history_snapshot_sql

from .models import (
    Allocation,
    Package,
    PackageLine,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
    ShipmentLine,
)

ORDER_FIELDS = tuple(ReplenishmentOrder._meta.concrete_fields)
LINE_FIELDS = tuple(ReplenishmentOrderLine._meta.concrete_fields)


@functools.cache
def order_lines_to_plan() -> tuple[sql.Select, str]:
    """An order's lines that planning still concerns, by item then line number:
    the ``Select`` that turns a row into a line, and the statement (parameters:
    order id, and the two line statuses left out).

    Replaces ``order.lines.exclude(status__in=…).order_by(…)``, compiled for every
    order the planner takes; built once per process (commit d464e3e, with the
    planner's other statements built once: Python CPU per planned order 10.9 ->
    7.9 ms).
    """
    line = sql.select(ReplenishmentOrderLine, "l")
    return line, (
        f"SELECT {line.sql} FROM {ReplenishmentOrderLine._meta.db_table} l "
        "WHERE l.order_id = %s AND l.status NOT IN (%s, %s) ORDER BY l.item_id, l.line_number"
    )


@functools.cache
def order_accept(per_line: tuple, constants: tuple, events: str) -> str:
    """A whole accepted order in one statement: the order (``ON CONFLICT DO NOTHING``
    on the store's externalOrderId, so a duplicate writes nothing), its lines, the
    history records of both (``wms.history``: the rows simple-history writes) and
    the outbox event (``events``: ``wms.outbox.outbox_rows_insert`` joined to the
    order row ``o``). One row back, none for a duplicate.

    Parameters: every column of ``ORDER_FIELDS``; the line columns ``constants``
    once (their fixed defaults); one array per column of ``per_line``; the
    order's and the lines' history quadruples; the events' parameters.

    Replaces ``create`` in a savepoint, ``bulk_create``, simple-history's records
    and ``outbox_emit``. Figures: one statement instead of a batch after the order
    (commit 3d4eb43, in process: 2.79 -> 2.38 ms CPU per order); the lines as
    arrays (f827c32: app CPU per request 11.7-14.4 -> 10.0-10.4 ms); prepared on
    the server (71e41cf, gunicorn: PostgreSQL CPU per order 1.57/1.67 -> 1.20/1.34 ms).
    """
    quote = connection.ops.quote_name
    selected = []
    for field in LINE_FIELDS:
        if field.attname == "order_id":
            selected.append("o.id")
        elif field in constants:
            selected.append(f"%s::{field.db_type(connection)}")
        else:
            selected.append(f"u.{quote(field.column)}")
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in per_line)
    names = ", ".join(quote(f.column) for f in per_line)
    order_history = history_snapshot_sql(ReplenishmentOrder, source="o")
    line_history = history_snapshot_sql(ReplenishmentOrderLine, source="l")
    return (
        f"WITH o AS (INSERT INTO {quote(ReplenishmentOrder._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in ORDER_FIELDS)}) "
        f"VALUES ({', '.join(['%s'] * len(ORDER_FIELDS))}) "
        f"ON CONFLICT ({quote('store_code')}, {quote('external_order_id')}) DO NOTHING "
        "RETURNING *), "
        f"l AS (INSERT INTO {quote(ReplenishmentOrderLine._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in LINE_FIELDS)}) "
        f"SELECT {', '.join(selected)} FROM o, UNNEST({arrays}) AS u({names}) "
        "RETURNING *), "
        f"ho AS ({order_history.format(where='TRUE')}), "
        f"hl AS ({line_history.format(where='TRUE')}), "
        f"evt AS ({events}) "
        "SELECT 1 FROM o"
    )


# --- planning (outbound.locks, outbound.services.planning) -------------------------------

ORDER = ReplenishmentOrder._meta.db_table
LINE = ReplenishmentOrderLine._meta.db_table
ALLOCATION = Allocation._meta.db_table


@functools.cache
def order_claim_next_for_planning() -> tuple[sql.Select, str]:
    """The next order of a partition awaiting planning that no other planner holds,
    locked (``SKIP LOCKED``): the ``Select`` of the order and the statement
    (parameters: warehouse id, planning group). Conditions and order are those of
    ``order_planning_queue_idx``.

    Replaces ``select_for_update(skip_locked=True).filter(…).order_by(…).first()``,
    compiled for every planned order (commit d464e3e, with the planner's other
    statements built once and its writes in one round trip: Python CPU per
    planned order 10.9 -> 7.9 ms, 550 -> 716 lines/s).
    """
    order = sql.select(ReplenishmentOrder, "o")
    return order, (
        f"SELECT {order.sql} FROM {ORDER} o "
        "WHERE o.warehouse_id = %s AND o.planning_group = %s AND o.needs_planning = true "
        "ORDER BY o.priority, o.requested_ship_by, o.id "
        f"LIMIT 1{sql.row_lock('o', skip_locked=True)}"
    )


#: The planning figures of an order's lines, one UPDATE whatever their number.
#: Parameters: arrays of line ids, qty allocated, status, plan round. Replaces one
#: ``save(update_fields=…)`` per changed line (commit c39d66e; part of the one
#: round trip of the order's plan, ``wms.sql.execute``, commit d464e3e above).
LINES_PLAN_UPDATE = (
    f"UPDATE {LINE} l SET qty_allocated = v.qty_allocated, status = v.status, "
    "plan_round = v.plan_round "
    "FROM unnest(CAST(%s AS uuid[]), CAST(%s AS numeric[]), CAST(%s AS varchar[]), "
    "CAST(%s AS integer[])) AS v(id, qty_allocated, status, plan_round) "
    "WHERE l.id = v.id"
)

#: The columns ``allocations_insert`` writes (``id`` and ``created_at`` come from
#: the database).
ALLOCATION_INSERT_FIELDS = tuple(
    Allocation._meta.get_field(name)
    for name in (
        "order",
        "line",
        "item",
        "location",
        "inventory_status",
        "reservation",
        "qty",
        "status",
        "posting_key",
        "plan_round",
    )
)
_ALLOCATION_COLUMNS = ", ".join(f.column for f in ALLOCATION_INSERT_FIELDS)
_ALLOCATION_INSERT = f"INSERT INTO {ALLOCATION} ({_ALLOCATION_COLUMNS}) VALUES "
_ALLOCATION_ROW = f"({', '.join(['%s'] * len(ALLOCATION_INSERT_FIELDS))})"


def allocations_insert(count: int) -> str:
    """One multi-row INSERT of ``count`` allocations (parameters: the
    ``ALLOCATION_INSERT_FIELDS`` of each). Replaces ``bulk_create`` in the order's
    plan, part of its one round trip (commit d464e3e above)."""
    return _ALLOCATION_INSERT + ", ".join([_ALLOCATION_ROW] * count)


# --- the order side of a pick (outbound.locks, outbound.services.picking) ----------------


@functools.cache
def order_lock_for_pick() -> tuple[sql.Select, sql.Select, str]:
    """An order locked for a pick, and one of its lines read with it (not locked: the
    order lock serialises picks of its lines): the ``Select`` s of the order and the
    line, and the statement (parameters: line id or NULL, order id). The line's
    columns are NULL when it is not one of the order's.

    Replaces ``select_for_update(of=("self",))`` on the order and a read of the
    line; every pick confirmation starts here (commit b69bfbb, with
    ``LINE_PICKED``: CPU per confirmation 32.0/31.6/26.4 -> 24.8/25.3/25.6 ms,
    35 -> 30 statements per request). The line came with the task lock before;
    here it stays on outbound's tables.
    """
    order, line = sql.select(ReplenishmentOrder, "o"), sql.select(ReplenishmentOrderLine, "l")
    return (
        order,
        line,
        f"SELECT {order.sql}, {line.sql} FROM {ORDER} o "
        f"LEFT JOIN {LINE} l ON l.id = %s AND l.order_id = o.id "
        f"WHERE o.id = %s{sql.row_lock('o')}",
    )


@functools.cache
def orders_lock_for_pick() -> tuple[sql.Select, sql.Select, str, str]:
    """``order_lock_for_pick`` for a batch of picks: the orders locked in primary-key
    order (parameter: an array of order ids), and their picked lines read by a
    second statement (parameter: an array of line ids). Two statements for a
    batch instead of one per pick (a device's synced queue, issue 16)."""
    order, line = sql.select(ReplenishmentOrder, "o"), sql.select(ReplenishmentOrderLine, "l")
    return (
        order,
        line,
        f"SELECT {order.sql} FROM {ORDER} o WHERE o.id = ANY(%s) ORDER BY o.id{sql.row_lock('o')}",
        f"SELECT {line.sql} FROM {LINE} l WHERE l.id = ANY(%s)",
    )


#: ``LINE_PICKED`` for a batch of picks: each line's picks added at once (the order
#: locks serialise picks of their lines). Parameters: arrays of line ids, their
#: order ids and quantities (one element per pick); a row per line updated.
LINES_PICKED = f"""
UPDATE {LINE} l SET qty_picked = l.qty_picked + v.qty
FROM (SELECT id, order_id, sum(qty) AS qty
      FROM unnest(CAST(%s AS uuid[]), CAST(%s AS uuid[]), CAST(%s AS numeric[]))
      AS p(id, order_id, qty) GROUP BY id, order_id) v
WHERE l.id = v.id AND l.order_id = v.order_id
"""

#: Orders of a batch of picks that were RELEASED start PICKING. Parameters: PICKING,
#: the time, the ids (an array).
ORDERS_PICKING = f"UPDATE {ORDER} SET status = %s, updated_at = %s WHERE id = ANY(%s)"


#: A confirmed pick adds to its line (the order lock serialises picks of its lines,
#: so the increment is done in the database). Parameters: qty, line id, order id;
#: one row, none when the line is not the order's. Replaces the line's
#: ``select_for_update`` and ``save()``: part of the pick's one round trip
#: (``wms.sql.execute``; commit b69bfbb above).
LINE_PICKED = f"UPDATE {LINE} SET qty_picked = qty_picked + %s WHERE id = %s AND order_id = %s"

#: The active allocations of reservations (``%s``: an array of ids) a pick used up
#: become CONSUMED. Parameters: CONSUMED, ACTIVE, the ids. One statement text for
#: any count; part of the pick's one round trip (commit b69bfbb above).
ALLOCATIONS_CONSUMED = (
    f"UPDATE {ALLOCATION} SET status = %s WHERE status = %s AND reservation_id = ANY(%s)"
)


# --- packing and shipping (outbound.services.packing, outbound.services.shipping) ----------

PACKAGE = Package._meta.db_table
PACKAGE_LINE = PackageLine._meta.db_table
SHIPMENT_LINE = ShipmentLine._meta.db_table

#: A pack confirmation adds to its lines' ``qty_packed`` (the order lock serialises
#: packing of an order, so the increments are done in the database). Parameters:
#: arrays of line ids and quantities. Replaces one ``UPDATE … F()`` per packed line;
#: part of the pack confirmation's one round trip of writes (``wms.sql.execute``).
LINES_PACKED = (
    f"UPDATE {LINE} l SET qty_packed = l.qty_packed + v.qty "
    "FROM unnest(CAST(%s AS uuid[]), CAST(%s AS numeric[])) AS v(id, qty) WHERE l.id = v.id"
)

#: The package lines of a pack confirmation, one INSERT for any number. Parameters:
#: arrays of package ids, order line ids, quantities, entry keys and times. Replaces
#: one ``create()`` per line (part of the same round trip).
PACKAGE_LINES_INSERT = (
    f"INSERT INTO {PACKAGE_LINE} (package_id, order_line_id, qty, entry_key, created_at) "
    "SELECT * FROM unnest(CAST(%s AS uuid[]), CAST(%s AS uuid[]), CAST(%s AS numeric[]), "
    "CAST(%s AS varchar[]), CAST(%s AS timestamptz[]))"
)

#: A shipment's lines. Parameters: arrays of shipment ids, order line ids, item ids,
#: quantities. Replaces ``bulk_create`` (part of the shipment's one round trip).
SHIPMENT_LINES_INSERT = (
    f"INSERT INTO {SHIPMENT_LINE} (shipment_id, order_line_id, item_id, qty) "
    "SELECT * FROM unnest(CAST(%s AS uuid[]), CAST(%s AS uuid[]), CAST(%s AS bigint[]), "
    "CAST(%s AS numeric[]))"
)

#: Everything packed on the orders (``%s``: an array of order ids) is shipped. Replaces
#: one ``UPDATE`` per line (part of the shipment's one round trip).
LINES_SHIPPED = (
    f"UPDATE {LINE} SET qty_shipped = qty_packed "
    "WHERE order_id = ANY(%s) AND qty_packed > qty_shipped"
)

#: The orders' closed packages leave in the shipment. Parameters: shipment id, an array
#: of order ids.
PACKAGES_SHIPPED = (
    f"UPDATE {PACKAGE} SET status = 'SHIPPED', shipment_id = %s "
    "WHERE order_id = ANY(%s) AND status = 'CLOSED'"
)
