"""Pick confirmations, manual (handheld) and automation (API): exactly one effect each.

``pick_confirm`` in one transaction: lock the order (outbound), lock the task,
check that the caller holds it and that the quantity fits, close the task
(DONE, or SHORT / EXCEPTION with an exception case opened), record the
confirmation and the pick on the order line (outbound), write ``pick.confirmed``
(and ``exception.opened``), and last consume the task's reservations into the
order's staging location through the posting service (keys
``pick:<confirmation id>:<reservation id>``). Stock goes last because its
balance rows are the most shared: every pick of an item at a location, and
of that item into staging, meets there; taking them last keeps them locked
for the shortest time. Any refusal rolls everything back.

Exactly once: the caller's key (``request_key``) is unique on
``PickConfirmation``. Every confirmation closes its task, so a retry or a
concurrent duplicate (which waited for the locks) finds the task closed and,
under its key, the first confirmation: it changes nothing (``replayed``). A
key reused with other content is refused (``confirmation_key_reused``, also
when the unique constraint is what catches it); a second confirmation under
a new key finds the task closed (``task_not_open``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wms import sql
from wms.correlation import get_correlation_id
from wms.exceptions import BusinessValidationError
from wms.history import current_history_user_id, history_snapshot_sql
from wms.outbox import outbox_emit, outbox_insert

from .. import locks
from ..exceptions import (
    ConfirmationKeyReused,
    NoStagingLocation,
    OverPick,
    TaskNotDispatched,
    TaskNotFound,
    TaskNotOpen,
    TaskNotYours,
    TaskStateConflict,
    WrongScan,
)
from ..models import (
    ConfirmationSource,
    ExceptionCase,
    ExceptionType,
    PickConfirmation,
    PickTask,
    PickTaskStatus,
    WorkMode,
)
from .exceptions import exception_case_open
from .tasks import user_or_none

PICK_TASK_AGGREGATE = "PickTask"
_QUANTUM = Decimal("0.001")


@dataclass(frozen=True)
class ConfirmResult:
    confirmation: PickConfirmation
    task: PickTask
    exception_case: ExceptionCase | None
    replayed: bool


def pick_qty(value, *, field_name: str = "qtyPicked") -> Decimal:
    """A picked quantity: a decimal ≥ 0 with at most three decimals (never a float)."""
    try:
        qty = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise BusinessValidationError(
            _("The quantity is not a number."),
            code="invalid_quantity",
            errors=[{"field": field_name, "code": "invalid", "message": "not a number"}],
        ) from exc
    if isinstance(value, float) or not qty.is_finite() or qty < 0 or qty != qty.quantize(_QUANTUM):
        raise BusinessValidationError(
            _("The quantity must be zero or more, with at most three decimals."),
            code="invalid_quantity",
            errors=[{"field": field_name, "code": "invalid", "message": "0 or more, 3 decimals"}],
        )
    return qty.quantize(_QUANTUM)


def _fingerprint(**content) -> str:
    text = json.dumps({k: str(v) for k, v in content.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(request_key: str, fingerprint: str) -> ConfirmResult | None:
    confirmation = (
        PickConfirmation.objects.select_related("pick_task").filter(request_key=request_key).first()
    )
    if confirmation is None:
        return None
    if confirmation.request_fingerprint != fingerprint:
        raise ConfirmationKeyReused(
            _("This form or key already confirmed another pick; nothing was changed."),
        )
    case = ExceptionCase.objects.filter(confirmation=confirmation).first()
    return ConfirmResult(confirmation, confirmation.pick_task, case, True)


def _matches_location(task: PickTask, code: str) -> bool:
    code = (code or "").strip()
    return bool(code) and code in (task.from_location.code, task.from_location.barcode)


def _matches_item(task: PickTask, code: str) -> bool:
    code = (code or "").strip()
    return bool(code) and code in (task.item.sku, task.item.gtin)


def check_location_scan(*, task: PickTask, code: str) -> None:
    """Refuse (nothing changes) a scanned location that is not the task's."""
    if not _matches_location(task, code):
        raise WrongScan(
            _("Wrong location: you scanned %(scanned)s, the task is at %(location)s.")
            % {"scanned": (code or "").strip() or "—", "location": task.from_location.code},
            errors=[{"field": "location", "code": "wrong_location", "message": code or ""}],
        )


def check_item_scan(*, task: PickTask, code: str) -> None:
    """Refuse (nothing changes) a scanned item that is not the task's (GTIN or SKU)."""
    if not _matches_item(task, code):
        raise WrongScan(
            _("Wrong item: you scanned %(scanned)s, the task is for %(sku)s.")
            % {"scanned": (code or "").strip() or "—", "sku": task.item.sku},
            errors=[{"field": "item", "code": "wrong_item", "message": code or ""}],
        )


