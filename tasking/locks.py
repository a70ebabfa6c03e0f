"""Row locks of the tasking context (taken after the caller's order/wave rows)."""

from .models import PickTask


def pick_tasks_lock_for_order(*, order_id) -> list[PickTask]:
    return list(
        PickTask.objects.select_for_update(of=("self",)).filter(order_id=order_id).order_by("pk")
    )


def pick_tasks_lock_for_wave(*, wave_id) -> list[PickTask]:
    return list(
        PickTask.objects.select_for_update(of=("self",)).filter(wave_id=wave_id).order_by("pk")
    )
