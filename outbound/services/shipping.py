"""Shipping: packed orders of one store leave through a dock door, once.

``shipment_confirm`` takes the orders (locked in primary-key order, one
statement), checks they are all PACKED for one store of one warehouse, and in
one transaction:

1. reads the lines to ship and the packages that leave with their contents
   (the ``shipment.confirmed`` content is built from them, before any write);
2. posts the staged stock out of the warehouse through the posting service
   (``inventory.services.stock_issue``, one posting per line, keys
   ``ship:<shipment>:<line>``: ledger entries of type ISSUE);
3. writes, in one round trip (``wms.sql.execute``), the ``Shipment`` (number
   from the database sequence) and one ``ShipmentLine`` per order line with
   something packed, ``qty_shipped`` on the lines, the packages SHIPPED, the
   orders SHIPPED (with their history) and ``shipment.confirmed`` (the store's
   confirmation, CONTRACT.md) to the outbox;
4. last, the finance event (``inventory.finance``): its counter's lock is
   held from that statement to commit, so nothing else comes after it.

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
from inventory.models import DockDirection, DockDoor, FinanceEventType, InventoryStatus, Item
from inventory.services import stock_issue
from wms import sql
from wms.exceptions import BusinessValidationError, DomainError, NotFoundError
from wms.history import history_records
from wms.outbox import outbox_insert

from .. import queries, selectors
from ..locks import orders_lock
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
    """The orders with their warehouse, locked in primary-key order in one statement."""
    wanted = sorted({str(i) for i in order_ids})
    orders = orders_lock(order_ids=wanted)
    found = {str(o.pk) for o in orders}
    for order_id in wanted:
        if order_id not in found:
            raise NotFoundError(
                _("No such order: %(id)s.") % {"id": order_id}, code="order_not_found"
            )
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
    order_lines = _lines_to_ship(orders)
    # Read before anything is written: the packages that leave and what they hold.
    leaving = _packages_leaving(orders, order_lines)
    data = _shipment_dict(shipment, [(o.pk, o.external_order_id) for o in orders], leaving)
    lines = _post_out(shipment, orders, order_lines, actor=actor)
    _shipment_write(
        shipment,
        orders,
        lines,
        package_ids=list(leaving),
        now=now,
        data={**data, "warehouse": first.warehouse.code},
    )
    # Last: the finance counter's lock is held from here to commit (inventory.finance).
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
    allocation's), all lines in one query."""
    by_line = {}
    rows = (
        Allocation.objects.filter(order_id__in=order_ids)
        .select_related("inventory_status")
        .only("line_id", "inventory_status")
        .order_by("line_id", "-pk")
    )
    for allocation in rows:
        by_line.setdefault(allocation.line_id, allocation.inventory_status)
    return by_line


def _lines_to_ship(orders) -> list[ReplenishmentOrderLine]:
    """The orders' lines with packed, unshipped goods (item, base unit and unit read with
    them; the item's warehouse is the order's, cached on it for the posting's event)."""
    warehouses = {o.pk: o.warehouse for o in orders}
    lines = []
    for line in (
        ReplenishmentOrderLine.objects.filter(order_id__in=list(warehouses))
        .select_related("item", "item__base_uom", "uom")
        .order_by("order_id", "line_number")
    ):
        if line.qty_packed - line.qty_shipped <= 0:
            continue
        warehouse = warehouses[line.order_id]
        if line.item.warehouse_id == warehouse.pk:
            Item.warehouse.field.set_cached_value(line.item, warehouse)
        lines.append(line)
    return lines


def _packages_leaving(orders, order_lines) -> dict:
    """package id → the contract's package: the orders' closed packages (the ones that
    leave) with their contents per order line, in ``shipment_as_dict``'s order; one
    query (a closed package is never empty)."""
    external_ids = {o.pk: o.external_order_id for o in orders}
    by_id = {line.pk: line for line in order_lines}
    packages: dict = {}
    rows = (
        PackageLine.objects.filter(
            package__order_id__in=list(external_ids), package__status=PackageStatus.CLOSED
        )
        .values_list(
            "package_id",
            "package__sscc",
            "package__package_type__code",
            "package__weight_kg",
            "package__created_at",
            "order_line_id",
            "qty",
        )
        .order_by("package__created_at", "package__sscc", "id")
    )
    for package_id, sscc, type_code, weight, created_at, line_id, qty in rows:
        package = packages.get(package_id)
        if package is None:
            package = packages[package_id] = {
                "sscc": sscc, "packageType": type_code, "weightKg": str(weight),
                "created_at": created_at, "contents": {},
            }  # fmt: skip
        contents = package["contents"]
        contents[line_id] = contents.get(line_id, Decimal("0")) + qty
    for package in packages.values():
        lines = []
        for line_id, qty in package.pop("contents").items():
            line = by_id.get(line_id) or ReplenishmentOrderLine.objects.select_related(
                "item", "uom"
            ).get(pk=line_id)  # packed in full and shipped before: not among the lines to ship
            lines.append((external_ids[line.order_id], line.line_number, line, qty))
        lines.sort(key=lambda entry: entry[:2])
        package["lines"] = [
            _content(external_id, line, qty) for external_id, _n, line, qty in lines
        ]
        package.pop("created_at")
    return packages


