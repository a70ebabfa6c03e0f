"""Pick confirmations, manual (handheld) and automation (API): exactly one effect each.

``pick_confirm`` runs one transaction (``_confirm``), in the lock order:

1. lock the task's order (outbound, which reads the task's order line with
   it), then the task (with its reservation ids); a closed task whose key
   already confirmed is a replay;
2. read what the task picks (inventory: its item, source location and
   reservations);
3. check that the caller holds the task, that the scans match and that the
   quantity fits;
4. close the task (DONE, or SHORT / EXCEPTION) and record the confirmation
   (with ``pick.confirmed`` when DONE);
5. record the pick on the order line (outbound);
6. open the exception case of a SHORT / EXCEPTION task (``exception.opened``,
   then ``pick.confirmed`` naming it);
7. last, consume the task's reservations into the order's staging location
   through the posting service (keys ``pick:<confirmation id>:<reservation
   id>``). Stock goes last because its balance rows are the most shared:
   every pick of an item at a location, and of that item into staging, meets
   there; taking them last keeps them locked for the shortest time.

Any refusal rolls everything back.

``pick_confirm_many`` confirms a batch (a handheld's synced queue) with the
same rules and rows, in the same lock order, each lock taken once for the
batch: every confirmation is checked in order on the locked rows, then the
batch is written set-based, its stock through ``reservations_consume`` (the
posting service's batch form).

Exactly once: the caller's key (``request_key``) is unique on
``PickConfirmation``. Every confirmation closes its task, so a retry or a
concurrent duplicate (which waited for the locks) finds the task closed and,
under its key, the first confirmation: it changes nothing (``replayed``). A
key reused with other content is refused (``confirmation_key_reused``, also
when the unique constraint is what catches it); a second confirmation under
a new key finds the task closed (``task_not_open``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from outbound import selectors as outbound_selectors
from outbound.services.picking import (
    LinePick,
    order_line_pick_lock,
    order_line_pick_record,
    order_lines_pick_record_many,
    orders_pick_lock,
)
from wms import metrics, sql
from wms.correlation import get_correlation_id
from wms.exceptions import BusinessValidationError, DomainError
from wms.history import current_history_user_id, history_records, history_snapshot_sql
from wms.outbox import outbox_emit, outbox_insert, outbox_row, outbox_rows_insert
from wms.quantities import qty_text

from .. import locks, queries
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
from .packing import pack_task_open_if_picked, pack_tasks_open_if_picked
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
    started = time.perf_counter()
    request = _pick_request(
        task_id=task_id,
        qty=qty,
        request_key=request_key,
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
    try:
        result = _confirm(request)
    except IntegrityError:
        # The same key raced in on another task (the unique key caught it).
        replay = _replay(request.request_key, request.fingerprint)
        if replay is None:
            raise
        return replay
    metrics.pick_confirmed(result=result, source=str(source), started=started)
    return result


def _pick_request(
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
    check=None,
) -> _PickRequest:
    """``pick_confirm``'s arguments checked (quantity, key) and fingerprinted."""
    qty = pick_qty(qty)
    if not request_key or len(request_key) > 320:
        raise BusinessValidationError("A confirmation needs a key.", code="key_required")
    return _PickRequest(
        task_id=task_id,
        qty=qty,
        request_key=request_key,
        fingerprint=_fingerprint(
            task=task_id,
            qty=qty,
            source=source,
            exception=exception_type or "",
            location=(location_code or "").strip(),
            item=(item_code or "").strip(),
        ),
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
        check=check,
    )


@dataclass(frozen=True)
class _PickRequest:
    """What a confirmation asks for (``pick_confirm``'s arguments, the quantity checked)."""

    task_id: object
    qty: Decimal
    request_key: str
    fingerprint: str
    actor: object
    system: object
    source: str
    location_code: str | None
    item_code: str | None
    confirmed_at: object
    external_correlation_id: str
    exception_type: str | None
    note: str
    warehouse_ids: object
    #: The caller's own rule on the task before it closes (the handheld's
    #: confirm-or-short): called with (task, open quantity, quantity), raises to
    #: refuse.
    check: object = None

    @property
    def person(self):
        """The user who confirms, if a person does (automation: None)."""
        return user_or_none(self.actor)

    @property
    def actor_label(self) -> str:
        if self.system is not None:
            return self.system.code
        return getattr(self.actor, "username", "") or ""

    @property
    def posting_actor(self):
        """Who the stock postings name: the person, else the system."""
        if self.person is not None:
            return self.person
        return f"system:{self.system.code}" if self.system is not None else None


