"""Waves: group planned orders, release them into pick tasks, cancel them.

Grouping key: warehouse, priority, ship-by window (``window_minutes`` wide,
aligned to the epoch) and the order's dominant zone; limits on orders, lines
and units per wave come from the warehouse's ``WavePolicy`` (or settings). An
order that does not fit the open wave of its group closes it (``is_full``) and
opens the next; an order bigger than a whole wave gets a wave of its own.

Release (automatic by the policy, or by a supervisor) creates one pick task
per order line x source location through ``tasking.services``, numbered
along the pick path, and emits ``wave.released``. Releasing twice creates
nothing new.

All wave work of a warehouse runs under one advisory lock (``locks.
warehouse_waves_lock``), then wave rows, then order rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from wms import metrics, sql
from wms.exceptions import DomainError, NotFoundError
from wms.history import history_records
from wms.outbox import outbox_emit

from .. import selectors
from ..locks import (
    orders_claim_unwaved,
    orders_lock_in_wave,
    warehouse_waves_lock,
    wave_lock,
    waves_lock_open,
)
from ..models import (
    Allocation,
    AllocationStatus,
    OrderStatus,
    ReplenishmentOrder,
    Wave,
    WaveReleaseMode,
    WaveReleaseReason,
    WaveStatus,
)
from ..ports import PickingStarted, PickTaskSpec, pick_work
from .intake import ORDER_AGGREGATE

WAVE_AGGREGATE = "Wave"
_BUILD_BATCH = 1000
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: An order without a requested ship-by is grouped as if due this long after acceptance.
DEFAULT_SHIP_LEAD = timedelta(hours=24)


class WaveNotOpen(DomainError):
    status = 409
    code = "wave_not_open"
    title = "The wave cannot be changed in its current status"


def _window(order, minutes: int) -> tuple[datetime, datetime]:
    ship_by = order.requested_ship_by or (order.accepted_at + DEFAULT_SHIP_LEAD)
    size = timedelta(minutes=minutes)
    start = _EPOCH + size * math.floor((ship_by - _EPOCH) / size)
    return start, start + size


def _fits(wave: Wave, policy, lines: int, units: Decimal) -> bool:
    if wave.order_count == 0:
        return True  # a wave always takes its first order, however big
    return (
        wave.order_count + 1 <= policy.max_orders
        and wave.line_count + lines <= policy.max_lines
        and wave.unit_count + units <= policy.max_units
    )


def waves_build(*, warehouse_id: int) -> list[Wave]:
    """Put planned orders that are in no wave yet into open waves; returns the waves touched.

    One batch per call (callers loop until it returns nothing).
    """
    with transaction.atomic():
        warehouse_waves_lock(warehouse_id=warehouse_id)
        orders = orders_claim_unwaved(warehouse_id=warehouse_id, limit=_BUILD_BATCH)
        if not orders:
            return []
        policy = selectors.wave_policy_for(warehouse_id=warehouse_id)
        figures = selectors.order_wave_figures(order_ids=[o.pk for o in orders])
        groups: dict[tuple, list[Wave]] = defaultdict(list)
        for wave in waves_lock_open(warehouse_id=warehouse_id):
            if not wave.is_full:
                groups[(wave.priority, wave.window_start, wave.zone_id)].append(wave)
        created: list[Wave] = []
        changed: dict = {}
        now = timezone.now()
        for order in orders:
            start, end = _window(order, policy.window_minutes)
            key = (order.priority, start, order.zone_id)
            lines, units = figures.get(order.pk, (0, Decimal("0")))
            wave = next((w for w in groups[key] if _fits(w, policy, lines, units)), None)
            if wave is None:
                for full in groups[key]:
                    full.is_full = True
                    changed[full.pk] = full
                wave = Wave(
                    warehouse_id=warehouse_id,
                    zone_id=order.zone_id,
                    priority=order.priority,
                    window_start=start,
                    window_end=end,
                    created_at=now,
                )
                created.append(wave)
                groups[key] = [wave]
            wave.order_count += 1
            wave.line_count += lines
            wave.unit_count += units
            if wave not in created:
                changed[wave.pk] = wave
            order.wave = wave
        if created:
            bulk_create_with_history(created, Wave, default_change_reason="wave built")
        if changed:
            bulk_update_with_history(
                list(changed.values()),
                Wave,
                ["order_count", "line_count", "unit_count", "is_full"],
                default_change_reason="orders added",
            )
        bulk_update_with_history(
            orders, ReplenishmentOrder, ["wave"], default_change_reason="added to wave"
        )
        return created + [w for w in changed.values() if w not in created]


def _is_due(wave: Wave, policy, now) -> str | None:
    if (
        wave.is_full
        or wave.order_count >= policy.max_orders
        or wave.line_count >= policy.max_lines
        or wave.unit_count >= policy.max_units
    ):
        return WaveReleaseReason.FULL
    if wave.window_start - timedelta(minutes=policy.release_lead_minutes) <= now:
        return WaveReleaseReason.DUE
    if wave.created_at + timedelta(minutes=policy.max_open_minutes) <= now:
        return WaveReleaseReason.AGE
    return None


def waves_release_due(*, warehouse_id: int) -> list[Wave]:
    """Release the open waves the warehouse's automatic policy says are due."""
    policy = selectors.wave_policy_for(warehouse_id=warehouse_id)
    if policy.release_mode != WaveReleaseMode.AUTOMATIC:
        return []
    now = timezone.now()
    released = []
    for wave in selectors.waves_open(warehouse_id=warehouse_id).order_by("created_at"):
        reason = _is_due(wave, policy, now)
        if reason is not None:
            wave = wave_release(wave_id=wave.pk, reason=reason)
            if wave.status == WaveStatus.RELEASED:
                released.append(wave)
    return released


