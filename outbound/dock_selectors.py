"""Reads for loading a truck at a dock door (the handheld dock page, the admin).

A loader scans the door, then packages (their SSCC) or whole orders; the
pages keep the scanned packages and ask here, before anything is posted,
whether a scan may join the load: the package or order exists in the
warehouse, its order is PACKED and it is for the same store as the rest of
the load. Refusals raise the shipping service's own errors
(``order_not_packed``, ``shipment_mixes_stores``, ``unknown_dock_door``), so
the page says on the spot what ``shipment_confirm`` would refuse later; the
service checks again under its locks when the load is confirmed, and is the
one that writes.

Nothing here takes a lock or writes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from inventory.models import DockDirection, DockDoor
from wms.exceptions import BusinessValidationError, NotFoundError

from .models import OrderStatus, Package, PackageStatus, ReplenishmentOrder
from .services.shipping import OrderNotPacked, ShipmentMixesStores

#: A GS1-128 scan of an SSCC: optional symbology id ``]C1``, AI ``00``, 18 digits.
_SSCC_SCAN = re.compile(r"^(?:\]C1)?(?:\(?00\)?)?(\d{18})$")
#: The doors a truck leaves through.
OUTBOUND_DIRECTIONS = (DockDirection.OUTBOUND, DockDirection.BOTH)


def outbound_dock_doors(*, warehouse_id: int):
    """The warehouse's doors a shipment may leave through, by code."""
    return DockDoor.objects.filter(
        warehouse_id=warehouse_id, direction__in=OUTBOUND_DIRECTIONS
    ).order_by("code")


def outbound_dock_door(*, warehouse_id: int, code: str) -> DockDoor:
    """The outbound door of that code, or ``unknown_dock_door`` (as ``shipment_confirm``)."""
    code = (code or "").strip()
    door = outbound_dock_doors(warehouse_id=warehouse_id).filter(code=code).first()
    if door is None:
        raise BusinessValidationError(
            _("Unknown outbound dock door %(code)s.") % {"code": code},
            code="unknown_dock_door",
            errors=["dockDoor"],
        )
    return door


def sscc_from_scan(code: str) -> str | None:
    """The 18-digit SSCC in a scan (plain, ``(00)…`` or GS1-128 ``]C100…``); else None."""
    match = _SSCC_SCAN.match((code or "").strip())
    return match.group(1) if match else None


@dataclass(frozen=True)
class DockScan:
    """What one scan loads: one package, or every closed package of a scanned order."""

    order: ReplenishmentOrder
    packages: list[Package]
    package_scanned: bool


def _order_scanned(*, warehouse_id: int, code: str) -> ReplenishmentOrder | None:
    orders = ReplenishmentOrder.objects.filter(warehouse_id=warehouse_id)
    order = orders.filter(external_order_id=code).order_by("-accepted_at").first()
    if order is None:
        try:
            order = orders.filter(pk=uuid.UUID(code)).first()
        except ValueError:
            order = None
    return order


def _check_packed(order: ReplenishmentOrder, *, at_dock: bool = True) -> None:
    if order.status == OrderStatus.PACKED:
        return
    values = {"order": order.external_order_id, "status": order.get_status_display().lower()}
    if at_dock:
        message = _("Order %(order)s is %(status)s, not packed; nothing was loaded.")
    else:
        message = _("Order %(order)s is %(status)s, not packed; nothing was shipped.")
    raise OrderNotPacked(message % values)


def orders_check_shippable(*, orders) -> None:
    """Refuse, before a form asks for the door, what ``shipment_confirm`` would refuse:
    an order that is not PACKED (``order_not_packed``), orders of several stores or
    warehouses (``shipment_mixes_stores``)."""
    if not orders:
        raise BusinessValidationError(_("Select at least one order."), code="no_orders")
    for order in orders:
        _check_packed(order, at_dock=False)
    if len({(o.warehouse_id, o.store_code) for o in orders}) != 1:
        raise ShipmentMixesStores(_("The orders are for different stores or warehouses."))