@transaction.atomic
def _confirm(request: _PickRequest) -> ConfirmResult:
    """The confirmation's one transaction, in the lock order: the order, the task,
    last the stock (module docstring)."""
    order, task, reservation_ids = _lock(request)
    if not task.is_open:
        # Every confirmation closes its task, so a retry of one (or a concurrent
        # duplicate that waited for the locks) finds its task closed, and the
        # first confirmation under its key.
        replay = _replay(request.request_key, request.fingerprint)
        if replay is not None:
            return replay
    reservations = _with_stock(task, reservation_ids)
    open_qty = task.qty_open
    _check(task, request, open_qty)
    staging = outbound_selectors.staging_location_for_order(order=order)
    if staging is None:
        raise NoStagingLocation(_("Warehouse has no active staging location; nothing was posted."))
    plan = _consumption_plan(task, reservations, request.qty) if request.qty > 0 else []
    confirmation = _task_close(task, request, order=order, staging=staging)
    order_line_pick_record(
        order=order,
        line_id=task.order_line_id,
        qty=request.qty,
        consumed_reservation_ids=[r.pk for r, take in plan if take == r.qty_open],
        actor=request.person,
    )
    case = None
    if task.status in (PickTaskStatus.SHORT, PickTaskStatus.EXCEPTION):
        case = _exception_open(task, confirmation, request, order=order, qty_expected=open_qty)
    else:
        # The order's last pick closed: it is packable now (in this transaction).
        pack_task_open_if_picked(order=order)
    # Stock last: the balance rows (shared by every pick of the same item and
    # location, and of the item into staging) stay locked from here to commit,
    # so the rest of the confirmation is written before they are taken.
    _consume(
        plan,
        to_location=staging,
        confirmation_id=confirmation.pk,
        actor=request.posting_actor,
    )
    return ConfirmResult(confirmation, task, case, False)


def _lock(request: _PickRequest) -> tuple:
    """Lock the task's order (outbound, with the task's order line), then the task:
    the order, the task (its line cached) and its reservation ids."""
    found = _task_order_and_line(request.task_id, request.warehouse_ids)
    if found is None:
        raise TaskNotFound(_("No such pick task."), extra={"pickTaskId": str(request.task_id)})
    order_id, line_id = found
    order, line = order_line_pick_lock(order_id=order_id, line_id=line_id)
    locked = locks.pick_task_lock_for_confirm(task_id=request.task_id)
    if locked is None:
        raise TaskNotFound(_("No such pick task."), extra={"pickTaskId": str(request.task_id)})
    task, reservation_ids = locked
    PickTask.order_line.field.set_cached_value(task, line)
    return order, task, reservation_ids


def _task_order_and_line(task_id, warehouse_ids):
    """(order id, order line id) of the task if it is in ``warehouse_ids`` (any
    warehouse when None), else None."""
    params = [sql.db_value(PickTask, "id", task_id)]
    statement = queries.TASK_ORDER_AND_LINE
    if warehouse_ids is not None:
        granted = [int(pk) for pk in warehouse_ids]
        if not granted:
            return None
        statement = queries.TASK_ORDER_AND_LINE_IN_WAREHOUSES
        params.append(granted)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    if row is None:
        return None
    order_key = PickTask._meta.get_field("order").to_python(row[0])
    return order_key, PickTask._meta.get_field("order_line").to_python(row[1])


def _with_stock(task: PickTask, reservation_ids) -> list:
    """Read what the task picks (inventory): its item (base unit, warehouse) and
    source location go on the task, its reservations (oldest first, with their
    status) come back for the posting service."""
    stock = inventory_selectors.stock_for_pick(
        item_id=task.item_id, location_id=task.from_location_id, reservation_ids=reservation_ids
    )
    if stock is None:
        raise TaskNotFound(_("No such pick task."), extra={"pickTaskId": str(task.pk)})
    PickTask.item.field.set_cached_value(task, stock.item)
    PickTask.from_location.field.set_cached_value(task, stock.location)
    if task.warehouse_id == stock.item.warehouse_id:
        PickTask.warehouse.field.set_cached_value(task, stock.item.warehouse)
    return stock.reservations


