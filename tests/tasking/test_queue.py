"""The pickers' work queue: order, zones, one task per picker, supervisor reassignment;
and, in separate processes, concurrent "next task" never hands a task out twice."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tasking.exceptions import TaskStateConflict
from tasking.models import PickTask, PickTaskStatus, WorkMode
from tasking.selectors import pick_queue
from tasking.services import (
    pick_confirm,
    pick_task_next_for_picker,
    pick_task_reassign,
    pick_task_return_to_queue,
)

from .conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(Path(__file__).with_name("picker_process.py"))


@pytest.mark.django_db
def test_pick_task_next_for_picker_takes_priority_then_pick_path(release_order, picker, layout):
    """Priority 1 before 5; within a priority the pick path (P-01 before P-02)."""
    _o1, (late,) = release_order([("SKU-B", 1)], priority=5)
    _o2, (urgent_b,) = release_order([("SKU-B", 1)], priority=1)
    _o3, (urgent_a,) = release_order([("SKU-A", 1)], priority=1)
    assert [t.pk for t in pick_queue(warehouse=layout.warehouse)] == [
        urgent_a.pk,
        urgent_b.pk,
        late.pk,
    ]
    first = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    assert first.pk == urgent_a.pk
    assert (first.status, first.assigned_to) == (PickTaskStatus.ASSIGNED, picker)
    # One task at a time: asking again returns the task in hand.
    assert pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse).pk == first.pk


@pytest.mark.django_db
def test_pick_task_next_for_picker_filters_by_zone(release_order, picker, layout):
    """A picker working zone B gets zone B's task even when zone A's comes first."""
    _o1, (task_a,) = release_order([("SKU-A", 1)])
    _o2, (task_b,) = release_order([("SKU-B", 1)])
    got = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse, zone=layout.zone_b)
    assert got.pk == task_b.pk
    assert task_a.zone_id == layout.zone_a.pk


@pytest.mark.django_db
def test_pick_task_next_for_picker_skips_automation_work(release_order, picker, robot, layout):
    """Tasks of an automated zone never reach the pickers' queue."""
    _order, (task,) = release_order([("SKU-R", 2)])
    assert task.work_mode == WorkMode.AUTOMATION
    assert pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse) is None


@pytest.mark.django_db
def test_pick_task_reassign_and_return_to_queue(release_order, picker, picker2, supervisor, layout):
    """A supervisor moves a task to another picker, or back to the queue, with history."""
    _order, (task,) = release_order([("SKU-A", 3)])
    pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    moved = pick_task_reassign(task_id=task.pk, picker=picker2, actor=supervisor)
    assert (moved.status, moved.assigned_to) == (PickTaskStatus.ASSIGNED, picker2)
    assert pick_task_next_for_picker(picker=picker2, warehouse=layout.warehouse).pk == task.pk
    assert pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse) is None
    back = pick_task_return_to_queue(task_id=task.pk, actor=supervisor)
    assert (back.status, back.assigned_to) == (PickTaskStatus.RELEASED, None)
    reasons = [h.history_change_reason for h in task.history.order_by("history_id")]
    assert reasons[-3:] == [
        "taken from the queue",
        f"reassigned from {picker.pk} to {picker2.pk}",
        "returned to the picking queue",
    ]
    assert task.history.latest().history_user == supervisor
    pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    pick_confirm(task_id=task.pk, qty="3", request_key="k", actor=picker)
    with pytest.raises(TaskStateConflict):
        pick_task_reassign(task_id=task.pk, picker=picker2, actor=supervisor)


def _pickers(n):
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    users = []
    for i in range(n):
        user = UserFactory(username=f"picker{i}")
        user.groups.add(Group.objects.get(name="picker"))
        users.append(user)
    return users


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_pick_task_next_for_picker_two_processes_holding_claims_get_different_tasks(
    release_order, layout, tmp_path
):
    """Two pickers in two processes claim at once and hold their transactions open until
    both have claimed: each got a task, and not the same one (SKIP LOCKED, no waiting)."""
    for _ in range(2):
        release_order([("SKU-A", 1)])
    _pickers(2)
    processes = [
        subprocess.Popen(
            [sys.executable, SCRIPT, "hold", str(layout.warehouse.pk), f"picker{i}", tmp_path, "2"],
            cwd=ROOT,
            env=subprocess_env(CELERY_TASK_ALWAYS_EAGER="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    claimed = [out.split()[1] for out, _err in outputs]
    assert "-" not in claimed and len(set(claimed)) == 2, outputs
    assert set(
        PickTask.objects.filter(status=PickTaskStatus.ASSIGNED).values_list("id", flat=True)
    ) == {PickTask.objects.get(pk=c).pk for c in claimed}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_pick_task_next_for_picker_four_processes_drain_queue_once(release_order, layout):
    """Four pickers drain 24 tasks side by side: every task worked exactly once."""
    for _ in range(12):
        release_order([("SKU-A", 1), ("SKU-B", 1)])
    _pickers(4)
    import time

    start_at = str(time.time() + 3)
    processes = [
        subprocess.Popen(
            [sys.executable, SCRIPT, "drain", str(layout.warehouse.pk), f"picker{i}", start_at],
            cwd=ROOT,
            env=subprocess_env(CELERY_TASK_ALWAYS_EAGER="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outputs = [p.communicate(timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, outputs
    worked = Counter(line.split()[1] for out, _err in outputs for line in out.splitlines() if line)
    assert len(worked) == 24 and set(worked.values()) == {1}, worked
    assert set(PickTask.objects.values_list("status", flat=True)) == {PickTaskStatus.DONE}
    from inventory.selectors import inventory_verify

    assert inventory_verify().problems == []


@pytest.mark.django_db
def test_pick_queue_counts_per_zone_capped(release_order, layout):
    """Waiting manual tasks per zone, each count stopping at the cap."""
    from tasking.selectors import pick_queue_counts

    for _ in range(3):
        release_order([("SKU-A", 1), ("SKU-B", 1)])
    assert pick_queue_counts(warehouse=layout.warehouse) == {
        layout.zone_a.pk: 3,
        layout.zone_b.pk: 3,
    }
    assert pick_queue_counts(warehouse=layout.warehouse, cap=2) == {
        layout.zone_a.pk: 2,
        layout.zone_b.pk: 2,
    }
