"""Shipping: packed orders of one store leave through a dock door, once.

``shipment_confirm`` takes the orders (locked in primary-key order), checks
they are all PACKED for one store of one warehouse, and in one transaction:

1. creates the ``Shipment`` (number from the database sequence) and one
   ``ShipmentLine`` per order line with something packed;
2. posts the staged stock out of the warehouse through the posting service
   (``inventory.services.stock_issue``, one posting per line, keys
   ``ship:<shipment>:<line>``: ledger entries of type ISSUE);
3. sets ``qty_shipped`` on the lines, the packages SHIPPED, the orders SHIPPED;
4. writes ``shipment.confirmed`` (the store's confirmation, CONTRACT.md) to the
   outbox and, last, the finance event (``inventory.finance``).

Idempotent: confirming orders that already left together in one shipment
returns that shipment and changes nothing. Locks: order rows (primary key),
then balances inside the posting service, then the finance counter.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory.finance import FinanceLine, finance_event_record
from inventory.models import DockDirection, DockDoor, FinanceEventType, InventoryStatus
from inventory.services import stock_issue
from wms.exceptions import BusinessValidationError, DomainError, NotFoundError
from wms.outbox import outbox_emit

from .. import selectors
from ..locks import order_lock
from ..models import (
    Allocation,
    OrderStatus,
    Package,
    PackageLine,
    PackageStatus,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
    Shipment,
    ShipmentLine,
)

SHIPMENT_AGGREGATE = "Shipment"


class OrderNotPacked(DomainError):
    status = 409
    code = "order_not_packed"
    title = "The order is not packed"


class ShipmentMixesStores(BusinessValidationError):
    code = "shipment_mixes_stores"
    title = "A shipment carries the orders of one store"


def _user(actor):
    return actor if getattr(actor, "_meta", None) is not None else None


def _orders_lock(order_ids) -> list[ReplenishmentOrder]:
    orders = []
    for order_id in sorted({str(i) for i in order_ids}):
        order = order_lock(order_id=order_id)
        if order is None:
            raise NotFoundError(
                _("No such order: %(id)s.") % {"id": order_id}, code="order_not_found"
            )
        orders.append(order)
    return orders


def _replayed(orders: list[ReplenishmentOrder]) -> Shipment | None:
    """The shipment these orders already left in, together; None if they did not."""
    shipment_ids = {o.shipment_id for o in orders}
    if len(shipment_ids) != 1 or None in shipment_ids:
        return None
    shipment = Shipment.objects.get(pk=shipment_ids.pop())
    if set(shipment.orders.values_list("pk", flat=True)) != {o.pk for o in orders}:
        return None
    return shipment


def _check_shippable(orders: list[ReplenishmentOrder], dock_door_code: str | None) -> DockDoor:
    for order in orders:
        if order.status != OrderStatus.PACKED:
            raise OrderNotPacked(
                _("Order %(order)s is %(status)s, not packed; nothing was shipped.")
                % {"order": order.external_order_id, "status": order.get_status_display().lower()}
            )
    if len({(o.warehouse_id, o.store_code) for o in orders}) != 1:
        raise ShipmentMixesStores(_("The orders are for different stores or warehouses."))
    door = None
    if dock_door_code:
        door = DockDoor.objects.filter(
            warehouse_id=orders[0].warehouse_id,
            code=dock_door_code,
            direction__in=[DockDirection.OUTBOUND, DockDirection.BOTH],
        ).first()
        if door is None:
            raise BusinessValidationError(
                _("Unknown outbound dock door %(code)s.") % {"code": dock_door_code},
                code="unknown_dock_door",
                errors=["dockDoor"],
            )
    return door


def _next_shipment_number(warehouse_code: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('outbound_shipment_number')")
        (number,) = cursor.fetchone()
    return f"SHP-{warehouse_code}-{number:07d}"


@transaction.atomic
def shipment_confirm(
    *,
    order_ids,
    dock_door_code: str | None = None,
    carrier: str = "",
    tracking_ref: str = "",
    departed_at=None,
    actor=None,
) -> tuple[Shipment, bool]:
    """Ship packed orders of one store together; (shipment, replayed)."""
    if not order_ids:
        raise BusinessValidationError(_("Name at least one order."), code="no_orders")
    orders = _orders_lock(order_ids)
    replay = _replayed(orders)
    if replay is not None:
        return replay, True
    door = _check_shippable(orders, dock_door_code)
    now = timezone.now()
    first = orders[0]
    shipment = Shipment(
        shipment_number=_next_shipment_number(first.warehouse.code),
        warehouse_id=first.warehouse_id,
        store_code=first.store_code,
        dock_door=door,
        carrier=carrier,
        tracking_ref=tracking_ref,
        departed_at=departed_at,
        shipped_at=now,
        shipped_by=_user(actor),
    )
    shipment._change_reason = "confirmed"
    shipment.save()
    lines = _ship_lines(shipment, orders, actor=actor)
    _orders_mark_shipped(shipment, orders, now=now)
    outbox_emit(
        event_type="shipment.confirmed",
        aggregate_type=SHIPMENT_AGGREGATE,
        aggregate_id=shipment.pk,
        data={**shipment_as_dict(shipment), "warehouse": first.warehouse.code},
    )
    finance_event_record(
        event_type=FinanceEventType.SHIPMENT_CONFIRMED,
        warehouse=first.warehouse,
        reference_type=SHIPMENT_AGGREGATE,
        reference_id=str(shipment.pk),
        reference_number=shipment.shipment_number,
        store_code=shipment.store_code,
        lines=[
            FinanceLine(item=line.item, qty=line.qty, uom=line.item.base_uom.code) for line in lines
        ],
        source_key=f"shipment:{shipment.pk}",
        occurred_at=now,
    )
    return shipment, False


def _staged_statuses(order_ids) -> dict:
    """order line id → the inventory status its picks were staged in (its latest
    allocation's), all lines in one query; the statuses themselves in a second."""
    by_line = {}
    rows = (
        Allocation.objects.filter(order_id__in=order_ids)
        .order_by("line_id", "-pk")
        .values_list("line_id", "inventory_status_id")
    )
    for line_id, status_id in rows:
        by_line.setdefault(line_id, status_id)
    statuses = InventoryStatus.objects.in_bulk(set(by_line.values()))
    return {line_id: statuses[status_id] for line_id, status_id in by_line.items()}


def _ship_lines(shipment: Shipment, orders, *, actor) -> list[ShipmentLine]:
    """One shipment line per order line with packed, unshipped goods; stock posted out."""
    order_by_id = {o.pk: o for o in orders}
    staging = {o.pk: selectors.staging_location_for_order(order=o) for o in orders}
    statuses = _staged_statuses(list(order_by_id))
    default_status = InventoryStatus.objects.filter(code="AVAILABLE").first()
    lines = []
    order_lines = (
        ReplenishmentOrderLine.objects.filter(order_id__in=list(order_by_id))
        .select_related("item", "item__base_uom")
        .order_by("order_id", "line_number")
    )
    for line in order_lines:
        qty = line.qty_packed - line.qty_shipped
        if qty <= 0:
            continue
        location = staging[line.order_id]
        if location is None:
            raise DomainError(
                _("The warehouse has no staging location; nothing was shipped."),
                code="no_staging_location",
            )
        stock_issue(
            item=line.item,
            location=location,
            status=statuses.get(line.pk, default_status),
            qty=qty,
            posting_key=f"ship:{shipment.pk}:{line.pk}",
            source_ref=f"Shipment:{shipment.shipment_number}",
            actor=actor,
        )
        ReplenishmentOrderLine.objects.filter(pk=line.pk).update(qty_shipped=line.qty_packed)
        lines.append(ShipmentLine(shipment=shipment, order_line=line, item=line.item, qty=qty))
    ShipmentLine.objects.bulk_create(lines)
    return lines


def _orders_mark_shipped(shipment: Shipment, orders, *, now) -> None:
    Package.objects.filter(order_id__in=[o.pk for o in orders], status=PackageStatus.CLOSED).update(
        status=PackageStatus.SHIPPED, shipment=shipment
    )
    for order in orders:
        order.status = OrderStatus.SHIPPED
        order.shipped_at = now
        order.shipment = shipment
        order._change_reason = f"shipped in {shipment.shipment_number}"
        order.save(update_fields=["status", "shipped_at", "shipment", "updated_at"])


def shipment_as_dict(shipment: Shipment) -> dict:
    """The contract's shipment (GET /api/v1/shipments and ``shipment.confirmed``)."""
    orders = list(shipment.orders.order_by("external_order_id").values("id", "external_order_id"))
    packages = list(
        Package.objects.filter(shipment=shipment)
        .select_related("package_type")
        .order_by("created_at", "sscc")
    )
    contents = (
        PackageLine.objects.filter(package__shipment=shipment)
        .values(
            "package_id",
            "order_line__order__external_order_id",
            "order_line__line_number",
            "order_line__item__sku",
            "order_line__uom__code",
            "order_line__base_units_per_uom",
        )
        .annotate(qty=Sum("qty"))
        .order_by("package_id", "order_line__order__external_order_id", "order_line__line_number")
    )
    by_package: dict = {}
    for row in contents:
        qty = row["qty"] / (row["order_line__base_units_per_uom"] or Decimal("1"))
        by_package.setdefault(row["package_id"], []).append(
            {
                "externalOrderId": row["order_line__order__external_order_id"],
                "lineNumber": row["order_line__line_number"],
                "sku": row["order_line__item__sku"],
                "qty": format(qty.normalize(), "f"),
                "uom": row["order_line__uom__code"],
            }
        )
    return {
        "id": str(shipment.pk),
        "shipmentNumber": shipment.shipment_number,
        "storeCode": shipment.store_code,
        "status": shipment.status,
        "shippedAt": shipment.shipped_at.isoformat(),
        "carrier": shipment.carrier,
        "trackingRef": shipment.tracking_ref,
        "orders": [{"id": str(o["id"]), "externalOrderId": o["external_order_id"]} for o in orders],
        "packages": [
            {
                "sscc": p.sscc,
                "packageType": p.package_type.code,
                "weightKg": str(p.weight_kg),
                "lines": by_package.get(p.pk, []),
            }
            for p in packages
        ],
    }