def _locked_wave(wave_id) -> Wave:
    wave = Wave.objects.filter(pk=wave_id).only("warehouse_id").first()
    if wave is None:
        raise NotFoundError("No such wave.", code="wave_not_found")
    warehouse_waves_lock(warehouse_id=wave.warehouse_id)
    return wave_lock(wave_id=wave_id)


def wave_release(*, wave_id, actor=None, reason: str = WaveReleaseReason.MANUAL) -> Wave:
    """Release an open wave: pick tasks for its planned orders, orders RELEASED.

    Idempotent: a released wave is returned as it is. A wave whose orders were
    all cancelled meanwhile is cancelled instead.
    """
    with transaction.atomic():
        wave = _locked_wave(wave_id)
        if wave.status == WaveStatus.RELEASED:
            return wave
        if wave.status != WaveStatus.OPEN:
            raise WaveNotOpen(f"The wave is {wave.status}.")
        orders = orders_lock_in_wave(wave_id=wave.pk, statuses=[OrderStatus.PLANNED])
        now = timezone.now()
        if not orders:
            return _wave_cancel_empty(wave, now=now)
        actor_user = actor if getattr(actor, "_meta", None) is not None else None
        tasks = pick_work().tasks_create_for_wave(
            wave=wave, specs=_pick_task_specs(orders), actor=actor
        )
        _orders_mark_released(orders, now=now, actor_user=actor_user)
        _wave_mark_released(
            wave, now=now, reason=reason, actor_user=actor_user, orders=orders, tasks=tasks
        )
        return wave


def _wave_cancel_empty(wave: Wave, *, now) -> Wave:
    """Every order of the wave was cancelled or re-planned meanwhile: nothing to pick."""
    wave.status = WaveStatus.CANCELLED
    wave.cancelled_at = now
    wave._change_reason = "no planned orders left"
    wave.save(update_fields=["status", "cancelled_at"])
    return wave


