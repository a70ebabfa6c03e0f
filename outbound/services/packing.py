"""Packing: what is picked goes into packages (handling units with an SSCC).

Outbound owns the numbers: ``qty_packed`` on the order line (never above
``qty_picked``, a database constraint) and the package rows. The pack work
(who packs, when an order may be packed) is tasking's ``PackTask``, which
calls these functions under the order lock (``order_pick_lock``): one order
is packed by one transaction at a time.

- ``package_open``: an open package of a type (at most one open per order);
- ``package_add``: ``qty`` of an order line's item into the open package,
  refused when more than is picked and not yet packed (422 ``over_pack``) or
  when the item is not on the order (422 ``item_not_on_order``); a retried
  scan (same ``entry_key``) is a replay;
- ``package_close``: with its gross weight; ``package_reopen`` before shipping;
- ``order_mark_packed``: everything picked is packed (PICKING → PACKED).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from wms.exceptions import BusinessValidationError, DomainError, NotFoundError
from wms.outbox import outbox_emit

from ..models import (
    OrderStatus,
    Package,
    PackageLine,
    PackageStatus,
    PackageType,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
)
from ..sscc import sscc_for_serial
from .intake import ORDER_AGGREGATE

#: Orders whose picked goods may be packed (PACKED again after a reopen).
PACKABLE_STATUSES = (OrderStatus.PICKING, OrderStatus.PACKED)


class OverPack(BusinessValidationError):
    code = "over_pack"
    title = "More than is picked and not yet packed"


class ItemNotOnOrder(BusinessValidationError):
    code = "item_not_on_order"
    title = "The item is not on the order"


class OrderNotPackable(DomainError):
    status = 409
    code = "order_not_packable"
    title = "The order has nothing left to pack"


class PackageNotOpen(DomainError):
    status = 409
    code = "package_not_open"
    title = "The package is not open"


def _user(actor):
    return actor if getattr(actor, "_meta", None) is not None else None


def pack_qty(value, *, field_name: str = "qty") -> Decimal:
    try:
        qty = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise BusinessValidationError(
            _("The quantity must be a number."), code="invalid_qty", errors=[field_name]
        ) from None
    if not qty.is_finite() or qty <= 0:
        raise BusinessValidationError(
            _("The quantity must be more than zero."), code="invalid_qty", errors=[field_name]
        )
    return qty


def package_type_for_code(code: str) -> PackageType:
    package_type = PackageType.objects.filter(code=code, is_active=True).first()
    if package_type is None:
        raise BusinessValidationError(
            _("Unknown package type %(code)s.") % {"code": code}, code="unknown_package_type"
        )
    return package_type


def order_left_to_pack(*, order: ReplenishmentOrder) -> dict[object, Decimal]:
    """order line id → base units picked and not yet packed (lines with something left)."""
    rows = (
        ReplenishmentOrderLine.objects.filter(order=order, qty_picked__gt=F("qty_packed"))
        .values_list("pk", "qty_picked", "qty_packed")
        .order_by("line_number")
    )
    return {pk: picked - packed for pk, picked, packed in rows}


def _next_sscc(order: ReplenishmentOrder) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('outbound_sscc_serial')")
        (serial,) = cursor.fetchone()
    return sscc_for_serial(company_prefix=order.warehouse.gs1_company_prefix, serial=serial)


def _check_packable(order: ReplenishmentOrder) -> None:
    if order.status not in PACKABLE_STATUSES:
        raise OrderNotPackable(
            _("Order %(order)s is %(status)s: there is nothing to pack.")
            % {"order": order.external_order_id, "status": order.get_status_display().lower()}
        )


def package_open(*, order: ReplenishmentOrder, package_type: PackageType, actor=None) -> Package:
    """The order's open package, or a new one of ``package_type`` (caller holds the order lock)."""
    _check_packable(order)
    package = Package.objects.filter(order=order, status=PackageStatus.OPEN).first()
    if package is not None:
        return package
    if not order_left_to_pack(order=order):
        raise OrderNotPackable(_("Everything picked for this order is packed."))
    package = Package(
        order=order,
        package_type=package_type,
        sscc=_next_sscc(order),
        packed_by=_user(actor),
    )
    package._change_reason = "opened"
    package.save()
    return package


def package_add(
    *, package: Package, line: ReplenishmentOrderLine, qty: Decimal, entry_key: str, actor=None
) -> tuple[PackageLine, bool]:
    """Put ``qty`` of the line into the open package; (entry, replayed)."""
    existing = PackageLine.objects.filter(entry_key=entry_key).first()
    if existing is not None:
        return existing, True
    if package.status != PackageStatus.OPEN:
        raise PackageNotOpen(_("Package %(sscc)s is closed.") % {"sscc": package.sscc})
    if line.order_id != package.order_id:
        raise ItemNotOnOrder(_("That line is not on this order."))
    left = line.qty_picked - line.qty_packed
    if left <= 0:
        raise OverPack(
            _("%(sku)s is already packed in full.") % {"sku": line.item.sku}, errors=["qty"]
        )
    if qty > left:
        raise OverPack(
            _("Only %(left)s of %(sku)s are left to pack; nothing was packed.")
            % {"left": format(left.normalize(), "f"), "sku": line.item.sku},
            errors=["qty"],
        )
    entry = PackageLine.objects.create(
        package=package, order_line=line, qty=qty, entry_key=entry_key
    )
    ReplenishmentOrderLine.objects.filter(pk=line.pk).update(qty_packed=F("qty_packed") + qty)
    line.qty_packed += qty
    return entry, False


