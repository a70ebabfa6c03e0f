"""Reads of the inbound context, always scoped by warehouse (``wms.scoping``)."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory.models import DockDirection, DockDoor, Item, Location, ReasonCode, ReasonCodeUse
from wms.exceptions import NotFoundError
from wms.scoping import scope_by_warehouse, warehouses_visible_to

from .models import (
    DockAssignment,
    DockAssignmentStatus,
    FlowDirection,
    InboundShipment,
    InboundStatus,
    PutAwayTask,
    PutAwayTaskStatus,
    ReceivingException,
    ReceivingExceptionStatus,
)

RECEIVABLE_STATUSES = (InboundStatus.EXPECTED, InboundStatus.ARRIVED, InboundStatus.RECEIVING)


def inbound_shipment_list(
    *,
    actor,
    warehouse_code: str | None = None,
    external_ref: str | None = None,
    status: str | None = None,
    supplier: str | None = None,
) -> QuerySet:
    qs = scope_by_warehouse(InboundShipment.objects.select_related("warehouse"), actor)
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    if external_ref:
        qs = qs.filter(external_ref=external_ref)
    if status:
        qs = qs.filter(status=status)
    if supplier:
        qs = qs.filter(supplier=supplier)
    return qs.prefetch_related("lines__item__base_uom", "lines__uom")


def inbound_shipment_get(*, actor, pk) -> InboundShipment:
    """The ASN ``pk`` if the actor may see its warehouse; 404 otherwise."""
    shipment = inbound_shipment_list(actor=actor).filter(pk=pk).first()
    if shipment is None:
        raise NotFoundError(f"No inbound shipment {pk}.", code="inbound_shipment_not_found")
    return shipment


def receivable_shipment_list(*, actor, limit: int = 30) -> list[InboundShipment]:
    """ASNs still to receive, earliest expected first (the handheld's pick list)."""
    qs = scope_by_warehouse(InboundShipment.objects.select_related("warehouse"), actor)
    return list(qs.filter(status__in=RECEIVABLE_STATUSES).order_by("expected_arrival_at")[:limit])


def receivable_shipment_by_scan(*, actor, code: str) -> tuple[InboundShipment, DockDoor | None]:
    """An ASN to receive from a scan of its reference or of a dock door, and the door.

    A door resolves to the ASN of its inbound appointment the truck checked in
    for, else the one running now, else the next one (within 12 hours). Unknown
    codes, closed or finished ASNs → 404 with a message the handheld shows as is.
    """
    code = (code or "").strip()
    visible = scope_by_warehouse(InboundShipment.objects.select_related("warehouse"), actor)
    shipment = visible.filter(external_ref=code).first() if code else None
    door = None
    if shipment is None and code:
        shipment, door = _shipment_at_door(actor=actor, code=code)
    if shipment is None:
        raise NotFoundError(
            _("No ASN and no dock door with an appointment for '%(code)s'.") % {"code": code},
            code="unknown_scan",
        )
    if shipment.status not in RECEIVABLE_STATUSES:
        raise NotFoundError(
            _("ASN %(ref)s is %(status)s; nothing left to receive.")
            % {"ref": shipment.external_ref, "status": shipment.get_status_display().lower()},
            code="shipment_not_receivable",
        )
    return shipment, door


def _shipment_at_door(*, actor, code: str):
    doors = scope_by_warehouse(DockDoor.objects.all(), actor).filter(code=code)
    if not doors.exists():
        return None, None
    now = timezone.now()
    appointments = list(
        DockAssignment.objects.filter(
            dock_door__in=doors,
            direction=FlowDirection.INBOUND,
            inbound_shipment__isnull=False,
            inbound_shipment__status__in=RECEIVABLE_STATUSES,
            ends_at__gt=now - timedelta(hours=12),
            starts_at__lt=now + timedelta(hours=12),
        )
        .exclude(status__in=[DockAssignmentStatus.CANCELLED, DockAssignmentStatus.COMPLETED])
        .select_related("inbound_shipment__warehouse", "dock_door__location")
        .order_by("starts_at")
    )
    # The truck checked in at the door, else the window running now, else the next one.
    chosen = (
        next((a for a in appointments if a.status == DockAssignmentStatus.ARRIVED), None)
        or next((a for a in appointments if a.starts_at <= now < a.ends_at), None)
        or next((a for a in appointments if a.starts_at > now), None)
    )
    if chosen is None:
        return None, doors.first()
    return chosen.inbound_shipment, chosen.dock_door


def item_by_scan(*, warehouse, code: str) -> Item:
    """An item of the warehouse from a scan of its barcode (GTIN) or SKU."""
    code = (code or "").strip()
    item = (
        Item.objects.filter(warehouse=warehouse, is_active=True)
        .filter(Q(gtin=code) | Q(sku=code))
        .select_related("base_uom")
        .first()
    )
    if item is None or not code:
        raise NotFoundError(_("Unknown item '%(code)s'.") % {"code": code}, code="unknown_item")
    return item


def asn_line_for_item(*, shipment: InboundShipment, item: Item):
    """The ASN's line for a scanned item; 404 (nothing changes) when it is not on the ASN."""
    line = shipment.lines.filter(item=item).select_related("uom").order_by("line_number").first()
    if line is None:
        raise NotFoundError(
            _("%(sku)s is not on ASN %(ref)s. Nothing was received.")
            % {"sku": item.sku, "ref": shipment.external_ref},
            code="item_not_on_asn",
        )
    return line


def location_by_scan(*, warehouse, code: str) -> Location:
    """An active location of the warehouse from a scan of its barcode or code."""
    code = (code or "").strip()
    location = (
        Location.objects.filter(warehouse=warehouse, is_active=True)
        .filter(Q(barcode=code) | Q(code=code))
        .first()
    )
    if location is None or not code:
        raise NotFoundError(
            _("Unknown location '%(code)s'.") % {"code": code}, code="unknown_location"
        )
    return location


def override_reasons() -> QuerySet:
    return ReasonCode.objects.filter(use=ReasonCodeUse.OVERRIDE).order_by("code")


def receipt_warehouses(*, actor) -> QuerySet:
    return warehouses_visible_to(actor).order_by("code")


def putaway_task_list_open(*, actor, warehouse=None) -> QuerySet:
    qs = scope_by_warehouse(PutAwayTask.objects.all(), actor).filter(status=PutAwayTaskStatus.OPEN)
    if warehouse is not None:
        qs = qs.filter(warehouse=warehouse)
    return qs.select_related(
        "item__base_uom", "from_location", "to_location", "inventory_status", "warehouse"
    ).order_by("created_at", "id")


def putaway_task_by_scan(*, actor, code: str) -> PutAwayTask:
    """The oldest open put-away of a scanned item (barcode or SKU), or a task label PA<id>."""
    code = (code or "").strip()
    tasks = putaway_task_list_open(actor=actor)
    task = None
    if code.upper().startswith("PA") and code[2:].isdigit():
        task = tasks.filter(pk=int(code[2:])).first()
    if task is None and code:
        task = tasks.filter(Q(item__gtin=code) | Q(item__sku=code)).first()
    if task is None:
        raise NotFoundError(
            _("No open put-away for '%(code)s'.") % {"code": code}, code="task_not_found"
        )
    return task


def dock_door_by_code(*, warehouse, code: str) -> DockDoor | None:
    if not code:
        return None
    return (
        DockDoor.objects.filter(warehouse=warehouse, code=code).select_related("location").first()
    )


def putaway_task_get(*, actor, pk) -> PutAwayTask:
    task = (
        scope_by_warehouse(PutAwayTask.objects.all(), actor)
        .select_related(
            "item__base_uom",
            "from_location",
            "to_location",
            "confirmed_location",
            "inventory_status",
            "warehouse",
            "override_reason",
        )
        .filter(pk=pk)
        .first()
    )
    if task is None:
        raise NotFoundError(f"No put-away task {pk}.", code="task_not_found")
    return task


def receipt_exceptions_open(*, actor, shipment=None) -> QuerySet:
    qs = scope_by_warehouse(ReceivingException.objects.all(), actor).filter(
        status=ReceivingExceptionStatus.OPEN
    )
    if shipment is not None:
        qs = qs.filter(shipment=shipment)
    return qs


@dataclass
class DoorDay:
    door: DockDoor
    appointments: list[DockAssignment]


@dataclass
class DockDay:
    warehouse: object
    day: object
    starts_at: datetime
    ends_at: datetime
    doors: list[DoorDay]


def dock_day_view(*, actor, warehouse, day) -> DockDay:
    """Every door of the warehouse with its live appointments on ``day`` (instance time zone)."""
    if not warehouses_visible_to(actor).filter(pk=warehouse.pk).exists():
        raise NotFoundError("No such warehouse.", code="warehouse_not_found")
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = start + timedelta(days=1)
    appointments = (
        DockAssignment.objects.filter(warehouse=warehouse, starts_at__lt=end, ends_at__gt=start)
        .exclude(status=DockAssignmentStatus.CANCELLED)
        .select_related("inbound_shipment")
        .order_by("starts_at")
    )
    by_door: dict[int, list[DockAssignment]] = {}
    for appointment in appointments:
        by_door.setdefault(appointment.dock_door_id, []).append(appointment)
    doors = DockDoor.objects.filter(warehouse=warehouse).order_by("code")
    return DockDay(
        warehouse=warehouse,
        day=day,
        starts_at=start,
        ends_at=end,
        doors=[DoorDay(door=door, appointments=by_door.get(door.pk, [])) for door in doors],
    )


def inbound_doors(warehouse) -> QuerySet:
    return DockDoor.objects.filter(
        warehouse=warehouse, direction__in=[DockDirection.INBOUND, DockDirection.BOTH]
    )
