"""Writes of the tasking context: pick tasks (creation and cancellation so far).

Owns ``PickTask`` rows and their status. Invariants: one live (not cancelled)
task per order line x source location (a database constraint), so creating
the tasks of a wave twice creates nothing the second time; a task holds the
reservations it will consume, and stock only moves when a pick is confirmed
(``inventory.services.reservation_consume``).

Lock order: the caller's order/wave rows first (outbound), then pick task
rows in primary-key order, then balances inside the posting service. A
picker's confirmation that also updates its order should lock the order
before the task to keep this order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from wms.exceptions import DomainError

from .locks import pick_tasks_lock_for_order, pick_tasks_lock_for_wave
from .models import NOT_STARTED_STATUSES, PickTask, PickTaskStatus


class PickingStarted(DomainError):
    status = 409
    code = "picking_started"
    title = "Picking has started"


@dataclass(frozen=True)
class PickTaskSpec:
    """What the planner wants picked: ``qty`` of the line's item from one location."""

    order_id: object
    order_line_id: object
    item_id: int
    from_location_id: int
    pick_sequence: int
    qty: Decimal
    reservation_ids: tuple[int, ...]


@transaction.atomic
def pick_tasks_create_for_wave(*, wave, specs: list[PickTaskSpec], actor=None) -> list[PickTask]:
    """Create the wave's pick tasks, numbered in the order of ``specs`` (the pick path).

    Status RELEASED (ready to work or to dispatch). Specs whose order line x
    location already has a live task are skipped, so a re-run is harmless.
    Returns all live tasks of the wave in sequence order.
    """
    existing = {
        (task.order_line_id, task.from_location_id): task
        for task in PickTask.objects.filter(wave=wave).exclude(status=PickTaskStatus.CANCELLED)
    }
    last = max((task.sequence for task in existing.values()), default=0)
    cancelled_max = (
        PickTask.objects.filter(wave=wave, status=PickTaskStatus.CANCELLED)
        .order_by("-sequence")
        .values_list("sequence", flat=True)
        .first()
    )
    sequence = max(last, cancelled_max or 0)
    now = timezone.now()
    new_tasks: list[PickTask] = []
    links: list[tuple[PickTask, tuple[int, ...]]] = []
    for spec in specs:
        if (spec.order_line_id, spec.from_location_id) in existing:
            continue
        sequence += 1
        task = PickTask(
            warehouse_id=wave.warehouse_id,
            wave=wave,
            order_id=spec.order_id,
            order_line_id=spec.order_line_id,
            item_id=spec.item_id,
            from_location_id=spec.from_location_id,
            qty_to_pick=spec.qty,
            pick_sequence=spec.pick_sequence,
            sequence=sequence,
            status=PickTaskStatus.RELEASED,
            created_at=now,
            released_at=now,
        )
        new_tasks.append(task)
        links.append((task, spec.reservation_ids))
    if new_tasks:
        user = actor if getattr(actor, "_meta", None) is not None else None
        bulk_create_with_history(
            new_tasks, PickTask, default_user=user, default_change_reason="wave released"
        )
        through = PickTask.reservations.through
        through.objects.bulk_create(
            [
                through(picktask_id=task.pk, inventoryreservation_id=reservation_id)
                for task, reservation_ids in links
                for reservation_id in reservation_ids
            ]
        )
    return list(
        PickTask.objects.filter(wave=wave)
        .exclude(status=PickTaskStatus.CANCELLED)
        .order_by("sequence")
    )


def _cancel(tasks: list[PickTask], *, actor, reason: str) -> int:
    live = [t for t in tasks if t.status != PickTaskStatus.CANCELLED]
    started = [t for t in live if t.status not in NOT_STARTED_STATUSES]
    if started:
        raise PickingStarted(
            f"{len(started)} pick task(s) are already {started[0].status}; nothing was cancelled."
        )
    for task in live:
        task.status = PickTaskStatus.CANCELLED
    if live:
        user = actor if getattr(actor, "_meta", None) is not None else None
        bulk_update_with_history(
            live, PickTask, ["status"], default_user=user, default_change_reason=reason
        )
    return len(live)


@transaction.atomic
def pick_tasks_cancel_for_order(*, order, actor=None) -> int:
    """Cancel the order's tasks if none has started; raises ``PickingStarted`` otherwise.

    Returns how many tasks were cancelled.
    """
    tasks = pick_tasks_lock_for_order(order_id=order.pk)
    return _cancel(tasks, actor=actor, reason="order cancelled")


@transaction.atomic
def pick_tasks_cancel_for_wave(*, wave, actor=None) -> int:
    """Cancel the wave's tasks if none has started; raises ``PickingStarted`` otherwise."""
    tasks = pick_tasks_lock_for_wave(wave_id=wave.pk)
    return _cancel(tasks, actor=actor, reason="wave cancelled")
