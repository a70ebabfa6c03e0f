"""Writes of the tasking context: pick tasks, confirmations, picking exceptions.

- ``tasks``: creation for a released wave, the pickers' work queue ("next
  task", one picker per task), start, reassignment, return to the queue,
  dispatch to automation and acknowledgement, cancellation;
- ``confirm``: pick confirmations (handheld and automation API), exactly one
  effect per key, posted through ``inventory.services.reservation_consume``;
  ``pick_confirm_many``: the same for a batch (a handheld's synced queue), its
  locks taken once, posted through ``reservations_consume``;
- ``exceptions``: opening picking exceptions and resolving them with the
  supervisor's controlled actions.

Invariants: one live (not cancelled) task per order line x source location (a
database constraint); a task holds the reservations it will consume and stock
only moves when a pick is confirmed; ``qty_picked ≤ qty_to_pick``; a task
dispatched to automation names its system; one open
exception case per task; every confirmation closes its task (DONE, SHORT or
EXCEPTION) and writes ``pick.confirmed`` in its transaction.

Lock order: the order row (``outbound.services.order_pick_lock``) → pick task
rows (primary key) → exception case → balances and reservations (inside the
posting service). Queue and dispatch claims use ``SKIP LOCKED`` and take no
order lock (claiming does not touch the order).
"""

from ..exceptions import PickingStarted
from .confirm import (
    ConfirmResult,
    check_item_scan,
    check_location_scan,
    pick_confirm,
    pick_confirm_many,
    pick_qty,
    pick_task_report_exception,
)
from .exceptions import (
    ACTION_QUARANTINE,
    ACTION_REALLOCATE,
    ACTION_SHORT,
    count_request_close,
    exception_case_open,
    exception_case_resolve,
)
from .tasks import (
    PickTaskSpec,
    automated_zones,
    pick_task_ack,
    pick_task_next_for_picker,
    pick_task_reassign,
    pick_task_return_to_queue,
    pick_task_start,
    pick_tasks_cancel_for_order,
    pick_tasks_cancel_for_wave,
    pick_tasks_claim_for_dispatch,
    pick_tasks_create_for_wave,
    pick_tasks_mark_delivered,
)

__all__ = [
    "ACTION_QUARANTINE",
    "ACTION_REALLOCATE",
    "ACTION_SHORT",
    "ConfirmResult",
    "PickTaskSpec",
    "PickingStarted",
    "automated_zones",
    "check_item_scan",
    "check_location_scan",
    "count_request_close",
    "exception_case_open",
    "exception_case_resolve",
    "pick_confirm",
    "pick_confirm_many",
    "pick_qty",
    "pick_task_ack",
    "pick_task_next_for_picker",
    "pick_task_reassign",
    "pick_task_report_exception",
    "pick_task_return_to_queue",
    "pick_task_start",
    "pick_tasks_cancel_for_order",
    "pick_tasks_cancel_for_wave",
    "pick_tasks_claim_for_dispatch",
    "pick_tasks_create_for_wave",
    "pick_tasks_mark_delivered",
]