def order_line_for_item(*, order: ReplenishmentOrder, item_id: int) -> ReplenishmentOrderLine:
    """The order's line of the item with something left to pack (or its first line)."""
    lines = list(
        ReplenishmentOrderLine.objects.filter(order=order, item_id=item_id)
        .select_related("item", "uom")
        .order_by("line_number")
    )
    if not lines:
        raise ItemNotOnOrder(_("This item is not on the order; nothing was packed."))
    for line in lines:
        if line.qty_picked > line.qty_packed:
            return line
    return lines[0]


def order_line_by_number(*, order: ReplenishmentOrder, line_number: int) -> ReplenishmentOrderLine:
    line = (
        ReplenishmentOrderLine.objects.filter(order=order, line_number=line_number)
        .select_related("item", "uom")
        .first()
    )
    if line is None:
        raise ItemNotOnOrder(
            _("The order has no line %(n)s.") % {"n": line_number}, errors=["lineNumber"]
        )
    return line


def package_close(*, package: Package, weight_kg, actor=None) -> Package:
    """Close the open package with its gross weight (kg); closing twice changes nothing."""
    if package.status == PackageStatus.CLOSED:
        return package
    if package.status != PackageStatus.OPEN:
        raise PackageNotOpen(_("Package %(sscc)s has shipped.") % {"sscc": package.sscc})
    weight = pack_qty(weight_kg, field_name="weightKg")
    if not package.lines.exists():
        raise BusinessValidationError(
            _("Package %(sscc)s is empty: scan items into it first.") % {"sscc": package.sscc},
            code="package_empty",
        )
    package.status = PackageStatus.CLOSED
    package.weight_kg = weight
    package.closed_at = timezone.now()
    package._change_reason = "closed"
    package.save(update_fields=["status", "weight_kg", "closed_at"])
    return package


def package_reopen(*, package: Package, actor=None) -> Package:
    """A closed package opens again (before shipping); the order is no longer PACKED."""
    if package.status == PackageStatus.OPEN:
        return package
    if package.status != PackageStatus.CLOSED:
        raise PackageNotOpen(_("Package %(sscc)s has shipped.") % {"sscc": package.sscc})
    if Package.objects.filter(order_id=package.order_id, status=PackageStatus.OPEN).exists():
        raise DomainError(
            _("Close the order's open package first."), code="another_package_open", status=409
        )
    package.status = PackageStatus.OPEN
    package.closed_at = None
    package._change_reason = "reopened"
    package.save(update_fields=["status", "closed_at"])
    ReplenishmentOrder.objects.filter(pk=package.order_id, status=OrderStatus.PACKED).update(
        status=OrderStatus.PICKING, packed_at=None
    )
    return package


def order_packages_summary(*, order: ReplenishmentOrder) -> list[dict]:
    """Each package of the order with its contents per line (for pages and answers)."""
    packages = list(
        Package.objects.filter(order=order).select_related("package_type").order_by("created_at")
    )
    contents = (
        PackageLine.objects.filter(package__order=order)
        .values("package_id", "order_line__line_number", "order_line__item__sku")
        .annotate(qty=Sum("qty"))
        .order_by("package_id", "order_line__line_number")
    )
    by_package: dict = {}
    for row in contents:
        by_package.setdefault(row["package_id"], []).append(row)
    return [{"package": p, "lines": by_package.get(p.pk, [])} for p in packages]


def order_mark_packed(*, order: ReplenishmentOrder, actor=None) -> bool:
    """PICKING → PACKED when every package is closed and nothing picked is left to pack."""
    if order.status != OrderStatus.PICKING:
        return order.status == OrderStatus.PACKED
    if order_left_to_pack(order=order):
        return False
    packages = Package.objects.filter(order=order)
    if not packages.exists() or packages.filter(status=PackageStatus.OPEN).exists():
        return False
    order.status = OrderStatus.PACKED
    order.packed_at = timezone.now()
    order._change_reason = "packed"
    order.save(update_fields=["status", "packed_at", "updated_at"])
    outbox_emit(
        event_type="order.packed",
        aggregate_type=ORDER_AGGREGATE,
        aggregate_id=order.pk,
        data={
            "orderId": str(order.pk),
            "externalOrderId": order.external_order_id,
            "storeCode": order.store_code,
            "status": order.status,
            "packages": [p.sscc for p in packages.order_by("created_at")],
        },
    )
    return True


def package_get(*, package_id) -> Package:
    package = (
        Package.objects.select_related("order", "order__warehouse", "package_type")
        .filter(pk=package_id)
        .first()
    )
    if package is None:
        raise NotFoundError(_("No such package."), code="package_not_found")
    return package
