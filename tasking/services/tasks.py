"""Pick task lifecycle: creation for a wave, the pickers' work queue, start,
reassignment, dispatch to automation and acknowledgement, cancellation.

Tasks are created RELEASED with ``work_mode`` chosen by their zone
(``AutomationZone``): automation work is dispatched by the connector, manual
work waits in the queue until a picker asks for the next task.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from inventory.selectors import locations_by_id
from outbound.ports import PickTaskSpec
from outbound.services import order_pick_lock, order_picking_started
from wms import sql
from wms.history import history_records

from .. import locks
from ..exceptions import (
    PickingStarted,
    TaskNotDispatched,
    TaskNotFound,
    TaskNotYours,
    TaskStateConflict,
)
from ..models import (
    NOT_STARTED_STATUSES,
    OPEN_STATUSES,
    AutomationZone,
    PickTask,
    PickTaskStatus,
    WorkMode,
)
from ..signals import pick_tasks_released

logger = logging.getLogger(__name__)


def user_or_none(actor):
    """A person (for history and FKs), None for an external system or a label."""
    return actor if getattr(actor, "_meta", None) is not None else None


def _stamp(task: PickTask, actor, reason: str) -> None:
    task._change_reason = reason
    if user_or_none(actor) is not None:
        task._history_user = actor


def _announce_released(warehouse_id: int, tasks: list[PickTask]) -> None:
    """After commit, tell listeners (the automation connector) about automation work."""
    ids = [t.pk for t in tasks if t.work_mode == WorkMode.AUTOMATION]
    if not ids:
        return

    def send():
        for receiver, result in pick_tasks_released.send_robust(
            sender=PickTask, warehouse_id=warehouse_id, task_ids=ids
        ):
            if isinstance(result, Exception):
                logger.warning("pick_tasks_released receiver %r failed: %s", receiver, result)

    transaction.on_commit(send)


def automated_zones() -> dict[int, AutomationZone]:
    """zone id → its active automation route (system active too)."""
    routes = AutomationZone.objects.filter(is_active=True, system__is_active=True).select_related(
        "system"
    )
    return {route.zone_id: route for route in routes}


# --- creation and cancellation --------------------------------------------------------


@transaction.atomic
def pick_tasks_create_for_wave(*, wave, specs: list[PickTaskSpec], actor=None) -> list[PickTask]:
    """Create the wave's pick tasks, numbered in the order of ``specs`` (the pick path).

    Status RELEASED (ready to work or to dispatch), priority of the wave, zone
    of the source location; tasks in an automated zone are for automation.
    Specs whose order line x location already has a live task are skipped, so
    a re-run is harmless. Returns all live tasks of the wave in sequence order.
    """
    existing = {
        (task.order_line_id, task.from_location_id): task
        for task in PickTask.objects.filter(wave=wave).exclude(status=PickTaskStatus.CANCELLED)
    }
    wanted = [s for s in specs if (s.order_line_id, s.from_location_id) not in existing]
    new_tasks = _tasks_for_specs(wave, wanted, after=_last_sequence(wave, existing.values()))
    if new_tasks:
        _tasks_insert(new_tasks, [spec.reservation_ids for spec in wanted], actor=actor)
        _announce_released(wave.warehouse_id, new_tasks)
    # The live tasks were read above (this transaction holds the wave): no second read.
    return sorted([*existing.values(), *new_tasks], key=lambda task: task.sequence)


def _last_sequence(wave, live_tasks) -> int:
    """Sequence numbers are never reused in a wave, not even a cancelled task's."""
    last_live = max((task.sequence for task in live_tasks), default=0)
    last_cancelled = (
        PickTask.objects.filter(wave=wave, status=PickTaskStatus.CANCELLED)
        .order_by("-sequence")
        .values_list("sequence", flat=True)
        .first()
    )
    return max(last_live, last_cancelled or 0)


def _tasks_for_specs(wave, specs: list[PickTaskSpec], *, after: int) -> list[PickTask]:
    """Unsaved tasks, one per spec, numbered from ``after + 1``; work mode by zone."""
    locations = locations_by_id(location_ids={s.from_location_id for s in specs})
    automated = automated_zones()
    now = timezone.now()
    tasks = []
    for sequence, spec in enumerate(specs, start=after + 1):
        location = locations.get(spec.from_location_id)
        zone_id = location.zone_id if location is not None else None
        tasks.append(
            PickTask(
                warehouse_id=wave.warehouse_id,
                wave=wave,
                order_id=spec.order_id,
                order_line_id=spec.order_line_id,
                item_id=spec.item_id,
                from_location_id=spec.from_location_id,
                zone_id=zone_id,
                qty_to_pick=spec.qty,
                priority=wave.priority,
                pick_sequence=spec.pick_sequence,
                sequence=sequence,
                status=PickTaskStatus.RELEASED,
                work_mode=WorkMode.AUTOMATION if zone_id in automated else WorkMode.MANUAL,
                created_at=now,
                released_at=now,
            )
        )
    return tasks


