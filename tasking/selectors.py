"""Reads of the tasking context, always scoped by warehouse (``wms.scoping``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet, prefetch_related_objects

from inventory.models import Zone
from outbound import selectors as outbound_selectors
from outbound.models import OrderStatus, PackageStatus, PackageType
from outbound.services.packing import PACKABLE_STATUSES, order_packages_summary
from wms.exceptions import NotFoundError
from wms.scoping import scope_by_warehouse, warehouses_visible_to

from . import queries
from .models import (
    ExceptionCase,
    ExceptionStatus,
    PackTask,
    PackTaskStatus,
    PickTask,
    PickTaskStatus,
    WorkMode,
)

IN_HAND = (PickTaskStatus.ASSIGNED, PickTaskStatus.IN_PROGRESS)


def _task_queryset() -> QuerySet:
    return PickTask.objects.select_related(
        "warehouse", "item__base_uom", "from_location", "to_location", "zone", "order"
    )


def picking_warehouses(*, actor) -> QuerySet:
    return warehouses_visible_to(actor).order_by("code")


def picking_zones(*, warehouse) -> QuerySet:
    return Zone.objects.filter(warehouse=warehouse).order_by("code")


def pick_task_get(*, actor, task_id) -> PickTask:
    """A task the actor may see; ``NotFoundError`` otherwise (also for other warehouses)."""
    task = scope_by_warehouse(_task_queryset(), actor).filter(pk=task_id).first()
    if task is None:
        raise NotFoundError("No such pick task.", code="pick_task_not_found")
    return task


def pick_task_order_id(*, actor, task_id):
    """The order of the task if it is in a warehouse the actor may see, else None
    (one indexed read)."""
    system = getattr(actor, "system", None)
    qs = PickTask.objects.filter(pk=task_id).order_by()
    if system is not None:
        qs = qs.filter(warehouse_id__in=list(actor.warehouse_ids))
    else:
        qs = scope_by_warehouse(qs, actor)
    return qs.values_list("order_id", flat=True).first()


def pick_tasks_in_hand(*, picker, warehouse=None) -> QuerySet:
    """The picker's assigned or started tasks, oldest assignment first."""
    qs = _task_queryset().filter(assigned_to=picker, status__in=IN_HAND)
    if warehouse is not None:
        qs = qs.filter(warehouse=warehouse)
    return qs.order_by("assigned_at", "id")


def pick_queue(*, warehouse, zone=None) -> QuerySet:
    """The pickers' work queue of a warehouse (optionally one zone), best first.

    The same order and filter as the "next task" claim, served by the partial
    indexes ``pick_task_manual_queue_idx`` / ``pick_task_zone_queue_idx``.
    """
    qs = _task_queryset().filter(
        warehouse=warehouse, status=PickTaskStatus.RELEASED, work_mode=WorkMode.MANUAL
    )
    if zone is not None:
        qs = qs.filter(zone=zone)
    return qs.order_by("priority", "pick_sequence", "id")


#: The queue page counts waiting tasks per zone up to this many ("500+").
QUEUE_COUNT_CAP = 500


def pick_queue_counts(*, warehouse, cap: int = QUEUE_COUNT_CAP) -> dict:
    """zone id (None: tasks without a zone) → released manual tasks waiting, at most
    ``cap`` each; zones with none waiting are left out.

    One statement (``queries.PICK_QUEUE_COUNTS``): per zone a count over at most
    ``cap`` entries of the partial index ``pick_task_zone_queue_idx``, so the page
    costs the same with a hundred or a hundred thousand tasks waiting.
    """
    with connection.cursor() as cursor:
        cursor.execute(queries.PICK_QUEUE_COUNTS, {"warehouse": warehouse.pk, "cap": cap})
        return {zone_id: n for zone_id, n in cursor.fetchall() if n}