def _check_holder(task: PickTask, *, source: str, actor, system) -> None:
    if not task.is_open:
        raise TaskNotOpen(
            _("Task %(task)s is %(status)s; it takes no more confirmations.")
            % {"task": task.label, "status": task.get_status_display()},
            extra={"pickTaskId": str(task.pk), "taskStatus": task.status},
        )
    if source == ConfirmationSource.AUTOMATION:
        if (
            system is None
            or task.work_mode != WorkMode.AUTOMATION
            or task.dispatch_target != system.code
            or task.status not in (PickTaskStatus.DISPATCHED, PickTaskStatus.IN_PROGRESS)
        ):
            raise TaskNotDispatched(
                f"Pick task {task.pk} is not dispatched to {getattr(system, 'code', '?')}.",
                extra={"pickTaskId": str(task.pk), "taskStatus": task.status},
            )
        return
    if task.assigned_to_id is None or task.assigned_to_id != getattr(actor, "pk", None):
        raise TaskNotYours(_("This task is not assigned to you."))
    if task.status not in (PickTaskStatus.ASSIGNED, PickTaskStatus.IN_PROGRESS):
        raise TaskStateConflict(
            _("The task is %(status)s.") % {"status": task.get_status_display()}
        )


def _consumption_plan(task: PickTask, qty: Decimal) -> list[tuple]:
    """Which open reservations of the task give ``qty``, oldest first: (reservation, take).

    Read without a lock: the posting service locks and re-checks each one, so a
    reservation changed meanwhile makes the posting (and the confirmation) fail.
    """
    plan = []
    left = qty
    for reservation in _reservations(task):
        if left <= 0:
            break
        if not reservation.is_open or reservation.qty_open <= 0:
            continue
        take = min(left, reservation.qty_open)
        plan.append((reservation, take))
        left -= take
    if left > 0:
        raise TaskStateConflict(
            f"The reservations of task {task.pk} hold less than {qty}; nothing was posted."
        )
    return plan


_RESERVATIONS_SQL: dict = {}


def _reservations(task: PickTask) -> list:
    """The task's reservations (primary-key order) with their status, and the task's
    item and location when they are the reservation's (the posting service reads
    them); one statement built once per process."""
    from inventory.models import InventoryReservation, InventoryStatus

    reservation, status = sql.select(InventoryReservation, "r"), sql.select(InventoryStatus, "s")
    statement = _RESERVATIONS_SQL.get(connection.vendor)
    if statement is None:
        through = PickTask.reservations.through
        statement = _RESERVATIONS_SQL[connection.vendor] = (
            f"SELECT {reservation.sql}, {status.sql} FROM {sql.table(through)} tr "
            f"JOIN {sql.table(InventoryReservation)} r "
            f"ON r.id = tr.{sql.column(through, 'inventoryreservation')} "
            f"JOIN {sql.table(InventoryStatus)} s "
            f"ON s.id = r.{sql.column(InventoryReservation, 'status')} "
            f"WHERE tr.{sql.column(through, 'picktask')} = %s ORDER BY r.id"
        )
    with connection.cursor() as cursor:
        cursor.execute(statement, [sql.db_value(PickTask, "id", task.pk)])
        rows = cursor.fetchall()
    result = []
    for row in rows:
        obj = reservation.instance(row)
        InventoryReservation.status.field.set_cached_value(
            obj, status.instance(row, len(reservation))
        )
        if obj.item_id == task.item_id:
            InventoryReservation.item.field.set_cached_value(obj, task.item)
        if obj.location_id == task.from_location_id:
            InventoryReservation.location.field.set_cached_value(obj, task.from_location)
        result.append(obj)
    return result


def _consume(plan, *, to_location, confirmation_id, actor) -> None:
    from inventory import services as inventory_services

    for reservation, take in plan:
        inventory_services.reservation_consume(
            reservation=reservation,
            qty=take,
            to_location=to_location,
            posting_key=f"pick:{confirmation_id}:{reservation.pk}",
            actor=actor,
        )


def _task_order_id(task_id, warehouse_ids):
    """The task's order if the task is in ``warehouse_ids`` (any warehouse when None)."""
    params = [sql.db_value(PickTask, "id", task_id)]
    statement = f"SELECT {sql.column(PickTask, 'order')} FROM {sql.table(PickTask)} WHERE id = %s"
    if warehouse_ids is not None:
        granted = [int(pk) for pk in warehouse_ids]
        if not granted:
            return None
        statement += (
            f" AND {sql.column(PickTask, 'warehouse')} IN ({', '.join(['%s'] * len(granted))})"
        )
        params += granted
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    return None if row is None else PickTask._meta.get_field("order").to_python(row[0])