def _check(task: PickTask, request: _PickRequest, open_qty: Decimal) -> None:
    """Refuse (nothing changes) a confirmation the caller may not make or that does
    not fit the task: who holds it, the scans, the quantity."""
    _check_holder(task, source=request.source, actor=request.actor, system=request.system)
    if request.location_code is not None:
        check_location_scan(task=task, code=request.location_code)
    if request.item_code is not None:
        check_item_scan(task=task, code=request.item_code)
    qty = request.qty
    if qty > open_qty:
        raise OverPick(
            _("%(qty)s is more than the %(open)s still open on the task; nothing was posted.")
            % {"qty": qty_text(qty), "open": qty_text(open_qty)},
            errors=[
                {
                    "field": "qtyPicked",
                    "code": "over_pick",
                    "message": f"at most {qty_text(open_qty)}",
                }
            ],
            extra={"qtyOpen": format(open_qty, "f")},
        )
    if request.exception_type is not None and qty >= open_qty:
        raise BusinessValidationError(
            _("Nothing is missing: confirm the pick instead of reporting a problem."),
            code="nothing_missing",
        )
    if request.check is not None:
        request.check(task, open_qty, qty)


def _consumption_plan(task: PickTask, reservations: list, qty: Decimal) -> list[tuple]:
    """Which open ``reservations`` of the task give ``qty``, oldest first:
    (reservation, take).

    Read without a lock: the posting service locks and re-checks each one, so a
    reservation changed meanwhile makes the posting (and the confirmation) fail.
    """
    plan = []
    left = qty
    for reservation in reservations:
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


_TASK_UPDATE_FIELDS = (
    "status",
    "qty_picked",
    "to_location",
    "started_at",
    "finished_at",
    "updated_at",
)


def _task_close(task: PickTask, request: _PickRequest, *, order, staging) -> PickConfirmation:
    """Close the task (DONE, SHORT or EXCEPTION) and record the confirmation.

    The task row (locked), its history record and the confirmation go in one
    round trip: the rows simple-history and ``save()`` would write, without
    compiling three ORM statements; with them ``pick.confirmed`` when no
    exception case comes (DONE), still before the posting's
    ``reservation.consumed``. A key already used on another task fails here
    (unique ``request_key``) and is answered by ``pick_confirm``.
    """
    _task_mark_closed(task, request, staging=staging)
    confirmation, statements = _task_close_statements(task, request, order=order, staging=staging)
    sql.execute(statements)
    return confirmation


def _task_mark_closed(task: PickTask, request: _PickRequest, *, staging) -> None:
    """The task's new state, on the (locked) instance: DONE, SHORT or EXCEPTION."""
    qty, now = request.qty, timezone.now()
    if request.exception_type is not None:
        task.status = PickTaskStatus.EXCEPTION
    elif qty == task.qty_open:
        task.status = PickTaskStatus.DONE
    else:
        task.status = PickTaskStatus.SHORT
    task.qty_picked += qty  # the task row is locked until commit
    task.to_location = staging
    task.started_at = task.started_at or now
    task.finished_at = now
    task.updated_at = now


def _task_close_statements(task: PickTask, request: _PickRequest, *, order, staging) -> tuple:
    """The confirmation (unsaved) and the statements of ``_task_close`` for a task
    whose new state is set on the instance."""
    qty, now = request.qty, task.updated_at
    confirmation = _confirmation_new(task, request, staging=staging, now=now)
    person = request.person
    statements = [
        sql.update(task, _TASK_UPDATE_FIELDS),
        (
            history_snapshot_sql(PickTask).format(where="id = %s"),
            [
                sql.db_value(PickTask, "updated_at", now),
                "~",
                f"confirmed {qty} ({request.source})",
                person.pk if person is not None else current_history_user_id(),
                sql.db_value(PickTask, "id", task.pk),
            ],
        ),
        sql.insert(confirmation),
    ]
    if task.status == PickTaskStatus.DONE:
        statements.append(
            outbox_insert(**_pick_confirmed(task, confirmation, order, request, None))
        )
    return confirmation, statements