def _pick_task_specs(orders: list[ReplenishmentOrder]) -> list[PickTaskSpec]:
    """One task per order line x source location, along the pick path.

    The path: the location's pick sequence and code, then the order's priority,
    then the order and its line number (a stable order for equal locations).
    """
    by_order = {o.pk: o for o in orders}
    groups: dict[tuple, dict] = {}
    allocations = (
        Allocation.objects.filter(order_id__in=list(by_order), status=AllocationStatus.ACTIVE)
        .order_by("pk")
        .values_list(
            "order_id",
            "line_id",
            "item_id",
            "location_id",
            "qty",
            "reservation_id",
            "location__pick_sequence",
            "location__code",
            "line__line_number",
        )
    )
    for order_id, line_id, item_id, location_id, qty, reservation_id, *sort in allocations:
        group = groups.get((line_id, location_id))
        if group is None:
            group = groups[(line_id, location_id)] = {
                "ids": (order_id, line_id, item_id, location_id),
                "sort": sort,
                "qty": Decimal("0"),
                "reservations": [],
            }
        group["qty"] += qty
        group["reservations"].append(reservation_id)
    specs = []
    for group in groups.values():
        order_id, line_id, item_id, location_id = group["ids"]
        pick_sequence, location_code, line_number = group["sort"]
        path_key = (pick_sequence, location_code, by_order[order_id].priority, str(order_id))
        spec = PickTaskSpec(
            order_id=order_id,
            order_line_id=line_id,
            item_id=item_id,
            from_location_id=location_id,
            pick_sequence=pick_sequence,
            qty=group["qty"],
            reservation_ids=tuple(group["reservations"]),
        )
        specs.append(((*path_key, line_number), spec))
    specs.sort(key=lambda pair: pair[0])
    return [spec for _key, spec in specs]


def _orders_mark_released(orders: list[ReplenishmentOrder], *, now, actor_user) -> None:
    """Orders RELEASED in one UPDATE, their history rows in one INSERT."""
    order_ids = [o.pk for o in orders]
    for order in orders:
        order.status = OrderStatus.RELEASED
        order.released_at = now
    ReplenishmentOrder.objects.filter(pk__in=order_ids).update(
        status=OrderStatus.RELEASED, released_at=now
    )
    sql.execute(
        [
            history_records(
                ReplenishmentOrder,
                order_ids,
                history_type="~",
                change_reason="wave released",
                user_id=actor_user.pk if actor_user is not None else None,
            )
        ]
    )


def _wave_mark_released(wave: Wave, *, now, reason, actor_user, orders, tasks) -> None:
    wave.status = WaveStatus.RELEASED
    wave.released_at = now
    wave.release_reason = reason
    wave.released_by = actor_user
    wave._change_reason = f"released ({reason})"
    wave.save(update_fields=["status", "released_at", "release_reason", "released_by"])
    outbox_emit(
        event_type="wave.released",
        aggregate_type=WAVE_AGGREGATE,
        aggregate_id=wave.pk,
        data={
            "waveId": str(wave.pk),
            "warehouseId": wave.warehouse_id,
            "warehouse": metrics.warehouse_code(wave.warehouse_id),
            "reason": reason,
            "orderIds": [str(o.pk) for o in orders],
            "pickTaskCount": len(tasks),
        },
    )


def wave_cancel(*, wave_id, actor=None) -> Wave:
    """Cancel a wave whose picking has not started: its tasks are cancelled and its
    orders go back to PLANNED (reservations kept) to be grouped again."""
    with transaction.atomic():
        wave = _locked_wave(wave_id)
        if wave.status == WaveStatus.CANCELLED:
            return wave
        orders = orders_lock_in_wave(
            wave_id=wave.pk, statuses=[OrderStatus.PLANNED, OrderStatus.RELEASED]
        )
        if wave.status == WaveStatus.RELEASED:
            try:
                pick_work().tasks_cancel_for_wave(wave=wave, actor=actor)
            except PickingStarted as exc:
                raise WaveNotOpen("Picking has started in this wave.") from exc
        for order in orders:
            order.status = OrderStatus.PLANNED
            order.wave = None
            order.released_at = None
        bulk_update_with_history(
            orders,
            ReplenishmentOrder,
            ["status", "wave", "released_at"],
            default_change_reason="wave cancelled",
        )
        for order in orders:
            outbox_emit(
                event_type="order.planned",
                aggregate_type=ORDER_AGGREGATE,
                aggregate_id=order.pk,
                data={
                    "orderId": str(order.pk),
                    "externalOrderId": order.external_order_id,
                    "storeCode": order.store_code,
                    "warehouse": metrics.warehouse_code(order.warehouse_id),
                    "status": order.status,
                    "reason": "wave cancelled",
                },
            )
        wave.status = WaveStatus.CANCELLED
        wave.cancelled_at = timezone.now()
        wave._change_reason = "cancelled"
        wave.save(update_fields=["status", "cancelled_at"])
        return wave
