"""JSON of the store integration (camelCase at the boundary; CONTRACT.md)."""

import re
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wms.serializer_fields import AwareDateTimeField

from .models import OrderStatus, ReplenishmentOrder, ReplenishmentOrderLine

_Q = Decimal("0.001")


class OrderLineInputSerializer(serializers.Serializer):
    lineNumber = serializers.IntegerField(min_value=1, max_value=999_999)
    sku = serializers.CharField(max_length=64)
    # Positive is a business rule (422 from the service), not a schema rule.
    qty = serializers.DecimalField(max_digits=18, decimal_places=3)
    uom = serializers.CharField(
        max_length=16, required=False, help_text="Defaults to the item's base unit."
    )


_LINE_FIELDS = OrderLineInputSerializer().fields


@extend_schema_field(OrderLineInputSerializer(many=True))
class OrderLinesField(serializers.Field):
    """The ``lines`` of an order: what ``OrderLineInputSerializer(many=True)`` checks, done
    in one pass over plain dicts (intake's hottest loop: DRF's nested serializers cost
    more CPU than storing the order). Errors come out as ``lines[i].field``.
    """

    default_error_messages = {
        "not_a_list": "Expected a list of lines.",
        "empty": "An order needs at least one line.",
        "too_many": "At most {max_items} lines are allowed.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        limit = settings.WMS_ORDER_MAX_LINES
        if len(data) > limit:
            raise serializers.ValidationError(
                self.error_messages["too_many"].format(max_items=limit), code="too_many_lines"
            )
        lines, errors, failed = [], [], False
        for raw in data:
            line, problems = _line(raw)
            lines.append(line)
            errors.append(problems)
            failed = failed or bool(problems)
        if failed:
            raise serializers.ValidationError(errors)
        return lines

    def to_representation(self, value):
        return value


def _line(raw) -> tuple[dict, dict]:
    """One line's fields, or the DRF messages of what is wrong with them."""
    if not isinstance(raw, dict):
        return {}, {"non_field_errors": ["Expected an object."]}
    line, problems = {}, {}
    for name in ("lineNumber", "sku", "qty", "uom"):
        field = _LINE_FIELDS[name]
        value = raw.get(name, serializers.empty)
        if value is serializers.empty:
            if field.required:
                problems[name] = [field.error_messages["required"]]
            continue
        try:
            line[name] = _FAST.get(name, field.run_validation)(value)
        except serializers.ValidationError as exc:
            problems[name] = exc.detail
    return line, problems


def _line_number(value) -> int:
    if type(value) is int and 1 <= value <= 999_999:
        return value
    return _LINE_FIELDS["lineNumber"].run_validation(value)


def _is_plain_text(value, max_length: int) -> bool:
    """What a CharField takes as it is: ASCII (no surrogates), no NUL, not blank, trimmed."""
    return (
        type(value) is str
        and 0 < len(value) <= max_length
        and value.isascii()
        and "\x00" not in value
        and value == value.strip()
    )


def _sku(value) -> str:
    return value if _is_plain_text(value, 64) else _LINE_FIELDS["sku"].run_validation(value)


def _uom(value) -> str:
    return value if _is_plain_text(value, 16) else _LINE_FIELDS["uom"].run_validation(value)


_PLAIN_QTY = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,3})?")


def _qty(value) -> Decimal:
    # Within the field's digits and places as written: the field's own quantize is all
    # that is left to do. Anything else (numbers, spaces, exponents) takes the field's path.
    if type(value) is str and _PLAIN_QTY.fullmatch(value):
        return _LINE_FIELDS["qty"].quantize(Decimal(value))
    return _LINE_FIELDS["qty"].run_validation(value)


_FAST = {"lineNumber": _line_number, "sku": _sku, "uom": _uom, "qty": _qty}


class OrderCreateInputSerializer(serializers.Serializer):
    externalOrderId = serializers.CharField(max_length=64)
    storeCode = serializers.CharField(max_length=64)
    requestedShipBy = AwareDateTimeField(required=False, allow_null=True)
    priority = serializers.IntegerField(
        min_value=1, max_value=9, required=False, default=5, help_text="1 most urgent, 9 least."
    )
    warehouse = serializers.CharField(
        max_length=32,
        required=False,
        help_text="Warehouse code; required only when the store is served by several.",
    )
    lines = OrderLinesField()


_ORDER_FIELDS = OrderCreateInputSerializer().fields


def order_create_input(data) -> dict:
    """``OrderCreateInputSerializer(data=data)``'s ``validated_data``, without building a
    serializer for a valid order (its fields are deep-copied per instance: more CPU
    than storing the order). The same field objects check the values; any problem
    runs the serializer itself, so errors are exactly its errors."""
    if type(data) is not dict:
        return _order_input_by_serializer(data)
    validated = {}
    for name, field in _ORDER_FIELDS.items():
        value = data.get(name, serializers.empty)
        if value is serializers.empty:
            if field.required:
                return _order_input_by_serializer(data)
            if field.default is not serializers.empty:
                validated[name] = field.get_default()
            continue
        fast = _FAST_ORDER.get(name)
        checked = fast(value) if fast is not None else None
        if checked is None:
            try:
                checked = field.run_validation(value)
            except serializers.ValidationError:
                return _order_input_by_serializer(data)
        validated[name] = checked
    return validated


