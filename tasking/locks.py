"""Every row lock the tasking context takes, in one place.

Order (``outbound.locks`` continues it): the order row (``outbound.services
.order_pick_lock``) → pick task rows (primary key) → exception case rows →
balances and reservations (inside the posting service). Claims for the work
queue and for automation dispatch take tasks with ``SKIP LOCKED``: two pickers
asking at once never wait for each other and never get the same task.
"""

from django.db import connection
from django.db.models import QuerySet

from wms import sql

from . import queries
from .models import ExceptionCase, PickTask, PickTaskStatus, WorkMode


def _locking() -> QuerySet:
    return PickTask.objects.select_for_update(of=("self",))


def pick_tasks_lock_for_order(*, order_id) -> list[PickTask]:
    return list(_locking().filter(order_id=order_id).order_by("pk"))


def pick_tasks_lock_for_wave(*, wave_id) -> list[PickTask]:
    return list(_locking().filter(wave_id=wave_id).order_by("pk"))


def pick_task_lock(*, task_id, related=()) -> PickTask | None:
    """One task, locked until commit (waits for whoever holds it); ``related`` rows
    are read with it, not locked."""
    return _locking().select_related(*related).filter(pk=task_id).first()


def pick_task_lock_for_confirm(*, task_id) -> tuple[PickTask, list[int]] | None:
    """One task locked as ``pick_task_lock`` does, with the ids of its reservations
    (oldest first): one statement (``queries.pick_task_lock_for_confirm``)."""
    task, statement = queries.pick_task_lock_for_confirm()
    with connection.cursor() as cursor:
        cursor.execute(statement, [sql.db_value(PickTask, "id", task_id)])
        row = cursor.fetchone()
    if row is None:
        return None
    return task.instance(row), list(row[len(task)])


def pick_tasks_lock_for_confirm(*, task_ids) -> dict:
    """``pick_task_lock_for_confirm`` for a batch: the tasks locked in primary-key
    order, id → (task, reservation ids), the ones that exist."""
    task, statement = queries.pick_tasks_lock_for_confirm()
    ids = sorted({sql.db_value(PickTask, "id", pk) for pk in task_ids})
    with connection.cursor() as cursor:
        cursor.execute(statement, [ids])
        rows = cursor.fetchall()
    locked = {}
    for row in rows:
        instance = task.instance(row)
        locked[instance.pk] = (instance, list(row[len(task)]))
    return locked


def pick_tasks_lock(*, task_ids) -> list[PickTask]:
    return list(_locking().filter(pk__in=list(task_ids)).order_by("pk"))


def pick_task_claim_next(*, warehouse_id: int, zone_id: int | None = None) -> PickTask | None:
    """The best released manual task of the warehouse (optionally of one zone) that
    no one else is taking: priority, then the pick path, then age.

    ``FOR UPDATE SKIP LOCKED``: a task another picker's transaction is claiming
    is passed by, so concurrent claims get different tasks without waiting.
    Served by the partial indexes ``pick_task_manual_queue_idx`` /
    ``pick_task_zone_queue_idx``.
    """
    qs = PickTask.objects.select_for_update(of=("self",), skip_locked=True).filter(
        warehouse_id=warehouse_id, status=PickTaskStatus.RELEASED, work_mode=WorkMode.MANUAL
    )
    if zone_id is not None:
        qs = qs.filter(zone_id=zone_id)
    return qs.order_by("priority", "pick_sequence", "id").first()


def pick_tasks_claim_for_dispatch(*, zone_ids, limit: int) -> list[PickTask]:
    """Released automation tasks of ``zone_ids`` no other dispatcher is taking."""
    return list(
        PickTask.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(
            zone_id__in=list(zone_ids),
            status=PickTaskStatus.RELEASED,
            work_mode=WorkMode.AUTOMATION,
        )
        .order_by("priority", "pick_sequence", "id")[:limit]
    )


def exception_case_lock(*, case_id) -> ExceptionCase | None:
    return ExceptionCase.objects.select_for_update(of=("self",)).filter(pk=case_id).first()
