"""What the count services share: who acts, quantities, the warehouse's tolerance."""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from inventory import selectors as inventory_selectors
from wms.exceptions import BusinessValidationError

from ..models import QTY_DECIMALS, CountSettings

_QUANTUM = Decimal(1).scaleb(-QTY_DECIMALS)
_MAX_QTY = Decimal("1e12")


def actor_fields(actor) -> tuple:
    """(user or None, label): a person, an external system's principal, a label."""
    if actor is None:
        return None, ""
    if isinstance(actor, str):
        return None, actor[:150]
    system = getattr(actor, "system", None)
    if system is not None:
        return None, f"system:{system.code}"[:150]
    if isinstance(actor, get_user_model()):
        return actor, actor.get_username()[:150]
    return None, str(actor)[:150]


def _qty_problem(value) -> tuple[Decimal | None, str | None]:
    if value is None or isinstance(value, (float, bool)):
        return None, "invalid_quantity"
    try:
        qty = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None, "invalid_quantity"
    if not qty.is_finite() or qty != qty.quantize(_QUANTUM) or abs(qty) >= _MAX_QTY:
        return None, "invalid_quantity"
    if qty < 0:
        return None, "negative_quantity"
    return qty.quantize(_QUANTUM), None


def counted_qty(value, *, field: str) -> Decimal:
    """A counted quantity: a decimal ≥ 0 with at most three decimals (never a float)."""
    qty, error = _qty_problem(value)
    if error is None:
        return qty
    message = (
        _("A counted quantity cannot be negative.")
        if error == "negative_quantity"
        else _("A counted quantity is a number ≥ 0 with at most three decimals.")
    )
    raise BusinessValidationError(
        message, code=error, errors=[{"field": field, "code": error, "message": message}]
    )


def count_settings_for(warehouse) -> CountSettings:
    """The warehouse's settings, or unsaved defaults (no recount asked)."""
    found = CountSettings.objects.filter(warehouse=warehouse).first()
    return found or CountSettings(warehouse=warehouse)


def default_status():
    """Where an item found at a scan is booked when the result names no status."""
    code = getattr(settings, "WMS_COUNT_DEFAULT_STATUS", "AVAILABLE")
    status = inventory_selectors.status_for_code(code=code)
    if status is None:
        raise BusinessValidationError(
            _("The inventory status %(code)s does not exist.") % {"code": code},
            code="default_status_missing",
        )
    return status
