"""Hand-written SQL on the tasking context's own tables: each statement named, with
what ORM code it replaces and the figure that earns it its place.

Orders and order lines are read through ``outbound.services`` (its SQL is in
``outbound.queries``), items, locations and reservations through
``inventory.selectors`` (``inventory.queries``); helpers that know no table
are in ``wms.sql``. The pick task's writes in a confirmation (its UPDATE, its
history record, the confirmation row) are ``wms.sql.update`` / ``insert`` and
``wms.history`` statements of the instances, not text of their own.
"""

import functools

from wms import sql

from .models import PickTask

PICK_TASK = PickTask._meta.db_table
PICK_TASK_RESERVATIONS = PickTask.reservations.through._meta.db_table


# --- a pick confirmation (tasking.services.confirm, tasking.locks) ----------------------

#: The order and order line of a pick task (parameter: its id), one indexed read
#: before any lock: the order is locked first. Replaces a ``values_list`` queryset
#: compiled on every confirmation (commit 30bb6ff, with the statements below).
TASK_ORDER_AND_LINE = f"SELECT order_id, order_line_id FROM {PICK_TASK} WHERE id = %s"

#: ``TASK_ORDER_AND_LINE`` for a caller granted the warehouses ``%s`` (an array): a
#: task elsewhere is not found. The grant checked in the same read saves the API
#: its own visibility read (commit bd6fe8d).
TASK_ORDER_AND_LINE_IN_WAREHOUSES = f"{TASK_ORDER_AND_LINE} AND warehouse_id = ANY(%s)"


@functools.cache
def pick_task_lock_for_confirm() -> tuple[sql.Select, str]:
    """A pick task locked, with the ids of its reservations (oldest first) from the
    task's own link table: the ``Select`` of the task and the statement (parameter:
    the task's id; the ids are the column after the task's).

    Replaces ``select_for_update(of=("self",)).select_related(…)`` and the
    reservations' read through the link table (commit 30bb6ff, with the
    reservations in one statement and the confirmation's writes in one round trip:
    CPU per confirmation 57.8 -> 42.1 ms, 39 -> 34 statements per request). The
    item, location and line it used to join come from their apps now
    (``inventory.selectors.stock_for_pick``, ``outbound`` with the order lock).
    """
    task = sql.select(PickTask, "t")
    return task, (
        f"SELECT {task.sql}, ARRAY(SELECT tr.inventoryreservation_id "
        f"FROM {PICK_TASK_RESERVATIONS} tr WHERE tr.picktask_id = t.id ORDER BY 1) "
        f"FROM {PICK_TASK} t WHERE t.id = %s{sql.row_lock('t')}"
    )


#: (task id, order id, order line id, warehouse id) of a batch of pick tasks
#: (parameter: an array of ids), one read before any lock (a device's synced queue).
TASKS_ORDER_AND_LINE = (
    f"SELECT id, order_id, order_line_id, warehouse_id FROM {PICK_TASK} "
    "WHERE id = ANY(CAST(%s AS uuid[]))"
)


@functools.cache
def pick_tasks_lock_for_confirm() -> tuple[sql.Select, str]:
    """``pick_task_lock_for_confirm`` for a batch of tasks (parameter: an array of
    ids), locked in primary-key order."""
    task = sql.select(PickTask, "t")
    return task, (
        f"SELECT {task.sql}, ARRAY(SELECT tr.inventoryreservation_id "
        f"FROM {PICK_TASK_RESERVATIONS} tr WHERE tr.picktask_id = t.id ORDER BY 1) "
        f"FROM {PICK_TASK} t WHERE t.id = ANY(%s) ORDER BY t.id{sql.row_lock('t')}"
    )


#: Close a batch of confirmed tasks (``_task_mark_closed`` set the values): the
#: columns ``_task_close`` updates, for every task in one statement. Parameters:
#: arrays of ids, statuses, quantities picked, staging location ids, started,
#: finished and updated times (one element per task).
TASKS_CLOSE = f"""
UPDATE {PICK_TASK} t SET status = v.status, qty_picked = v.qty_picked,
    to_location_id = v.to_location_id, started_at = v.started_at,
    finished_at = v.finished_at, updated_at = v.updated_at
FROM unnest(CAST(%s AS uuid[]), CAST(%s AS varchar[]), CAST(%s AS numeric[]),
    CAST(%s AS bigint[]), CAST(%s AS timestamptz[]), CAST(%s AS timestamptz[]),
    CAST(%s AS timestamptz[]))
    AS v(id, status, qty_picked, to_location_id, started_at, finished_at, updated_at)
WHERE t.id = v.id
"""


# --- the pickers' work queue (tasking.selectors) -----------------------------------------

_WAITING = "t.status = 'RELEASED' AND t.work_mode = 'MANUAL' AND t.warehouse_id = %(warehouse)s"

#: (zone id or NULL, released manual tasks waiting there, at most ``cap``) of a
#: warehouse. Parameters (by name): warehouse, cap. Each count reads at most
#: ``cap`` entries of ``pick_task_zone_queue_idx``, so the queue page costs the
#: same with a hundred or a hundred thousand tasks waiting; replaces a ``GROUP
#: BY`` over every waiting task (commit 07053f5, no figure recorded). The zones
#: are the ones the waiting tasks name, found by skipping through the same index
#: (one descent per zone), not read from inventory's zone table: on
#: ``bench/picking_queue.py``'s 100,000 open tasks in 8 zones that costs
#: 0.2-0.3 ms (p50 5.3 -> 5.5 ms, and 8.5-9.1 -> 8.7-9.3 ms on a busier machine,
#: A/B interleaved in one process), the price of not reading another app's table.
PICK_QUEUE_COUNTS = f"""
    WITH RECURSIVE zones(id) AS (
        (SELECT t.zone_id FROM {PICK_TASK} t
         WHERE {_WAITING} AND t.zone_id IS NOT NULL ORDER BY t.zone_id LIMIT 1)
        UNION ALL
        SELECT (SELECT t.zone_id FROM {PICK_TASK} t
                WHERE {_WAITING} AND t.zone_id > zones.id ORDER BY t.zone_id LIMIT 1)
        FROM zones WHERE zones.id IS NOT NULL
    )
    SELECT z.id, (SELECT count(*) FROM (
        SELECT 1 FROM {PICK_TASK} t WHERE {_WAITING} AND t.zone_id = z.id LIMIT %(cap)s) capped)
    FROM zones z WHERE z.id IS NOT NULL
    UNION ALL
    SELECT NULL, (SELECT count(*) FROM (
        SELECT 1 FROM {PICK_TASK} t WHERE {_WAITING} AND t.zone_id IS NULL LIMIT %(cap)s) capped)
"""
