"""Picking exceptions (seed 002, sequence 11): opened with a short pick or a picker's
report, resolved by a supervisor with one controlled action.

While a case is open, what the task did not pick stays reserved for its order
line, so nothing else allocates stock that may not be there. Resolutions:

- ``REALLOCATE``: release the remainder at the task's location and reserve it
  again at other locations (planner rules); new pick tasks in the same wave.
  Refused (nothing changes) when no other location has any.
- ``SHORT``: release the remainder; the line ships short, the order goes on.
- ``QUARANTINE``: release the remainder, move the location's available stock
  of allocatable statuses to the quarantine status (status transfers), ask
  for a count of the location, then re-allocate the remainder elsewhere as
  far as stock allows (the rest is shorted).

Every resolution runs in one transaction under the order lock, with posting
keys ``exception:<case id>:…``: it happens once, or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from counting.models import CountType
from counting.services import count_open
from counting.signals import count_closed
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from outbound.services import order_line_reallocate, order_line_short, order_pick_lock
from wms.exceptions import BusinessValidationError, DomainError, NotFoundError
from wms.outbox import outbox_emit
from wms.quantities import qty_text

from .. import locks
from ..exceptions import ExceptionNotOpen, NoStockElsewhere
from ..models import (
    CountRequest,
    CountRequestStatus,
    ExceptionCase,
    ExceptionResolution,
    ExceptionStatus,
    PickTask,
    PickTaskStatus,
)
from .packing import pack_task_open_if_picked
from .tasks import PickTaskSpec, pick_tasks_create_for_wave, user_or_none

EXCEPTION_AGGREGATE = "ExceptionCase"
ZERO = Decimal("0")

ACTION_REALLOCATE = "REALLOCATE"
ACTION_SHORT = "SHORT"
ACTION_QUARANTINE = "QUARANTINE"
ACTIONS = (ACTION_REALLOCATE, ACTION_SHORT, ACTION_QUARANTINE)


def quarantine_status_code() -> str:
    return getattr(settings, "WMS_QUARANTINE_STATUS", "QUARANTINED")


def _case_data(case: ExceptionCase, task: PickTask) -> dict:
    return {
        "exceptionCaseId": case.pk,
        "type": case.type,
        "status": case.status,
        "warehouse": task.warehouse.code,
        "pickTaskId": str(task.pk),
        "taskStatus": task.status,
        "orderId": str(task.order_id),
        "orderLineId": str(case.order_line_id),
        "sku": case.item.sku,
        "location": case.location.code,
        "qtyExpected": format(case.qty_expected, "f"),
        "qtyPicked": format(case.qty_picked, "f"),
        "qtyMissing": format(case.qty_missing, "f"),
    }


def exception_case_open(
    *,
    task: PickTask,
    type: str,
    qty_expected: Decimal,
    qty_picked: Decimal,
    confirmation=None,
    note: str = "",
    actor=None,
    actor_label: str = "",
) -> ExceptionCase:
    """Open a case for ``task`` (in the caller's transaction, task locked) and write
    ``exception.opened``. One open case per task (a database constraint)."""
    case = ExceptionCase(
        warehouse_id=task.warehouse_id,
        type=type,
        pick_task=task,
        order_line_id=task.order_line_id,
        location_id=task.from_location_id,
        item_id=task.item_id,
        confirmation=confirmation,
        qty_expected=qty_expected,
        qty_picked=qty_picked,
        qty_missing=qty_expected - qty_picked,
        note=(note or "")[:500],
        reported_by=user_or_none(actor),
        reported_by_label=(actor_label or "")[:150],
    )
    case._change_reason = "opened"
    case.save(force_insert=True)
    outbox_emit(
        event_type="exception.opened",
        aggregate_type=EXCEPTION_AGGREGATE,
        aggregate_id=case.pk,
        data={**_case_data(case, task), "note": case.note, "reportedBy": actor_label},
    )
    return case


def _remainder(task: PickTask) -> tuple[Decimal, list[int]]:
    """What the task's open reservations still hold, and their ids (oldest first)."""
    reservations = list(task.reservations.order_by("pk"))
    held = sum((r.qty_open for r in reservations if r.is_open), ZERO)
    return held, [r.pk for r in reservations]


def _excluded_locations(task: PickTask) -> set[int]:
    """Locations not to re-allocate from: the task's own and any where the line already
    has a live task (one live task per line x location)."""
    others = PickTask.objects.filter(order_line_id=task.order_line_id).exclude(
        status=PickTaskStatus.CANCELLED
    )
    return {task.from_location_id, *others.values_list("from_location_id", flat=True)}


def _reallocate(task: PickTask, qty: Decimal, *, actor) -> list[PickTask]:
    allocations = order_line_reallocate(
        order_id=task.order_id,
        line_id=task.order_line_id,
        qty=qty,
        exclude_location_ids=_excluded_locations(task),
        actor=actor,
    )
    if not allocations:
        return []
    groups: dict[int, list] = defaultdict(list)
    for allocation in allocations:
        groups[allocation.location_id].append(allocation)
    specs = []
    for location_id, group in groups.items():
        location = group[0].location
        specs.append(
            (
                (location.pick_sequence, location.code),
                PickTaskSpec(
                    order_id=task.order_id,
                    order_line_id=task.order_line_id,
                    item_id=task.item_id,
                    from_location_id=location_id,
                    pick_sequence=location.pick_sequence,
                    qty=sum((a.qty for a in group), ZERO),
                    reservation_ids=tuple(a.reservation_id for a in group),
                ),
            )
        )
    specs.sort(key=lambda pair: pair[0])
    before = set(PickTask.objects.filter(wave_id=task.wave_id).values_list("pk", flat=True))
    tasks = pick_tasks_create_for_wave(
        wave=task.wave, specs=[spec for _key, spec in specs], actor=actor
    )
    return [t for t in tasks if t.pk not in before]


def _quarantine_location(case: ExceptionCase, *, actor) -> list[str]:
    """Move the location's available stock (allocatable statuses) to quarantine."""
    target = inventory_selectors.status_for_code(code=quarantine_status_code())
    if target is None:
        raise BusinessValidationError(
            _("The quarantine status %(code)s does not exist.")
            % {"code": quarantine_status_code()},
            code="quarantine_status_missing",
        )
    moved = []
    balances = (
        inventory_selectors.balance_list(
            actor=actor,
            warehouse_code=case.warehouse.code,
            location_code=case.location.code,
        )
        .filter(available__gt=0, status__allocatable=True)
        .order_by("pk")
    )
    for balance in balances:
        inventory_services.stock_status_transfer(
            item=balance.item,
            location=balance.location,
            from_status=balance.status,
            to_status=target,
            qty=balance.available,
            posting_key=f"exception:{case.pk}:quarantine:{balance.pk}",
            source_ref=f"ExceptionCase:{case.pk}",
            actor=user_or_none(actor),
        )
        moved.append(f"{qty_text(balance.available)} {balance.item.sku}")
    return moved


@transaction.atomic
def exception_case_resolve(*, case_id, action: str, actor, note: str = "") -> ExceptionCase:
    """Resolve an open case with one controlled action (module docstring).

    Raises ``exception_not_open`` for a resolved case and ``no_stock_elsewhere``
    when a re-allocation finds nothing (in both cases nothing changes).
    """
    if action not in ACTIONS:
        raise BusinessValidationError(_("Unknown resolution."), code="invalid_resolution")
    case, task = _case_lock(case_id)
    if case.status != ExceptionStatus.OPEN:
        raise ExceptionNotOpen(
            _("%(case)s is already resolved.") % {"case": case.label},
        )
    notes = [note] if note else []
    resolution, new_tasks = _remainder_resolve(case, task, action, actor=actor, notes=notes)
    case.status = ExceptionStatus.RESOLVED
    case.resolution = resolution
    case.resolution_note = "; ".join(notes)[:500]
    case.resolved_at = timezone.now()
    case.resolved_by = user_or_none(actor)
    case._change_reason = f"resolved: {resolution}"
    case.save(
        update_fields=["status", "resolution", "resolution_note", "resolved_at", "resolved_by"]
    )
    if not new_tasks:
        # The last open work of the order may be this case: then it is packable.
        pack_task_open_if_picked(order=task.order)
    outbox_emit(
        event_type="exception.resolved",
        aggregate_type=EXCEPTION_AGGREGATE,
        aggregate_id=case.pk,
        data={
            **_case_data(case, task),
            "resolution": resolution,
            "resolutionNote": case.resolution_note,
            "newPickTaskIds": [str(t.pk) for t in new_tasks],
            "resolvedBy": getattr(actor, "username", ""),
        },
    )
    case.new_tasks = new_tasks
    return case


def _case_lock(case_id) -> tuple[ExceptionCase, PickTask]:
    """Lock in the pick lock order (the task's order, the task, the case), then read
    the case and the task."""
    task_id = (
        ExceptionCase.objects.filter(pk=case_id).values_list("pick_task_id", flat=True).first()
    )
    if task_id is None:
        raise NotFoundError(_("No such exception case."), code="exception_not_found")
    order_id = PickTask.objects.filter(pk=task_id).values_list("order_id", flat=True).get()
    order_pick_lock(order_id=order_id)
    locks.pick_task_lock(task_id=task_id)
    locks.exception_case_lock(case_id=case_id)
    case = ExceptionCase.objects.select_related("warehouse", "location", "item").get(pk=case_id)
    task = PickTask.objects.select_related("warehouse", "wave").get(pk=task_id)
    return case, task


def _remainder_resolve(
    case: ExceptionCase, task: PickTask, action: str, *, actor, notes: list[str]
) -> tuple[str, list[PickTask]]:
    """Release what the task still holds and do ``action`` with it; the resolution and
    the new pick tasks. Appends to ``notes`` what was done."""
    held, reservation_ids = _remainder(task)
    if held <= 0:
        return ExceptionResolution.NOTHING_OPEN, []
    released = order_line_short(
        order_id=task.order_id,
        line_id=task.order_line_id,
        reservation_ids=reservation_ids,
        qty=held,
        posting_key_prefix=f"exception:{case.pk}",
        actor=actor,
    )
    new_tasks: list[PickTask] = []
    if action == ACTION_SHORT:
        resolution = ExceptionResolution.SHORTED
        notes.append(f"released {qty_text(released)}")
    elif action == ACTION_REALLOCATE:
        new_tasks = _reallocate(task, released, actor=actor)
        if not new_tasks:
            raise NoStockElsewhere(
                _("No other location has %(sku)s available; nothing was changed.")
                % {"sku": case.item.sku}
            )
        resolution = ExceptionResolution.REALLOCATED
    else:
        moved = _quarantine_location(case, actor=actor)
        request = CountRequest.objects.create(
            warehouse_id=case.warehouse_id,
            location_id=case.location_id,
            exception_case=case,
            reason=f"{case.get_type_display()} ({case.label})"[:200],
            requested_by=user_or_none(actor),
        )
        notes.append(_spot_count_open(case, request, actor=actor))
        notes.append("quarantined: " + (", ".join(moved) if moved else "nothing available"))
        new_tasks = _reallocate(task, released, actor=actor)
        resolution = ExceptionResolution.QUARANTINED
    picked_again = sum((t.qty_to_pick for t in new_tasks), ZERO)
    if new_tasks:
        where = (f"{qty_text(t.qty_to_pick)} @ {t.from_location.code}" for t in new_tasks)
        notes.append("re-allocated " + ", ".join(where))
    if released - picked_again > 0:
        notes.append(f"shorted {qty_text(released - picked_again)}")
    return resolution, new_tasks


def _spot_count_open(case: ExceptionCase, request: CountRequest, *, actor) -> str:
    """The count request becomes a real count: a blind SPOT count of the location, in
    this transaction (it counts the stock just quarantined). A location with nothing
    to count opens none; the resolution goes on and says so."""
    try:
        count = count_open(
            warehouse=case.warehouse,
            type=CountType.SPOT,
            blind=True,
            locations=[case.location.code],
            source_ref=f"CountRequest:{request.pk}",
            actor=actor,
        )
    except DomainError as exc:
        return f"no count opened: {exc.detail}"
    return f"spot count {count.count_number}"


@transaction.atomic
def count_request_close(*, request_id, actor=None, cancelled: bool = False) -> CountRequest:
    """Mark a count request done (or cancelled); closing a closed one changes nothing."""
    request = CountRequest.objects.select_for_update(of=("self",)).get(pk=request_id)
    if request.status != CountRequestStatus.OPEN:
        return request
    request.status = CountRequestStatus.CANCELLED if cancelled else CountRequestStatus.DONE
    request.closed_at = timezone.now()
    request._change_reason = "closed"
    if user_or_none(actor) is not None:
        request._history_user = actor
    request.save(update_fields=["status", "closed_at"])
    return request


_COUNT_REQUEST_REF = "CountRequest:"


def _count_request_follow(sender, *, count, cancelled: bool, **kwargs) -> None:
    """A spot count opened for a count request closes the request with it (in the
    count's transaction): done when reconciled, cancelled when the count is."""
    if count.source_ref.startswith(_COUNT_REQUEST_REF):
        request_id = int(count.source_ref[len(_COUNT_REQUEST_REF) :])
        count_request_close(request_id=request_id, cancelled=cancelled)


count_closed.connect(_count_request_follow, dispatch_uid="tasking.count_request_follow")