_TASK_UPDATE_FIELDS = (
    "status",
    "qty_picked",
    "to_location",
    "started_at",
    "finished_at",
    "updated_at",
)


def _pick_confirmed(task, confirmation, order, actor_label, case) -> dict:
    """The ``pick.confirmed`` event of a confirmation (``outbox_emit``'s arguments)."""
    return {
        "event_type": "pick.confirmed",
        "aggregate_type": PICK_TASK_AGGREGATE,
        "aggregate_id": task.pk,
        "data": {
            "confirmationId": str(confirmation.pk),
            "pickTaskId": str(task.pk),
            "warehouse": order.warehouse.code,
            "orderId": str(task.order_id),
            "externalOrderId": order.external_order_id,
            "storeCode": order.store_code,
            "orderLineId": str(task.order_line_id),
            "lineNumber": task.order_line.line_number,
            "sku": task.item.sku,
            "qtyPicked": format(confirmation.qty_picked, "f"),
            "qtyToPick": format(task.qty_to_pick, "f"),
            "fromLocation": task.from_location.code,
            "toLocation": confirmation.to_location.code,
            "taskStatus": task.status,
            "source": confirmation.source,
            "by": actor_label,
            "correlationId": confirmation.external_correlation_id or confirmation.correlation_id,
            "confirmedAt": confirmation.confirmed_at.isoformat(),
            "exceptionCaseId": case.pk if case is not None else None,
        },
    }


def pick_confirm(
    *,
    task_id,
    qty,
    request_key: str,
    actor=None,
    system=None,
    source: str = ConfirmationSource.MANUAL,
    location_code: str | None = None,
    item_code: str | None = None,
    confirmed_at=None,
    external_correlation_id: str = "",
    exception_type: str | None = None,
    note: str = "",
    warehouse_ids=None,
) -> ConfirmResult:
    """Confirm ``qty`` picked on a task (see the module docstring).

    ``qty`` equal to what is open → DONE; less → SHORT and a SHORT_PICK
    exception (or, with ``exception_type``, EXCEPTION and a case of that type);
    more → ``over_pick`` (422). A closed task → ``task_not_open`` (409). The
    scans, when given, must match the task (``wrong_scan``, 422). Manual
    confirmations need the task assigned to ``actor``; automation ones need it
    dispatched to ``system``. ``warehouse_ids``: the warehouses the caller was
    granted; a task elsewhere is not found (404), as if it did not exist.
    """
    qty = pick_qty(qty)
    if not request_key or len(request_key) > 320:
        raise BusinessValidationError("A confirmation needs a key.", code="key_required")
    fingerprint = _fingerprint(
        task=task_id,
        qty=qty,
        source=source,
        exception=exception_type or "",
        location=(location_code or "").strip(),
        item=(item_code or "").strip(),
    )
    try:
        return _confirm(
            task_id=task_id,
            qty=qty,
            request_key=request_key,
            fingerprint=fingerprint,
            actor=actor,
            system=system,
            source=source,
            location_code=location_code,
            item_code=item_code,
            confirmed_at=confirmed_at,
            external_correlation_id=external_correlation_id,
            exception_type=exception_type,
            note=note,
            warehouse_ids=warehouse_ids,
        )
    except IntegrityError:
        # The same key raced in on another task (the unique key caught it).
        replay = _replay(request_key, fingerprint)
        if replay is None:
            raise
        return replay