def dock_scan(*, warehouse_id: int, code: str, store_code: str | None = None) -> DockScan:
    """The packages a scan at the dock loads, checked as ``shipment_confirm`` will.

    ``store_code``: the store of what is loaded already (None for an empty load).
    """
    code = (code or "").strip()
    sscc = sscc_from_scan(code)
    package = None
    if sscc is not None:
        package = (
            Package.objects.filter(sscc=sscc, order__warehouse_id=warehouse_id)
            .select_related("order", "package_type")
            .first()
        )
    order = (
        package.order
        if package is not None
        else _order_scanned(warehouse_id=warehouse_id, code=code)
    )
    if order is None:
        raise NotFoundError(
            _("Unknown package or order %(code)s; nothing was loaded.") % {"code": code},
            code="unknown_scan",
        )
    _check_packed(order)
    if store_code is not None and order.store_code != store_code:
        raise ShipmentMixesStores(
            _(
                "%(what)s is for store %(store)s, this load is for store %(loaded)s; "
                "nothing was loaded."
            )
            % {
                "what": package.sscc if package else order.external_order_id,
                "store": order.store_code,
                "loaded": store_code,
            }
        )
    if package is not None:
        return DockScan(order=order, packages=[package], package_scanned=True)
    packages = list(
        order.packages.filter(status=PackageStatus.CLOSED)
        .select_related("package_type")
        .order_by("created_at", "sscc")
    )
    return DockScan(order=order, packages=packages, package_scanned=False)


@dataclass
class DockOrder:
    """An order on the truck: its packages, and which of them were scanned."""

    order: ReplenishmentOrder
    packages: list[tuple[Package, bool]] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return sum(1 for _package, loaded in self.packages if loaded)

    @property
    def complete(self) -> bool:
        return self.loaded == len(self.packages)


@dataclass
class DockLoad:
    """What is loaded at a door (from the scanned package ids), by order."""

    orders: list[DockOrder]

    @property
    def store_code(self) -> str | None:
        return self.orders[0].order.store_code if self.orders else None

    @property
    def order_ids(self) -> list:
        return [row.order.pk for row in self.orders]

    @property
    def package_count(self) -> int:
        return sum(row.loaded for row in self.orders)

    @property
    def incomplete(self) -> list[DockOrder]:
        return [row for row in self.orders if not row.complete]


def dock_load(*, warehouse_id: int, package_ids) -> DockLoad:
    """The load of these scanned packages: their orders with every package each has
    (closed ones, and any scanned one whatever its status now), in two queries."""
    package_ids = {str(pk) for pk in package_ids}
    order_ids = set(
        Package.objects.filter(pk__in=package_ids, order__warehouse_id=warehouse_id).values_list(
            "order_id", flat=True
        )
    )
    packages = (
        Package.objects.filter(order_id__in=order_ids)
        .filter(Q(status=PackageStatus.CLOSED) | Q(pk__in=package_ids))
        .select_related("order", "package_type")
        .order_by("order__external_order_id", "created_at", "sscc")
    )
    rows: dict = {}
    for package in packages:
        row = rows.setdefault(package.order_id, DockOrder(order=package.order))
        row.packages.append((package, str(package.pk) in package_ids))
    return DockLoad(orders=list(rows.values()))


def dock_orders_ready(
    *, warehouse_id: int, store_code: str | None = None, exclude_ids=(), limit: int = 30
):
    """Packed orders waiting for a truck (oldest packed first), with their package counts;
    ``exclude_ids``: those already on the truck."""
    orders = ReplenishmentOrder.objects.filter(
        warehouse_id=warehouse_id, status=OrderStatus.PACKED
    ).exclude(pk__in=list(exclude_ids))
    if store_code:
        orders = orders.filter(store_code=store_code)
    return orders.annotate(
        package_count=Count("packages", filter=Q(packages__status=PackageStatus.CLOSED))
    ).order_by("packed_at", "pk")[:limit]
