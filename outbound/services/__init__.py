"""Writes of the outbound context: order intake, planning, waves.

- ``intake``: accept an order (202 after durable persistence), cancel one.
- ``planning``: planning jobs per warehouse x planning group; allocation by
  reservation through ``inventory.services`` only; backorders; the sweep.
- ``waves``: group planned orders into waves, release them into pick tasks
  (through ``outbound.ports.pick_work()``, which tasking implements), cancel them.
- ``picking``: what picks do to orders (called by ``tasking.services``):
  progress, shorts, re-allocation after a picking exception.

Invariants: an order line's ``qty_allocated`` equals the sum of its active
allocations, each backed by one open reservation; an order is PLANNED only
when every open line is fully allocated; every planning decision and every
status change writes its outbox event in the same transaction.

Lock order (``outbound.locks``): wave advisory lock of the warehouse → wave
rows → order rows (primary key) → pick task rows → balances (inside the
posting service, primary key).
"""

from .intake import (
    DuplicateExternalOrder,
    OrderLineInput,
    OrderNotCancellable,
    order_accept,
    order_cancel,
    planning_group_for,
)
from .picking import (
    order_line_pick_record,
    order_line_reallocate,
    order_line_short,
    order_pick_lock,
    order_picking_started,
)
from .planning import (
    backorders_reopen_for_items,
    backorders_reopen_with_stock,
    order_plan,
    order_plan_next,
    planning_job_run,
    planning_nudge,
    planning_sweep,
)
from .waves import WaveNotOpen, wave_cancel, wave_release, waves_build, waves_release_due

__all__ = [
    "DuplicateExternalOrder",
    "OrderLineInput",
    "OrderNotCancellable",
    "WaveNotOpen",
    "backorders_reopen_for_items",
    "backorders_reopen_with_stock",
    "order_accept",
    "order_cancel",
    "order_line_pick_record",
    "order_line_reallocate",
    "order_line_short",
    "order_pick_lock",
    "order_picking_started",
    "order_plan",
    "order_plan_next",
    "planning_group_for",
    "planning_job_run",
    "planning_nudge",
    "planning_sweep",
    "wave_cancel",
    "wave_release",
    "waves_build",
    "waves_release_due",
]