@transaction.atomic
def _confirm(
    *,
    task_id,
    qty,
    request_key,
    fingerprint,
    actor,
    system,
    source,
    location_code,
    item_code,
    confirmed_at,
    external_correlation_id,
    exception_type,
    note,
    warehouse_ids,
) -> ConfirmResult:
    from outbound import selectors as outbound_selectors
    from outbound.services import order_line_pick_record, order_pick_lock

    order_id = _task_order_id(task_id, warehouse_ids)
    if order_id is None:
        raise TaskNotFound(_("No such pick task."), extra={"pickTaskId": str(task_id)})
    order = order_pick_lock(order_id=order_id)
    task = locks.pick_task_lock_for_confirm(task_id=task_id)
    if task is None:
        raise TaskNotFound(_("No such pick task."), extra={"pickTaskId": str(task_id)})
    if not task.is_open:
        # Every confirmation closes its task, so a retry of one (or a concurrent
        # duplicate that waited for the locks) finds its task closed, and the
        # first confirmation under its key.
        replay = _replay(request_key, fingerprint)
        if replay is not None:
            return replay
    _check_holder(task, source=source, actor=actor, system=system)
    if location_code is not None:
        check_location_scan(task=task, code=location_code)
    if item_code is not None:
        check_item_scan(task=task, code=item_code)
    open_qty = task.qty_open
    if qty > open_qty:
        raise OverPick(
            _("%(qty)s is more than the %(open)s still open on the task; nothing was posted.")
            % {"qty": qty.normalize(), "open": open_qty.normalize()},
            errors=[
                {
                    "field": "qtyPicked",
                    "code": "over_pick",
                    "message": f"at most {format(open_qty.normalize(), 'f')}",
                }
            ],
            extra={"qtyOpen": format(open_qty, "f")},
        )
    if exception_type is not None and qty >= open_qty:
        raise BusinessValidationError(
            _("Nothing is missing: confirm the pick instead of reporting a problem."),
            code="nothing_missing",
        )
    staging = outbound_selectors.staging_location_for_order(order=order)
    if staging is None:
        raise NoStagingLocation(_("Warehouse has no active staging location; nothing was posted."))
    plan = _consumption_plan(task, qty) if qty > 0 else []
    person = user_or_none(actor)
    actor_label = system.code if system is not None else getattr(actor, "username", "") or ""
    now = timezone.now()
    if exception_type is not None:
        task.status = PickTaskStatus.EXCEPTION
    elif qty == open_qty:
        task.status = PickTaskStatus.DONE
    else:
        task.status = PickTaskStatus.SHORT
    task.qty_picked += qty  # the task row is locked until commit
    task.to_location = staging
    task.started_at = task.started_at or now
    task.finished_at = now
    task.updated_at = now
    confirmation = PickConfirmation(
        pick_task=task,
        warehouse_id=task.warehouse_id,
        request_key=request_key,
        request_fingerprint=fingerprint,
        source=source,
        qty_picked=qty,
        from_location_id=task.from_location_id,
        to_location=staging,
        task_status=task.status,
        actor=person,
        actor_label=actor_label[:150],
        external_correlation_id=(external_correlation_id or "")[:128],
        correlation_id=get_correlation_id(),
        confirmed_at=confirmed_at or now,
        recorded_at=now,
    )
    # The task row (locked above), its history record and the confirmation, in one
    # round trip: the rows simple-history and ``save()`` would write, without
    # compiling three ORM statements. A key already used on another task fails
    # here (unique ``request_key``) and is answered by ``pick_confirm``.
    sql.execute(
        [
            sql.update(task, _TASK_UPDATE_FIELDS),
            (
                history_snapshot_sql(PickTask).format(where="id = %s"),
                [
                    sql.db_value(PickTask, "updated_at", now),
                    "~",
                    f"confirmed {qty} ({source})",
                    person.pk if person is not None else current_history_user_id(),
                    sql.db_value(PickTask, "id", task.pk),
                ],
            ),
            sql.insert(confirmation),
            # pick.confirmed with them when no exception case comes (DONE):
            # still before the posting's reservation.consumed.
            *(
                [outbox_insert(**_pick_confirmed(task, confirmation, order, actor_label, None))]
                if task.status == PickTaskStatus.DONE
                else []
            ),
        ]
    )
    order_line_pick_record(
        order=order,
        line_id=task.order_line_id,
        qty=qty,
        consumed_reservation_ids=[r.pk for r, take in plan if take == r.qty_open],
        actor=person,
    )
    case = None
    if task.status in (PickTaskStatus.SHORT, PickTaskStatus.EXCEPTION):
        case = exception_case_open(
            task=task,
            confirmation=confirmation,
            type=exception_type or ExceptionType.SHORT_PICK,
            qty_expected=open_qty,
            qty_picked=qty,
            note=note,
            actor=person,
            actor_label=actor_label,
        )
        # After exception.opened, naming the case.
        outbox_emit(**_pick_confirmed(task, confirmation, order, actor_label, case))
    # Stock last: the balance rows (shared by every pick of the same item and
    # location, and of the item into staging) stay locked from here to commit,
    # so the rest of the confirmation is written before they are taken.
    _consume(
        plan,
        to_location=staging,
        confirmation_id=confirmation.pk,
        actor=person or (f"system:{system.code}" if system is not None else None),
    )
    return ConfirmResult(confirmation, task, case, False)


def pick_task_report_exception(
    *,
    task_id,
    type: str,
    qty_picked,
    request_key: str,
    picker,
    note: str = "",
    location_code: str | None = None,
) -> ConfirmResult:
    """A picker cannot pick everything (location empty, damaged goods, wrong item):
    what was picked (possibly nothing) is posted, the task goes to EXCEPTION and
    a case of ``type`` is opened for a supervisor. Same key rules as a confirmation."""
    if type not in ExceptionType.values or type == ExceptionType.SHORT_PICK:
        raise BusinessValidationError(_("Choose what is wrong."), code="invalid_exception_type")
    return pick_confirm(
        task_id=task_id,
        qty=qty_picked,
        request_key=request_key,
        actor=picker,
        source=ConfirmationSource.MANUAL,
        location_code=location_code,
        exception_type=type,
        note=note,
    )