def _content(external_order_id: str, line: ReplenishmentOrderLine, qty: Decimal) -> dict:
    """One line of a package in the contract's shape (the quantity in the order's unit)."""
    qty = qty / (line.base_units_per_uom or Decimal("1"))
    return {
        "externalOrderId": external_order_id,
        "lineNumber": line.line_number,
        "sku": line.item.sku,
        "qty": format(qty.normalize(), "f"),
        "uom": line.uom.code,
    }


def _post_out(shipment: Shipment, orders, order_lines, *, actor) -> list[ShipmentLine]:
    """The staged stock of every line posted out of the warehouse (one posting a line,
    each one round trip in the posting service); the shipment lines, unsaved."""
    staging = {o.pk: selectors.staging_location_for_order(order=o) for o in orders}
    statuses = _staged_statuses([o.pk for o in orders])
    default_status = None
    lines = []
    for line in order_lines:
        qty = line.qty_packed - line.qty_shipped
        location = staging[line.order_id]
        if location is None:
            raise DomainError(
                _("The warehouse has no staging location; nothing was shipped."),
                code="no_staging_location",
            )
        status = statuses.get(line.pk)
        if status is None:
            if default_status is None:
                default_status = InventoryStatus.objects.filter(code="AVAILABLE").first()
            status = default_status
        stock_issue(
            item=line.item,
            location=location,
            status=status,
            qty=qty,
            posting_key=f"ship:{shipment.pk}:{line.pk}",
            source_ref=f"Shipment:{shipment.shipment_number}",
            actor=actor,
        )
        lines.append(ShipmentLine(shipment=shipment, order_line=line, item=line.item, qty=qty))
    return lines


def _shipment_write(
    shipment: Shipment, orders, lines, *, package_ids: list, now, data: dict
) -> None:
    """Everything the shipment writes besides the postings, in one round trip
    (``wms.sql.execute``): the shipment and its history, its lines, ``qty_shipped``,
    the packages SHIPPED, the orders SHIPPED and their history, ``shipment.confirmed``.
    The ORM took 2 + 2 a line + 2 an order round trips, each statement compiled."""
    order_ids = [sql.db_value(ReplenishmentOrder, "id", o.pk) for o in orders]
    shipment_id = sql.db_value(Shipment, "id", shipment.pk)
    reason = f"shipped in {shipment.shipment_number}"
    for order in orders:
        order.status, order.shipped_at, order.shipment = OrderStatus.SHIPPED, now, shipment
        order.updated_at = now
    statements = [
        sql.insert(shipment),
        history_records(Shipment, [shipment.pk], history_type="+", change_reason="confirmed"),
        (
            queries.SHIPMENT_LINES_INSERT,
            [
                [shipment_id] * len(lines),
                [sql.db_value(ReplenishmentOrderLine, "id", line.order_line_id) for line in lines],
                [line.item_id for line in lines],
                [line.qty for line in lines],
            ],
        ),
        (queries.LINES_SHIPPED, [order_ids]),
        (queries.PACKAGES_SHIPPED, [shipment_id, order_ids]),
        history_records(Package, package_ids, history_type="~", change_reason=reason),
        *[sql.update(o, ["status", "shipped_at", "shipment", "updated_at"]) for o in orders],
        history_records(
            ReplenishmentOrder, [o.pk for o in orders], history_type="~", change_reason=reason
        ),
        outbox_insert(
            event_type="shipment.confirmed",
            aggregate_type=SHIPMENT_AGGREGATE,
            aggregate_id=shipment.pk,
            data=data,
        ),
    ]
    sql.execute(statements)


def shipment_as_dict(shipment: Shipment) -> dict:
    """The contract's shipment (GET /api/v1/shipments and ``shipment.confirmed``)."""
    orders = shipment.orders.order_by("external_order_id").values_list("id", "external_order_id")
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
    leaving = {
        p.pk: {
            "sscc": p.sscc,
            "packageType": p.package_type.code,
            "weightKg": str(p.weight_kg),
            "lines": by_package.get(p.pk, []),
        }
        for p in packages
    }
    return _shipment_dict(shipment, list(orders), leaving)


def _shipment_dict(shipment: Shipment, orders: list[tuple], packages: dict) -> dict:
    """The contract's shipment from its orders ((id, external id)) and its packages
    (``_packages_leaving``'s shape, in order): one rendering for the API, the event
    and the packing list."""
    return {
        "id": str(shipment.pk),
        "shipmentNumber": shipment.shipment_number,
        "storeCode": shipment.store_code,
        "status": shipment.status,
        "shippedAt": shipment.shipped_at.isoformat(),
        "carrier": shipment.carrier,
        "trackingRef": shipment.tracking_ref,
        "orders": [
            {"id": str(order_id), "externalOrderId": external_id}
            for order_id, external_id in sorted(orders, key=lambda o: o[1])
        ],
        "packages": list(packages.values()),
    }
