"""Packing: what is picked goes into packages (handling units with an SSCC).

Outbound owns the numbers: ``qty_packed`` on the order line (never above
``qty_picked``, a database constraint) and the package rows. The pack work
(who packs, when an order may be packed) is tasking's ``PackTask``, which
calls these functions under the order lock (``order_pack_lock``): one order
is packed by one transaction at a time.

- ``package_open``: an open package of a type (at most one open per order);
- ``package_add``: ``qty`` of an order line's item into the open package,
  refused when more than is picked and not yet packed (422 ``over_pack``) or
  when the item is not on the order (422 ``item_not_on_order``); a retried
  scan (same ``entry_key``) is a replay;
- ``package_close``: with its gross weight; ``package_reopen`` before shipping;
- ``order_mark_packed``: everything picked is packed (PICKING → PACKED);
- ``packages_confirm``: a packing line's whole packages at once (closed, weighed),
  checked in full before anything is written, then written in one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from wms import sql
from wms.exceptions import BusinessValidationError, DomainError, NotFoundError
from wms.history import history_records
from wms.outbox import outbox_emit, outbox_insert

from .. import queries
from ..locks import order_lock
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


def _over_pack_refused(line: ReplenishmentOrderLine, qty: Decimal, *, left: Decimal) -> None:
    """422 ``over_pack`` when ``qty`` is more than the ``left`` of the line to pack."""
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
    _over_pack_refused(line, qty, left=line.qty_picked - line.qty_packed)
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
    outbox_emit(**_order_packed_event(order, [p.sscc for p in packages.order_by("created_at")]))
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


def order_pack_lock(*, order_id) -> ReplenishmentOrder:
    """Lock the order for packing (until the caller's transaction ends), with its warehouse."""
    order = order_lock(order_id=order_id)
    if order is None:
        raise NotFoundError("No such order.", code="order_not_found")
    return order


# --- a packing line's whole packages ----------------------------------------------------


@dataclass(frozen=True)
class PackedPackage:
    """A package a packing line filled and closed: its type, gross weight and contents."""

    package_type: str
    weight_kg: Decimal
    lines: list[tuple[int, Decimal]]  # (line number, qty in the line's order unit)


@dataclass
class _Packing:
    """What ``packages_confirm`` found under the order lock and decided to write."""

    order: ReplenishmentOrder
    lines: dict  # line number → line
    left: dict  # line id → base units picked and not yet packed
    types: dict  # package type code → active type
    packages: list  # the order's packages before this confirmation
    new: list  # (package, [(line, qty, entry key)])


def packages_confirm(
    *, order: ReplenishmentOrder, packages: list[PackedPackage], key: str, actor=None
) -> tuple[list[Package], bool]:
    """Whole packages, each closed with its weight; (the packages, whether the order is
    now PACKED). The caller holds the order lock and the order is PICKING.

    All or nothing: every package and line is checked (``unknown_package_type``,
    ``item_not_on_order``, ``over_pack``, ``invalid_qty``, ``order_not_packable``)
    before a row is written; then the packages, their lines, ``qty_packed``, their
    history and, when nothing picked is left to pack, the order PACKED with its history
    and ``order.packed`` go in one round trip (``wms.sql.execute``). The ORM took four
    round trips a line and ten more a package and an order. Entry keys
    ``<key>:<package>:<line>``: the same confirmation again changes nothing and returns
    its packages. A package the order has open (a packer started on the handheld) takes
    the first package's lines, as a scan would.
    """
    _check_packable(order)
    keys = [
        f"{key}:{n}:{m}"
        for n, spec in enumerate(packages, start=1)
        for m in range(1, len(spec.lines) + 1)
    ]
    replayed = _packages_replayed(order, keys)
    if replayed is not None:
        return replayed, order.status == OrderStatus.PACKED
    packing = _packing_checked(order, packages, key, actor)
    now = timezone.now()
    for package, _contents in packing.new:
        package.status, package.closed_at = PackageStatus.CLOSED, now
    packed = not any(packing.left.values())
    if packed:
        order.status, order.packed_at, order.updated_at = OrderStatus.PACKED, now, now
    sql.execute(_packing_statements(packing, packed, now))
    return [package for package, _contents in packing.new], packed


def _packages_replayed(order: ReplenishmentOrder, keys: list[str]) -> list[Package] | None:
    """The packages of an earlier confirmation with these entry keys; None if there was none."""
    entries = list(
        PackageLine.objects.filter(entry_key__in=keys).values_list(
            "package_id", "package__order_id"
        )
    )
    if not entries:
        return None
    if any(order_id != order.pk for _package, order_id in entries):
        raise BusinessValidationError(
            _("This confirmation's key was used for another order; nothing was packed."),
            code="idempotency_key_reused",
        )
    return list(Package.objects.filter(pk__in={p for p, _o in entries}).order_by("created_at"))


def _packing_checked(order, packages: list[PackedPackage], key: str, actor) -> _Packing:
    """Everything the confirmation asks for, checked as the scans would be one by one."""
    lines = {
        line.line_number: line
        for line in ReplenishmentOrderLine.objects.filter(order=order).order_by("line_number")
    }
    types = {
        t.code: t
        for t in PackageType.objects.filter(
            code__in={spec.package_type for spec in packages}, is_active=True
        )
    }
    existing = list(Package.objects.filter(order=order).order_by("created_at"))
    packing = _Packing(
        order=order,
        lines=lines,
        left={line.pk: line.qty_picked - line.qty_packed for line in lines.values()},
        types=types,
        packages=existing,
        new=[],
    )
    open_package = next((p for p in existing if p.status == PackageStatus.OPEN), None)
    fresh = len(packages) - (open_package is not None)
    ssccs = iter(_next_ssccs(order, fresh) if fresh > 0 else [])
    for n, spec in enumerate(packages, start=1):
        package_type = types.get(spec.package_type)
        if package_type is None:
            raise BusinessValidationError(
                _("Unknown package type %(code)s.") % {"code": spec.package_type},
                code="unknown_package_type",
            )
        if n == 1 and open_package is not None:
            package = open_package
        else:
            package = _package_new(packing, package_type, next(ssccs), actor)
        contents = [
            _content_checked(packing, line_number, qty, f"{key}:{n}:{m}")
            for m, (line_number, qty) in enumerate(spec.lines, start=1)
        ]
        package.weight_kg = pack_qty(spec.weight_kg, field_name="weightKg")
        if not contents:
            raise BusinessValidationError(
                _("Package %(sscc)s is empty: scan items into it first.") % {"sscc": package.sscc},
                code="package_empty",
            )
        packing.new.append((package, contents))
    return packing


def _package_new(packing: _Packing, package_type: PackageType, sscc: str, actor) -> Package:
    """A new package (unsaved) for the next package of the confirmation, as
    ``package_open`` opens one: refused when nothing is left to pack."""
    if not any(qty > 0 for qty in packing.left.values()):
        raise OrderNotPackable(_("Everything picked for this order is packed."))
    return Package(
        order=packing.order, package_type=package_type, sscc=sscc, packed_by=_user(actor)
    )


def _content_checked(packing: _Packing, line_number: int, qty, entry_key: str) -> tuple:
    """(line, base units, entry key) of one line of a package, refused as ``package_add``
    refuses a scan; what is left to pack of the line goes down by it."""
    line = packing.lines.get(line_number)
    if line is None:
        raise ItemNotOnOrder(
            _("The order has no line %(n)s.") % {"n": line_number}, errors=["lineNumber"]
        )
    qty = pack_qty(qty) * line.base_units_per_uom
    left = packing.left[line.pk]
    _over_pack_refused(line, qty, left=left)
    packing.left[line.pk] = left - qty
    return line, qty, entry_key


def _next_ssccs(order: ReplenishmentOrder, count: int) -> list[str]:
    """``count`` new SSCCs, their serials from the database sequence in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval('outbound_sscc_serial') FROM generate_series(1, %s)", [count]
        )
        serials = [row[0] for row in cursor.fetchall()]
    prefix = order.warehouse.gs1_company_prefix
    return [sscc_for_serial(company_prefix=prefix, serial=serial) for serial in serials]


def _packing_statements(packing: _Packing, packed: bool, now) -> list[tuple[str, list]]:
    """The confirmation's writes (``wms.sql.execute``), package rows before their lines."""
    created = [p for p, _c in packing.new if p._state.adding]
    closed = [p for p, _c in packing.new if not p._state.adding]
    statements = [sql.insert(p) for p in created]
    statements += [sql.update(p, ["status", "weight_kg", "closed_at"]) for p in closed]
    for history_type, reason, rows in (("+", "packed", created), ("~", "closed", closed)):
        if rows:
            pks = [p.pk for p in rows]
            statements.append(
                history_records(Package, pks, history_type=history_type, change_reason=reason)
            )
    package_ids, line_ids, qtys, keys = [], [], [], []
    added: dict = {}
    for package, contents in packing.new:
        for line, qty, entry_key in contents:
            package_ids.append(sql.db_value(Package, "id", package.pk))
            line_ids.append(sql.db_value(ReplenishmentOrderLine, "id", line.pk))
            qtys.append(qty)
            keys.append(entry_key)
            added[line_ids[-1]] = added.get(line_ids[-1], Decimal("0")) + qty
    statements += [
        (queries.PACKAGE_LINES_INSERT, [package_ids, line_ids, qtys, keys, [now] * len(keys)]),
        (queries.LINES_PACKED, [list(added), list(added.values())]),
    ]
    if packed:
        statements += _order_packed_statements(packing, created)
    return statements


def _order_packed_statements(packing: _Packing, created: list) -> list[tuple[str, list]]:
    """The order PACKED, its history and ``order.packed`` naming all its packages (those it
    had, then ``created``)."""
    order = packing.order
    ssccs = [p.sscc for p in packing.packages] + [p.sscc for p in created]
    return [
        sql.update(order, ["status", "packed_at", "updated_at"]),
        history_records(ReplenishmentOrder, [order.pk], history_type="~", change_reason="packed"),
        outbox_insert(**_order_packed_event(order, ssccs)),
    ]


def _order_packed_event(order: ReplenishmentOrder, ssccs: list[str]) -> dict:
    """``order.packed`` (``outbox_emit``'s arguments): the order and its packages' SSCCs."""
    return {
        "event_type": "order.packed",
        "aggregate_type": ORDER_AGGREGATE,
        "aggregate_id": order.pk,
        "data": {
            "orderId": str(order.pk),
            "externalOrderId": order.external_order_id,
            "storeCode": order.store_code,
            "status": order.status,
            "packages": ssccs,
        },
    }