def _tasks_insert(tasks: list[PickTask], reservation_ids: list[tuple[int, ...]], *, actor):
    """The tasks, their history rows and their reservation links: three statements."""
    sql.bulk_insert(tasks)
    user = user_or_none(actor)
    sql.execute(
        [
            history_records(
                PickTask,
                [task.pk for task in tasks],
                history_type="+",
                change_reason="wave released",
                user_id=user.pk if user is not None else None,
            )
        ]
    )
    through = PickTask.reservations.through
    sql.bulk_insert(
        [
            through(picktask_id=task.pk, inventoryreservation_id=reservation_id)
            for task, ids in zip(tasks, reservation_ids, strict=True)
            for reservation_id in ids
        ]
    )


def _cancel(tasks: list[PickTask], *, actor, reason: str) -> int:
    live = [t for t in tasks if t.status != PickTaskStatus.CANCELLED]
    started = [t for t in live if t.status not in NOT_STARTED_STATUSES]
    if started:
        raise PickingStarted(
            f"{len(started)} pick task(s) are already {started[0].status}; nothing was cancelled."
        )
    now = timezone.now()
    for task in live:
        task.status = PickTaskStatus.CANCELLED
        task.finished_at = now
    if live:
        bulk_update_with_history(
            live,
            PickTask,
            ["status", "finished_at"],
            default_user=user_or_none(actor),
            default_change_reason=reason,
        )
    return len(live)


@transaction.atomic
def pick_tasks_cancel_for_order(*, order, actor=None) -> int:
    """Cancel the order's tasks if none has started; raises ``PickingStarted`` otherwise.

    Returns how many tasks were cancelled.
    """
    tasks = locks.pick_tasks_lock_for_order(order_id=order.pk)
    return _cancel(tasks, actor=actor, reason="order cancelled")


@transaction.atomic
def pick_tasks_cancel_for_wave(*, wave, actor=None) -> int:
    """Cancel the wave's tasks if none has started; raises ``PickingStarted`` otherwise."""
    tasks = locks.pick_tasks_lock_for_wave(wave_id=wave.pk)
    return _cancel(tasks, actor=actor, reason="wave cancelled")


class PickWork:
    """Tasking's implementation of ``outbound.ports.PickWork`` (registered in ``apps``)."""

    tasks_create_for_wave = staticmethod(pick_tasks_create_for_wave)
    tasks_cancel_for_wave = staticmethod(pick_tasks_cancel_for_wave)
    tasks_cancel_for_order = staticmethod(pick_tasks_cancel_for_order)


# --- the pickers' work queue ------------------------------------------------------------


@transaction.atomic
def pick_task_next_for_picker(*, picker, warehouse, zone=None) -> PickTask | None:
    """The picker's task in hand in this warehouse, else the best released manual task
    (of ``zone`` if given), now ASSIGNED to them; None when the queue is empty.

    Each task goes to exactly one picker: the claim skips rows another
    transaction holds (``locks.pick_task_claim_next``).
    """
    in_hand = (
        PickTask.objects.filter(
            warehouse=warehouse,
            assigned_to=picker,
            status__in=(PickTaskStatus.ASSIGNED, PickTaskStatus.IN_PROGRESS),
        )
        .order_by("assigned_at", "id")
        .first()
    )
    if in_hand is not None:
        return in_hand
    task = locks.pick_task_claim_next(
        warehouse_id=warehouse.pk, zone_id=zone.pk if zone is not None else None
    )
    if task is None:
        return None
    task.status = PickTaskStatus.ASSIGNED
    task.assigned_to = picker
    task.assigned_at = timezone.now()
    _stamp(task, picker, "taken from the queue")
    task.save(update_fields=["status", "assigned_to", "assigned_at", "updated_at"])
    return task


