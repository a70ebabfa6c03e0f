"""Pack tasks: the packing work of an order whose picking is over.

A ``PackTask`` is opened (``pack_task_open_if_picked``) in the transaction that
closes the order's last open pick task or resolves its last exception, so an
order becomes packable exactly once, under the order lock. Packers work it on
the handheld pages (scan the order, choose a package type, scan items, close
with the weight), a packing line over the automation API (``pack_confirm``).
Packages and quantities are outbound's (``outbound.services.packing``); this
module decides *when* and *who*, and finishes the task when everything picked
is packed (the order is then PACKED).

Lock order: the order (``order_pack_lock``), then the pack task row.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory.selectors import item_for_scan
from outbound.models import OrderStatus, ReplenishmentOrder
from outbound.services.packing import (
    OrderNotPackable,
    PackedPackage,
    order_line_for_item,
    order_mark_packed,
    order_pack_lock,
    pack_qty,
    package_add,
    package_close,
    package_get,
    package_open,
    package_reopen,
    package_type_for_code,
    packages_confirm,
)
from wms import sql
from wms.exceptions import BusinessValidationError, NotFoundError
from wms.history import history_records

from ..models import OPEN_STATUSES as OPEN_PICK_STATUSES
from ..models import ExceptionCase, ExceptionStatus, PackTask, PackTaskStatus, PickTask
from .tasks import user_or_none


def pack_task_open_if_picked(*, order: ReplenishmentOrder) -> PackTask | None:
    """Open the order's pack task when no pick task and no exception is open any more.

    The caller holds the order lock. Nothing picked (everything shorted): no
    pack task. Idempotent.
    """
    if PickTask.objects.filter(order_id=order.pk, status__in=OPEN_PICK_STATUSES).exists():
        return None
    open_cases = ExceptionCase.objects.filter(
        pick_task__order_id=order.pk, status=ExceptionStatus.OPEN
    )
    if open_cases.exists():
        return None
    if not order.lines.filter(qty_picked__gt=0).exists():
        return None
    task, _created = PackTask.objects.get_or_create(
        order_id=order.pk, defaults={"warehouse_id": order.warehouse_id}
    )
    return task


def pack_tasks_open_if_picked(*, orders: list[ReplenishmentOrder]) -> None:
    """``pack_task_open_if_picked`` for the orders of a batch of picks (the caller
    holds them locked): the same rules, read in three statements for the batch;
    the pack task created for each order that is packable now."""
    ids = [order.pk for order in orders]
    if not ids:
        return
    still_picking = set(
        PickTask.objects.filter(order_id__in=ids, status__in=OPEN_PICK_STATUSES).values_list(
            "order_id", flat=True
        )
    )
    with_cases = set(
        ExceptionCase.objects.filter(
            pick_task__order_id__in=ids, status=ExceptionStatus.OPEN
        ).values_list("pick_task__order_id", flat=True)
    )
    candidates = [o for o in orders if o.pk not in still_picking and o.pk not in with_cases]
    if not candidates:
        return
    picked = set(
        ReplenishmentOrder.objects.filter(
            pk__in=[o.pk for o in candidates], lines__qty_picked__gt=0
        ).values_list("pk", flat=True)
    )
    ready = [o for o in candidates if o.pk in picked]
    if not ready:
        return
    # The orders are locked by the caller: no one else opens their pack task now.
    existing = set(
        PackTask.objects.filter(order_id__in=[o.pk for o in ready]).values_list(
            "order_id", flat=True
        )
    )
    new = [
        PackTask(order_id=o.pk, warehouse_id=o.warehouse_id) for o in ready if o.pk not in existing
    ]
    if new:
        sql.execute(
            [
                sql.bulk_insert_statement(new),
                history_records(PackTask, [t.pk for t in new], history_type="+"),
            ]
        )


def _pack_task_lock(order_id) -> tuple[ReplenishmentOrder, PackTask]:
    order = order_pack_lock(order_id=order_id)
    task = PackTask.objects.select_for_update().filter(order_id=order.pk).first()
    if task is None or task.status == PackTaskStatus.CANCELLED:
        raise OrderNotPackable(
            _("Order %(order)s is not ready for packing (picking is not over).")
            % {"order": order.external_order_id}
        )
    return order, task


def _start(task: PackTask, actor) -> None:
    if task.status == PackTaskStatus.OPEN:
        task.status = PackTaskStatus.IN_PROGRESS
        task.started_at = timezone.now()
        task.assigned_to = user_or_none(actor)
        task.save(update_fields=["status", "started_at", "assigned_to"])


def _finish_if_packed(order, task: PackTask, actor) -> bool:
    if order_mark_packed(order=order, actor=actor):
        if task.status != PackTaskStatus.DONE:
            task.status = PackTaskStatus.DONE
            task.finished_at = timezone.now()
            task.save(update_fields=["status", "finished_at"])
        return True
    return False


def order_for_pack_scan(*, warehouse, code: str) -> ReplenishmentOrder:
    """The order a packer scanned: its external order id (or id) with a pack task."""
    code = (code or "").strip()
    queryset = ReplenishmentOrder.objects.filter(
        warehouse=warehouse, pack_task__isnull=False
    ).select_related("warehouse", "pack_task")
    order = queryset.filter(external_order_id=code).order_by("-accepted_at").first()
    if order is None:
        try:
            order = queryset.filter(pk=code).first()
        except Exception:  # not a UUID
            order = None
    if order is None:
        raise NotFoundError(
            _("No order %(code)s is waiting to be packed.") % {"code": code},
            code="order_not_packable",
        )
    return order


@transaction.atomic
def pack_scan_item(
    *, order_id, package_type_code: str, item_code: str, qty, entry_key: str, actor=None
):
    """The packer scanned an item (and a quantity): into the order's open package."""
    order, task = _pack_task_lock(order_id)
    qty = pack_qty(qty)
    item = item_for_scan(warehouse=order.warehouse, code=item_code)
    if item is None:
        raise BusinessValidationError(
            _("Unknown item %(code)s; nothing was packed.") % {"code": item_code},
            code="item_not_on_order",
        )
    line = order_line_for_item(order=order, item_id=item.pk)
    package = package_open(
        order=order, package_type=package_type_for_code(package_type_code), actor=actor
    )
    _start(task, actor)
    entry, replayed = package_add(
        package=package, line=line, qty=qty, entry_key=entry_key, actor=actor
    )
    return package, entry, replayed


