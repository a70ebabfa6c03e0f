"""Helpers shared by the inbound services: actors, units, statuses, settings, locations."""

from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext as _

from inventory.models import (
    InventoryStatus,
    Item,
    ItemUnitConversion,
    Location,
    LocationType,
    UnitOfMeasure,
)
from wms.exceptions import BusinessValidationError, DomainError
from wms.scoping import actor_may_use_warehouse

from ..models import QTY, InboundSettings

#: Inventory status of goods received in good condition, and of damaged goods.
RECEIVED_STATUS = "AVAILABLE"
DAMAGED_STATUS = "DAMAGED"

_QTY_STEP = Decimal(1).scaleb(-QTY["decimal_places"])
_QTY_MAX = Decimal(10) ** (QTY["max_digits"] - QTY["decimal_places"])


def actor_label(actor) -> str:
    """``user:<name>`` or ``system:<code>`` for audit fields."""
    if actor is None:
        return ""
    system = getattr(actor, "system", None)
    if system is not None:
        return f"system:{system.code}"
    return f"user:{actor.get_username()}"


def actor_user(actor):
    """The person behind ``actor`` (None for an external system or nobody)."""
    if actor is None or getattr(actor, "system", None) is not None:
        return None
    return actor if getattr(actor, "pk", None) else None


def actor_has_perm(actor, perm: str) -> bool:
    """People need the model permission; external systems are checked by type in the API."""
    if actor is None or getattr(actor, "system", None) is not None:
        return True
    return actor.is_superuser or actor.has_perm(perm)


def require_warehouse(actor, warehouse) -> None:
    """Refuse (403) an actor that was not granted ``warehouse``; no actor = the system itself."""
    if actor is not None and not actor_may_use_warehouse(actor, warehouse):
        raise DomainError(
            _("No access to warehouse %(warehouse)s.") % {"warehouse": warehouse.code},
            code="permission_denied",
            status=403,
        )


def require_aware(value, field: str):
    if value is None or timezone.is_naive(value):
        raise BusinessValidationError(
            f"{field} needs a time zone offset.",
            code="naive_datetime",
            errors=[{"field": field, "code": "naive_datetime", "message": "Give an offset."}],
        )
    return value


def quantity(value, *, field: str = "qty") -> Decimal:
    """A positive decimal that fits the quantity columns exactly (no silent rounding)."""
    try:
        qty = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise _qty_error(
            field, "invalid_quantity", _("'%(value)s' is not a number.") % {"value": value}
        ) from exc
    if not qty.is_finite() or qty <= 0:
        raise _qty_error(field, "quantity_not_positive", _("The quantity must be above zero."))
    if qty != qty.quantize(_QTY_STEP) or qty >= _QTY_MAX:
        raise _qty_error(
            field,
            "quantity_precision",
            _("The quantity may have at most %(places)s decimals.")
            % {"places": QTY["decimal_places"]},
        )
    return qty.quantize(_QTY_STEP)


def _qty_error(field: str, code: str, message: str) -> BusinessValidationError:
    return BusinessValidationError(
        message, code=code, errors=[{"field": field, "code": code, "message": message}]
    )


def unit_factor(*, item: Item, uom: UnitOfMeasure) -> Decimal:
    """Base units in one ``uom`` of ``item`` (1 for the base unit)."""
    if uom.pk == item.base_uom_id:
        return Decimal("1")
    conversion = ItemUnitConversion.objects.filter(item=item, uom=uom).first()
    if conversion is None:
        raise BusinessValidationError(
            _("%(sku)s has no conversion from %(uom)s to %(base)s.")
            % {"sku": item.sku, "uom": uom.code, "base": item.base_uom.code},
            code="unknown_uom_for_item",
        )
    return conversion.base_units


def to_base(*, item: Item, uom: UnitOfMeasure, qty: Decimal, field: str = "qty") -> Decimal:
    """``qty`` of ``uom`` in the item's base unit: 2 cases of 12 → 24 each."""
    return quantity(qty * unit_factor(item=item, uom=uom), field=field)


def units_for_item(item: Item) -> list[UnitOfMeasure]:
    """The base unit first, then every unit the item converts from."""
    others = UnitOfMeasure.objects.filter(
        pk__in=ItemUnitConversion.objects.filter(item=item).values("uom")
    ).exclude(pk=item.base_uom_id)
    return [item.base_uom, *others.order_by("code")]


def inventory_status(code: str | None, *, field: str = "status") -> InventoryStatus:
    code = code or RECEIVED_STATUS
    status = InventoryStatus.objects.filter(code=code).first()
    if status is None:
        raise BusinessValidationError(
            f"Unknown inventory status '{code}'.",
            code="unknown_status",
            errors=[{"field": field, "code": "unknown_status", "message": f"'{code}' unknown."}],
        )
    return status


def inbound_settings_for(warehouse) -> InboundSettings:
    """The warehouse's settings (defaults, unsaved, when none were configured)."""
    found = InboundSettings.objects.filter(warehouse=warehouse).first()
    return found or InboundSettings(warehouse=warehouse)


def receiving_location_for(*, warehouse, dock_door=None, settings_row=None) -> Location:
    """Where received goods are posted: the door's location, the configured one, or the
    first active RECEIVING location."""
    if dock_door is not None and dock_door.location_id and dock_door.location.is_active:
        return dock_door.location
    settings_row = settings_row or inbound_settings_for(warehouse)
    if settings_row.receiving_location_id:
        return settings_row.receiving_location
    location = (
        Location.objects.filter(warehouse=warehouse, type=LocationType.RECEIVING, is_active=True)
        .order_by("pick_sequence", "code")
        .first()
    )
    if location is None:
        raise DomainError(
            _("Warehouse %(warehouse)s has no receiving location.") % {"warehouse": warehouse.code},
            code="no_receiving_location",
        )
    return location


def staging_location_for(*, warehouse, settings_row=None) -> Location | None:
    settings_row = settings_row or inbound_settings_for(warehouse)
    if settings_row.staging_location_id:
        return settings_row.staging_location
    return (
        Location.objects.filter(warehouse=warehouse, type=LocationType.STAGING, is_active=True)
        .order_by("pick_sequence", "code")
        .first()
    )