def automation_pick_tasks(*, system, status: str | None = None) -> QuerySet:
    """Tasks dispatched to an automation system (the pull API), in the warehouses it
    was granted; oldest first."""
    qs = (
        _task_queryset()
        .select_related("order_line")
        .filter(dispatch_target=system.code, warehouse_id__in=system.warehouses.values("pk"))
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def pick_task_list(*, actor, status: str | None = None, warehouse_code: str | None = None):
    qs = scope_by_warehouse(_task_queryset().select_related("order_line"), actor)
    if status:
        qs = qs.filter(status=status)
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    return qs


def exception_cases_open(*, actor) -> QuerySet:
    return scope_by_warehouse(
        ExceptionCase.objects.select_related("pick_task", "location", "item"), actor
    ).filter(status=ExceptionStatus.OPEN)


# --- Packing (the handheld pack pages) ------------------------------------------


@dataclass(frozen=True)
class PackLine:
    """One order line as the packer sees it (base units)."""

    line_number: int
    sku: str
    description: str
    uom: str
    picked: Decimal
    packed: Decimal

    @property
    def left(self) -> Decimal:
        return self.picked - self.packed


@dataclass(frozen=True)
class PackPackage:
    package: object  # outbound.Package
    contents: list[dict]  # {"sku", "line_number", "qty"} per order line in it


@dataclass(frozen=True)
class PackOrderView:
    """What the order pack page shows: lines left to pack, the open package, the others."""

    order: object  # outbound.ReplenishmentOrder
    task: PackTask | None
    lines: list[PackLine]
    open_package: PackPackage | None
    closed_packages: list[PackPackage]  # closed or shipped, oldest first

    @property
    def packable(self) -> bool:
        """Scans, closes and reopens are offered (the order is picked or packed)."""
        task_live = self.task is not None and self.task.status != PackTaskStatus.CANCELLED
        return task_live and self.order.status in PACKABLE_STATUSES

    @property
    def packed(self) -> bool:
        return self.order.status == OrderStatus.PACKED

    @property
    def left_total(self) -> Decimal:
        return sum((line.left for line in self.lines), Decimal("0"))


def pack_order_view(*, actor, order_id) -> PackOrderView:
    """The order's packing picture, if the order has a pack task in a warehouse the
    actor may see; ``NotFoundError`` otherwise."""
    order = outbound_selectors.order_get(actor=actor, order_id=order_id)
    task = PackTask.objects.filter(order_id=order_id).first() if order is not None else None
    if task is None:
        raise NotFoundError("No such order to pack.", code="pack_order_not_found")
    order_lines = [line for line in order.lines.all() if line.qty_picked > 0]
    prefetch_related_objects([line.item for line in order_lines], "base_uom")
    lines = [
        PackLine(
            line_number=line.line_number,
            sku=line.item.sku,
            description=line.item.description,
            uom=line.item.base_uom.code,
            picked=line.qty_picked,
            packed=line.qty_packed,
        )
        for line in order_lines
    ]
    open_package, others = None, []
    for row in order_packages_summary(order=order):
        contents = [
            {"sku": c["order_line__item__sku"], "line_number": c["order_line__line_number"],
             "qty": c["qty"]}
            for c in row["lines"]
        ]  # fmt: skip
        package = PackPackage(package=row["package"], contents=contents)
        if row["package"].status == PackageStatus.OPEN:
            open_package = package
        else:
            others.append(package)
    return PackOrderView(
        order=order, task=task, lines=lines, open_package=open_package, closed_packages=others
    )


def package_types_active() -> QuerySet:
    """The package types a packer may choose (master data, by code)."""
    return PackageType.objects.filter(is_active=True).order_by("code")


def pack_tasks_waiting(*, warehouse, limit: int = 20) -> list[PackTask]:
    """Orders waiting to be packed (or being packed) in the warehouse, oldest first
    (the partial index ``pack_task_open_idx``)."""
    return list(
        PackTask.objects.filter(
            warehouse=warehouse, status__in=(PackTaskStatus.OPEN, PackTaskStatus.IN_PROGRESS)
        )
        .select_related("order", "assigned_to")
        .order_by("created_at", "id")[:limit]
    )