def _order_input_by_serializer(data) -> dict:
    payload = OrderCreateInputSerializer(data=data)
    payload.is_valid(raise_exception=True)
    return payload.validated_data


def _plain_text(max_length: int):
    """A CharField's accepted value as it is (see ``_is_plain_text``), else None."""

    def check(value):
        return value if _is_plain_text(value, max_length) else None

    return check


def _priority(value):
    return value if type(value) is int and 1 <= value <= 9 else None


_FAST_ORDER = {
    "externalOrderId": _plain_text(64),
    "storeCode": _plain_text(64),
    "warehouse": _plain_text(32),
    "priority": _priority,
}


class OrderAcceptedOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    externalOrderId = serializers.CharField(source="external_order_id")
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    statusUrl = serializers.SerializerMethodField()

    def get_statusUrl(self, order) -> str:
        return _status_url(self.context.get("request"), order)


def order_accepted_body(request, order) -> dict:
    """What ``OrderAcceptedOutputSerializer`` renders, built directly (intake's answer,
    hundreds of times a second: a serializer instance costs more than the dict)."""
    return {
        "id": str(order.pk),
        "externalOrderId": order.external_order_id,
        "status": str(order.status),
        "statusUrl": _status_url(request, order),
    }


_PLACEHOLDER_ID = UUID(int=0)
_DETAIL_PATHS: dict = {}


def _status_url(request, order) -> str:
    # reverse() once per URL configuration and script prefix, not once per order.
    key = (get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    parts = _DETAIL_PATHS.get(key)
    if parts is None:
        path = reverse("replenishment-order-detail", kwargs={"order_id": _PLACEHOLDER_ID})
        parts = _DETAIL_PATHS[key] = tuple(path.split(str(_PLACEHOLDER_ID)))
    path = f"{parts[0]}{order.pk}{parts[1]}"
    return request.build_absolute_uri(path) if request is not None else path


def _in_order_unit(line: ReplenishmentOrderLine, qty: Decimal) -> Decimal:
    if line.base_units_per_uom == 1:
        return qty
    return (qty / line.base_units_per_uom).quantize(_Q)


class OrderLineOutputSerializer(serializers.ModelSerializer):
    lineNumber = serializers.IntegerField(source="line_number")
    sku = serializers.CharField(source="item.sku")
    uom = serializers.CharField(source="uom.code")
    qtyRequested = serializers.DecimalField(source="qty_requested", max_digits=18, decimal_places=3)
    qtyAllocated = serializers.SerializerMethodField()
    qtyPicked = serializers.SerializerMethodField()
    qtyShipped = serializers.SerializerMethodField()
    baseUnitsPerUom = serializers.DecimalField(
        source="base_units_per_uom", max_digits=14, decimal_places=4
    )

    class Meta:
        model = ReplenishmentOrderLine
        fields = [
            "lineNumber",
            "sku",
            "uom",
            "qtyRequested",
            "qtyAllocated",
            "qtyPicked",
            "qtyShipped",
            "status",
            "baseUnitsPerUom",
        ]

    def get_qtyAllocated(self, line) -> str:
        return str(_in_order_unit(line, line.qty_allocated).quantize(_Q))

    def get_qtyPicked(self, line) -> str:
        return str(_in_order_unit(line, line.qty_picked).quantize(_Q))

    def get_qtyShipped(self, line) -> str:
        return str(_in_order_unit(line, line.qty_shipped).quantize(_Q))


class OrderOutputSerializer(serializers.ModelSerializer):
    externalOrderId = serializers.CharField(source="external_order_id")
    storeCode = serializers.CharField(source="store_code")
    warehouse = serializers.CharField(source="warehouse.code")
    requestedShipBy = serializers.DateTimeField(source="requested_ship_by", allow_null=True)
    rejectionReasons = serializers.JSONField(source="rejection_reasons")
    waveId = serializers.UUIDField(source="wave_id", allow_null=True)
    acceptedAt = serializers.DateTimeField(source="accepted_at")
    plannedAt = serializers.DateTimeField(source="planned_at", allow_null=True)
    releasedAt = serializers.DateTimeField(source="released_at", allow_null=True)
    cancelledAt = serializers.DateTimeField(source="cancelled_at", allow_null=True)
    updatedAt = serializers.DateTimeField(source="updated_at")
    statusUrl = serializers.SerializerMethodField()
    lines = OrderLineOutputSerializer(many=True)

    class Meta:
        model = ReplenishmentOrder
        fields = [
            "id",
            "externalOrderId",
            "storeCode",
            "warehouse",
            "status",
            "priority",
            "requestedShipBy",
            "rejectionReasons",
            "waveId",
            "acceptedAt",
            "plannedAt",
            "releasedAt",
            "cancelledAt",
            "updatedAt",
            "statusUrl",
            "lines",
        ]

    def get_statusUrl(self, order) -> str:
        return _status_url(self.context.get("request"), order)


class OrderFilterSerializer(serializers.Serializer):
    storeCode = serializers.CharField(required=False, max_length=64)
    externalOrderId = serializers.CharField(required=False, max_length=64)
    status = serializers.ChoiceField(required=False, choices=OrderStatus.choices)


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)