def _confirmation_new(task: PickTask, request: _PickRequest, *, staging, now) -> PickConfirmation:
    """The confirmation row of a task just closed (unsaved)."""
    return PickConfirmation(
        pick_task=task,
        warehouse_id=task.warehouse_id,
        request_key=request.request_key,
        request_fingerprint=request.fingerprint,
        source=request.source,
        qty_picked=request.qty,
        from_location_id=task.from_location_id,
        to_location=staging,
        task_status=task.status,
        actor=request.person,
        actor_label=request.actor_label[:150],
        external_correlation_id=(request.external_correlation_id or "")[:128],
        correlation_id=get_correlation_id(),
        confirmed_at=request.confirmed_at or now,
        recorded_at=now,
    )


def _exception_open(
    task: PickTask, confirmation, request: _PickRequest, *, order, qty_expected: Decimal
) -> ExceptionCase:
    """A SHORT or EXCEPTION task opens its case (``exception.opened``), then
    ``pick.confirmed`` names the case."""
    case = exception_case_open(
        task=task,
        confirmation=confirmation,
        type=request.exception_type or ExceptionType.SHORT_PICK,
        qty_expected=qty_expected,
        qty_picked=request.qty,
        note=request.note,
        actor=request.person,
        actor_label=request.actor_label,
    )
    outbox_emit(**_pick_confirmed(task, confirmation, order, request, case))
    return case


def _consume(plan, *, to_location, confirmation_id, actor) -> None:
    """Consume the planned reservations into ``to_location`` (the posting service),
    one posting per reservation under ``pick:<confirmation id>:<reservation id>``."""
    for reservation, take in plan:
        inventory_services.reservation_consume(
            reservation=reservation,
            qty=take,
            to_location=to_location,
            posting_key=f"pick:{confirmation_id}:{reservation.pk}",
            actor=actor,
        )


def _pick_confirmed(task, confirmation, order, request: _PickRequest, case) -> dict:
    """The ``pick.confirmed`` event of a confirmation (``outbox_emit``'s arguments)."""
    return {
        "event_type": "pick.confirmed",
        "aggregate_type": PICK_TASK_AGGREGATE,
        "aggregate_id": task.pk,
        "data": {
            "confirmationId": str(confirmation.pk),
            "pickTaskId": str(task.pk),
            "warehouse": task.warehouse.code,
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
            "by": request.actor_label,
            "correlationId": confirmation.external_correlation_id or confirmation.correlation_id,
            "confirmedAt": confirmation.confirmed_at.isoformat(),
            "exceptionCaseId": case.pk if case is not None else None,
        },
    }


# --- a batch of confirmations (a handheld's synced queue) ---------------------------


@transaction.atomic
def pick_confirm_many(requests: list[dict]) -> list:
    """``pick_confirm`` for a batch, in order: each item of ``requests`` holds
    ``pick_confirm``'s keyword arguments (and ``check``: a caller's rule on the
    task before it closes, called with the task and its open quantity). Each
    comes back on its own: its ``ConfirmResult``, or the ``DomainError`` that
    refused it (and then nothing of it was written).

    The same rules and rows as one ``pick_confirm`` per item, in the same lock
    order, with each lock taken once for the batch: the orders (primary-key
    order, outbound), the tasks (primary-key order), the stock (balances, then
    reservations, in the posting service: ``reservations_consume``). Everything
    is checked on the locked rows first, each item seeing what the items before
    it did; then the batch is written in a few round trips. A refusal that only
    the posting service sees (a reservation expired meanwhile) drops that item
    and checks the batch again, so the items after it never count on it.
    """
    started = time.perf_counter()
    outcomes: list = [None] * len(requests)
    built: dict[int, _PickRequest] = {}
    for n, kwargs in enumerate(requests):
        try:
            built[n] = _pick_request(**kwargs)
        except DomainError as exc:
            outcomes[n] = exc
    if not built:
        return outcomes
    where = _tasks_order_and_line([r.task_id for r in built.values()])
    for n, request in list(built.items()):
        found = where.get(_task_key(request.task_id))
        granted = request.warehouse_ids
        if found is None or (granted is not None and found[2] not in {int(pk) for pk in granted}):
            outcomes[n] = TaskNotFound(
                _("No such pick task."), extra={"pickTaskId": str(request.task_id)}
            )
            del built[n]
    if not built:
        return outcomes
    orders, lines = orders_pick_lock(
        order_ids={where[_task_key(r.task_id)][0] for r in built.values()},
        line_ids={where[_task_key(r.task_id)][1] for r in built.values()},
    )
    locked = locks.pick_tasks_lock_for_confirm(task_ids=[r.task_id for r in built.values()])
    earlier = {
        c.request_key: c
        for c in PickConfirmation.objects.select_related("pick_task").filter(
            request_key__in=[r.request_key for r in built.values()]
        )
    }
    dropped: dict[int, DomainError] = {}
    while True:
        batch = _batch_plan(built, dropped, locked, orders, lines, earlier)
        try:
            # Stock first here (unlike ``_confirm``): the posting service's checks
            # must pass before anything is written, the same locks are held either
            # way until commit.
            inventory_services.reservations_consume(
                [c for item in batch.applied for c in item.consumes]
            )
        except DomainError as exc:
            n = batch.owner_of(getattr(exc, "posting_key", None))
            if n is None:
                raise
            dropped[n] = exc
            continue
        break
    outcomes_of = {**batch.refused, **dropped}
    for n, exc in outcomes_of.items():
        outcomes[n] = exc
    for n, result in batch.replayed.items():
        outcomes[n] = result
    _batch_write(batch)
    for item in batch.applied:
        result = ConfirmResult(item.confirmation, item.task, item.case, False)
        outcomes[item.n] = result
        metrics.pick_confirmed(result=result, source=str(item.request.source), started=started)
    return outcomes