@transaction.atomic
def pack_close_package(*, package_id, weight_kg, actor=None):
    """Close a package with its weight; the order is PACKED when nothing is left."""
    package = package_get(package_id=package_id)
    order, task = _pack_task_lock(package.order_id)
    package = package_get(package_id=package_id)
    package_close(package=package, weight_kg=weight_kg, actor=actor)
    packed = _finish_if_packed(order, task, actor)
    return package, packed


@transaction.atomic
def pack_reopen_package(*, package_id, actor=None):
    package = package_get(package_id=package_id)
    _order, task = _pack_task_lock(package.order_id)
    package_reopen(package=package_get(package_id=package_id), actor=actor)
    if task.status == PackTaskStatus.DONE:
        task.status = PackTaskStatus.IN_PROGRESS
        task.finished_at = None
        task.save(update_fields=["status", "finished_at"])
    return package_get(package_id=package_id)


@transaction.atomic
def pack_confirm(*, order_id, packages: list[PackedPackage], key: str, actor=None):
    """A packing line's confirmation: whole packages, each closed with its weight.

    All or nothing: a package that would over-pack refuses the whole request.
    Quantities are in the order line's unit (as the store ordered). The task goes
    from open to done in one step when the order is packed (one history record).
    """
    order, task = _pack_task_lock(order_id)
    if order.status != OrderStatus.PICKING:
        raise OrderNotPackable(_("The order has nothing left to pack."))
    created, packed = packages_confirm(order=order, packages=packages, key=key, actor=actor)
    _task_record(task, packed=packed, actor=actor)
    return order, created


def _task_record(task: PackTask, *, packed: bool, actor) -> None:
    """The task started (if it was open) and, when the order is packed, done: one UPDATE
    and its history record in one round trip (``_start`` and ``_finish_if_packed`` as
    one step)."""
    now, changed = timezone.now(), []
    if task.status == PackTaskStatus.OPEN:
        task.status, task.started_at, task.assigned_to = (
            PackTaskStatus.IN_PROGRESS, now, user_or_none(actor)
        )  # fmt: skip
        changed += ["status", "started_at", "assigned_to"]
    if packed and task.status != PackTaskStatus.DONE:
        task.status, task.finished_at = PackTaskStatus.DONE, now
        changed += ["status", "finished_at"]
    if changed:
        sql.execute(
            [
                sql.update(task, list(dict.fromkeys(changed))),
                history_records(PackTask, [task.pk], history_type="~", change_reason="packed"),
            ]
        )
