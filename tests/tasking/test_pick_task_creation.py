"""Pick task creation at wave release (``pick_tasks_create_for_wave``) and cancellation."""

from decimal import Decimal

import pytest

from outbound.models import Allocation
from tasking.models import PickTask, PickTaskStatus
from tasking.services import (
    PickingStarted,
    PickTaskSpec,
    pick_tasks_cancel_for_order,
    pick_tasks_create_for_wave,
)

pytestmark = pytest.mark.django_db


def _specs_of(order):
    return [
        PickTaskSpec(
            order_id=a.order_id,
            order_line_id=a.line_id,
            item_id=a.item_id,
            from_location_id=a.location_id,
            pick_sequence=a.location.pick_sequence,
            qty=a.qty,
            reservation_ids=(a.reservation_id,),
        )
        for a in Allocation.objects.filter(order=order).select_related("location")
    ]


def test_pick_tasks_create_for_wave_is_idempotent(release_order):
    """Creating a released wave's tasks again adds nothing and keeps their numbers."""
    order, tasks = release_order([("SKU-A", 60), ("SKU-B", 5)])
    # SKU-A: 50 at P-01 and 10 at R-01; SKU-B: 5 at P-02 — in pick-path order.
    assert [(t.sequence, t.from_location.code, t.qty_to_pick) for t in tasks] == [
        (1, "P-01", Decimal("50")),
        (2, "P-02", Decimal("5")),
        (3, "R-01", Decimal("10")),
    ]
    assert {t.status for t in tasks} == {PickTaskStatus.RELEASED}
    again = pick_tasks_create_for_wave(wave=order.wave, specs=_specs_of(order))
    assert [t.pk for t in again] == [t.pk for t in tasks]
    assert PickTask.objects.count() == 3
    for task in tasks:
        assert [r.qty for r in task.reservations.all()] == [task.qty_to_pick]


def test_pick_tasks_cancel_for_order_refuses_once_one_started(release_order):
    """One task in a picker's hands: nothing is cancelled and ``PickingStarted`` is raised."""
    order, tasks = release_order([("SKU-A", 60)])
    PickTask.objects.filter(pk=tasks[0].pk).update(status=PickTaskStatus.IN_PROGRESS)
    with pytest.raises(PickingStarted):
        pick_tasks_cancel_for_order(order=order)
    assert set(PickTask.objects.values_list("status", flat=True)) == {
        PickTaskStatus.IN_PROGRESS,
        PickTaskStatus.RELEASED,
    }
    PickTask.objects.filter(pk=tasks[0].pk).update(status=PickTaskStatus.RELEASED)
    assert pick_tasks_cancel_for_order(order=order) == 2
    assert set(PickTask.objects.values_list("status", flat=True)) == {PickTaskStatus.CANCELLED}