@dataclass
class _BatchItem:
    """One confirmation of a batch that passed its checks: what it writes."""

    n: int
    request: _PickRequest
    task: PickTask
    order: object
    open_qty: Decimal
    plan: list
    staging: object
    confirmation: PickConfirmation
    consumed_ids: tuple = ()
    consumes: list = field(default_factory=list)
    case: ExceptionCase | None = None


@dataclass
class _Batch:
    applied: list[_BatchItem]
    refused: dict
    replayed: dict

    def owner_of(self, posting_key) -> int | None:
        for item in self.applied:
            if any(c.posting_key == posting_key for c in item.consumes):
                return item.n
        return None


def _task_key(task_id) -> str:
    """A task id as the database spells it ("" for text that is no task id)."""
    try:
        return str(sql.db_value(PickTask, "id", task_id))
    except ValidationError:
        return ""


def _tasks_order_and_line(task_ids) -> dict:
    """task id (``_task_key``) → (order id, order line id, warehouse id), the ones
    that exist."""
    ids = list({key for key in map(_task_key, task_ids) if key})
    with connection.cursor() as cursor:
        cursor.execute(queries.TASKS_ORDER_AND_LINE, [ids])
        rows = cursor.fetchall()
    return {str(row[0]): (row[1], row[2], row[3]) for row in rows}


def _batch_plan(built, dropped, locked, orders, lines, earlier) -> _Batch:
    """Check every confirmation of the batch in order on the locked rows (fresh
    copies: a second pass must not see the first's changes), as ``_confirm`` does
    one; what each writes, or why it is refused."""
    tasks = {pk: (copy.copy(task), ids) for pk, (task, ids) in locked.items()}
    stocks = inventory_selectors.stock_for_picks(
        picks=[(t.item_id, t.from_location_id, ids) for t, ids in tasks.values()]
    )
    stock_of = dict(zip(tasks.keys(), stocks, strict=True))
    batch = _Batch(applied=[], refused={}, replayed={})
    for n, request in built.items():
        if n in dropped:
            continue
        task_key = sql.db_value(PickTask, "id", request.task_id)
        try:
            found = tasks.get(task_key)
            order = orders.get(found[0].order_id) if found is not None else None
            if found is None or order is None:
                raise TaskNotFound(
                    _("No such pick task."), extra={"pickTaskId": str(request.task_id)}
                )
            task, _ids = found
            line = lines.get(task.order_line_id)
            if line is None:
                raise TaskNotFound(
                    _("No such pick task."), extra={"pickTaskId": str(request.task_id)}
                )
            PickTask.order_line.field.set_cached_value(task, line)
            stock = stock_of.get(task_key)
            if stock is None:
                raise TaskNotFound(_("No such pick task."), extra={"pickTaskId": str(task.pk)})
            PickTask.item.field.set_cached_value(task, stock.item)
            PickTask.from_location.field.set_cached_value(task, stock.location)
            if task.warehouse_id == stock.item.warehouse_id:
                PickTask.warehouse.field.set_cached_value(task, stock.item.warehouse)
            first = earlier.get(request.request_key)
            if first is not None and (not task.is_open or first.pick_task_id != task.pk):
                # Confirmed before under this key (here: the task closed; elsewhere:
                # the unique key would refuse it), as ``_replay`` answers.
                if first.request_fingerprint != request.fingerprint:
                    raise ConfirmationKeyReused(
                        _("This form or key already confirmed another pick; nothing was changed."),
                    )
                case = ExceptionCase.objects.filter(confirmation=first).first()
                batch.replayed[n] = ConfirmResult(first, first.pick_task, case, True)
                continue
            open_qty = task.qty_open
            _check(task, request, open_qty)
            staging = outbound_selectors.staging_location_for_order(order=order)
            if staging is None:
                raise NoStagingLocation(
                    _("Warehouse has no active staging location; nothing was posted.")
                )
            plan = (
                _consumption_plan(task, stock.reservations, request.qty) if request.qty > 0 else []
            )
        except DomainError as exc:
            batch.refused[n] = exc
            continue
        _task_mark_closed(task, request, staging=staging)
        confirmation = _confirmation_new(task, request, staging=staging, now=task.updated_at)
        consumed_ids = tuple(r.pk for r, take in plan if take == r.qty_open)
        for reservation, take in plan:
            reservation.qty_consumed += take  # what the next items see of it
        batch.applied.append(
            _BatchItem(
                n=n,
                request=request,
                task=task,
                order=order,
                open_qty=open_qty,
                plan=plan,
                staging=staging,
                confirmation=confirmation,
                consumed_ids=consumed_ids,
                consumes=[
                    inventory_services.Consume(
                        reservation=reservation,
                        qty=take,
                        to_location=staging,
                        posting_key=f"pick:{confirmation.pk}:{reservation.pk}",
                        actor=request.posting_actor,
                    )
                    for reservation, take in plan
                ],
            )
        )
    return batch