def _locked_with_order(task_id) -> PickTask:
    """Lock the task's order, then the task (the lock order of every pick change)."""
    order_id = PickTask.objects.filter(pk=task_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise TaskNotFound(_("No such pick task."))
    order_pick_lock(order_id=order_id)
    return locks.pick_task_lock(task_id=task_id)


@transaction.atomic
def pick_task_start(*, task_id, picker) -> PickTask:
    """The picker scanned the right location: ASSIGNED → IN_PROGRESS, order PICKING.

    Idempotent for a task already in progress with the same picker.
    """
    task = _locked_with_order(task_id)
    if task.assigned_to_id != picker.pk:
        raise TaskNotYours(_("This task is assigned to someone else."))
    if task.status == PickTaskStatus.IN_PROGRESS:
        return task
    if task.status != PickTaskStatus.ASSIGNED:
        raise TaskStateConflict(
            _("The task is %(status)s; it cannot be started.")
            % {"status": task.get_status_display()}
        )
    task.status = PickTaskStatus.IN_PROGRESS
    task.started_at = timezone.now()
    _stamp(task, picker, "location scanned")
    task.save(update_fields=["status", "started_at", "updated_at"])
    order_picking_started(order_id=task.order_id, actor=picker)
    return task


@transaction.atomic
def pick_task_reassign(*, task_id, picker, actor=None) -> PickTask:
    """A supervisor hands an open task to ``picker`` (also one taken back from
    automation); what was picked so far stays. Status ASSIGNED."""
    task = _locked_with_order(task_id)
    if task.status not in OPEN_STATUSES:
        raise TaskStateConflict(
            _("The task is %(status)s; it cannot be reassigned.")
            % {"status": task.get_status_display()}
        )
    previous = task.assigned_to_id
    task.status = PickTaskStatus.ASSIGNED
    task.work_mode = WorkMode.MANUAL
    task.assigned_to = picker
    task.assigned_at = timezone.now()
    task.dispatch_target = ""
    _stamp(task, actor, f"reassigned from {previous or '-'} to {picker.pk}")
    task.save(
        update_fields=[
            "status",
            "work_mode",
            "assigned_to",
            "assigned_at",
            "dispatch_target",
            "updated_at",
        ]
    )
    return task


@transaction.atomic
def pick_task_return_to_queue(*, task_id, actor=None) -> PickTask:
    """Put an open task back in the pickers' queue (unassigned; also one taken back
    from automation, e.g. a system that is down). A confirmation from that system
    for it is then refused (``task_not_dispatched``)."""
    task = _locked_with_order(task_id)
    if task.status not in OPEN_STATUSES:
        raise TaskStateConflict(
            _("The task is %(status)s; it cannot go back to the queue.")
            % {"status": task.get_status_display()}
        )
    task.status = PickTaskStatus.RELEASED
    task.work_mode = WorkMode.MANUAL
    task.assigned_to = None
    task.assigned_at = None
    task.dispatch_target = ""
    _stamp(task, actor, "returned to the picking queue")
    task.save(
        update_fields=[
            "status",
            "work_mode",
            "assigned_to",
            "assigned_at",
            "dispatch_target",
            "updated_at",
        ]
    )
    return task


# --- automation -------------------------------------------------------------------------


@transaction.atomic
def pick_tasks_claim_for_dispatch(*, zone_ids, target: str, batch_key: str, limit: int):
    """Claim up to ``limit`` released automation tasks of ``zone_ids`` for the system
    ``target``: status DISPATCHED under ``batch_key`` (the caller stores the batch
    for delivery in this same transaction). Returns the tasks, in pick order."""
    tasks = locks.pick_tasks_claim_for_dispatch(zone_ids=zone_ids, limit=limit)
    if not tasks:
        return []
    now = timezone.now()
    for task in tasks:
        task.status = PickTaskStatus.DISPATCHED
        task.dispatch_target = target
        task.dispatch_batch = batch_key
        task.dispatched_at = now
    bulk_update_with_history(
        tasks,
        PickTask,
        ["status", "dispatch_target", "dispatch_batch", "dispatched_at"],
        default_change_reason=f"dispatched to {target}",
    )
    return tasks


@transaction.atomic
def pick_tasks_mark_delivered(*, batch_key: str) -> list[PickTask]:
    """The batch ``batch_key`` reached its system: record when (first delivery only)."""
    ids = list(
        PickTask.objects.filter(dispatch_batch=batch_key, delivered_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    tasks = locks.pick_tasks_lock(task_ids=ids)
    now = timezone.now()
    for task in tasks:
        task.delivered_at = now
    if tasks:
        bulk_update_with_history(
            tasks, PickTask, ["delivered_at"], default_change_reason="batch delivered"
        )
    return tasks


@transaction.atomic
def pick_task_ack(*, task_id, target: str) -> PickTask:
    """The automation system ``target`` acknowledged the task: DISPATCHED → IN_PROGRESS
    (order PICKING). Acknowledging again changes nothing."""
    task = _locked_with_order(task_id)
    if task.dispatch_target != target or task.work_mode != WorkMode.AUTOMATION:
        raise TaskNotDispatched(f"Pick task {task.pk} is not dispatched to {target}.")
    if task.status == PickTaskStatus.DISPATCHED:
        now = timezone.now()
        task.status = PickTaskStatus.IN_PROGRESS
        task.acked_at = now
        task.started_at = task.started_at or now
        _stamp(task, None, f"acknowledged by {target}")
        task.save(update_fields=["status", "acked_at", "started_at", "updated_at"])
        order_picking_started(order_id=task.order_id)
    elif task.acked_at is None:
        task.acked_at = timezone.now()
        _stamp(task, None, f"acknowledged by {target}")
        task.save(update_fields=["acked_at", "updated_at"])
    return task