def _batch_task_statements(items: list[_BatchItem]) -> list:
    """``_task_close``'s rows for a batch, set-based: the tasks' UPDATE, their
    history records (one statement per change reason and person), the
    confirmations, ``pick.confirmed`` of the DONE ones."""
    tasks = [item.task for item in items]

    def column(name):
        return [sql.db_value(PickTask, name, getattr(task, name)) for task in tasks]

    statements = [
        (
            queries.TASKS_CLOSE,
            [
                column("id"),
                column("status"),
                column("qty_picked"),
                [task.to_location_id for task in tasks],
                column("started_at"),
                column("finished_at"),
                column("updated_at"),
            ],
        )
    ]
    histories: dict = {}
    for item in items:
        person = item.request.person
        reason = f"confirmed {item.request.qty} ({item.request.source})"
        user_id = person.pk if person is not None else current_history_user_id()
        histories.setdefault((reason, user_id), []).append(item.task.pk)
    for (reason, user_id), pks in histories.items():
        statements.append(
            history_records(PickTask, pks, history_type="~", change_reason=reason, user_id=user_id)
        )
    confirmations = [item.confirmation for item in items]
    statements.append(sql.bulk_insert_statement(confirmations))
    events = [
        outbox_row(**_pick_confirmed(item.task, item.confirmation, item.order, item.request, None))
        for item in items
        if item.task.status == PickTaskStatus.DONE
    ]
    if events:
        statements.append(outbox_rows_insert(events))
    return statements


def _batch_write(batch: _Batch) -> None:
    """What the checked confirmations write besides stock, as ``_confirm`` does for
    one: the tasks, their history, the confirmations and ``pick.confirmed`` (one
    round trip), the order lines (outbound, one round trip), then the exception
    cases of SHORT / EXCEPTION tasks and the pack tasks of orders fully picked."""
    if not batch.applied:
        return
    sql.execute(_batch_task_statements(batch.applied))
    order_lines_pick_record_many(
        picks=[
            LinePick(
                order=item.order,
                line_id=item.task.order_line_id,
                qty=item.request.qty,
                consumed_reservation_ids=item.consumed_ids,
                actor=item.request.person,
            )
            for item in batch.applied
        ]
    )
    packable = {}
    for item in batch.applied:
        if item.task.status in (PickTaskStatus.SHORT, PickTaskStatus.EXCEPTION):
            item.case = _exception_open(
                item.task,
                item.confirmation,
                item.request,
                order=item.order,
                qty_expected=item.open_qty,
            )
        else:
            packable[item.order.pk] = item.order
    # An order whose last pick closed is packable now (in this transaction).
    pack_tasks_open_if_picked(orders=list(packable.values()))


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
