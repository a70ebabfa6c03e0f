from decimal import Decimal

from rest_framework import serializers

from .models import Item, Location, LocationType, Warehouse


class WarehouseOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Warehouse
        fields = ["code", "name"]


class ItemOutputSerializer(serializers.ModelSerializer):
    warehouse = serializers.CharField(source="warehouse.code")
    baseUom = serializers.CharField(source="base_uom.code")
    unitCost = serializers.DecimalField(source="unit_cost", max_digits=14, decimal_places=4)
    unitPrice = serializers.DecimalField(source="unit_price", max_digits=14, decimal_places=4)

    class Meta:
        model = Item
        fields = ["warehouse", "sku", "gtin", "description", "baseUom", "unitCost", "unitPrice"]


class LocationOutputSerializer(serializers.ModelSerializer):
    warehouse = serializers.CharField(source="warehouse.code")
    zone = serializers.CharField(source="zone.code", allow_null=True)
    type = serializers.ChoiceField(choices=LocationType.choices)
    pickSequence = serializers.IntegerField(source="pick_sequence")

    class Meta:
        model = Location
        fields = ["warehouse", "code", "barcode", "type", "zone", "capacity", "pickSequence"]


class MasterDataFilterSerializer(serializers.Serializer):
    warehouse = serializers.CharField(required=False, max_length=32)
    sku = serializers.CharField(required=False, max_length=64)
    type = serializers.ChoiceField(required=False, choices=LocationType.choices)


# --- stock ----------------------------------------------------------------------

_QTY = {"max_digits": 18, "decimal_places": 3, "coerce_to_string": True}


class BalanceFilterSerializer(serializers.Serializer):
    warehouse = serializers.CharField(required=False, max_length=32)
    sku = serializers.CharField(required=False, max_length=64)
    location = serializers.CharField(required=False, max_length=64)
    status = serializers.CharField(required=False, max_length=32)
    includeEmpty = serializers.BooleanField(
        required=False, default=False, help_text="Also list balances with nothing on hand."
    )


class BalanceOutputSerializer(serializers.Serializer):
    """One row of ``selectors.balance_rows``."""

    warehouse = serializers.CharField(source="warehouse_code")
    sku = serializers.CharField()
    location = serializers.CharField(source="location_code")
    status = serializers.CharField(source="status_code")
    onHand = serializers.DecimalField(source="on_hand", **_QTY)
    reserved = serializers.DecimalField(**_QTY)
    available = serializers.DecimalField(**_QTY)
    updatedAt = serializers.DateTimeField(source="updated_at")


class LedgerFilterSerializer(serializers.Serializer):
    warehouse = serializers.CharField(required=False, max_length=32)
    sku = serializers.CharField(required=False, max_length=64)
    location = serializers.CharField(required=False, max_length=64)
    since = serializers.DateTimeField(
        required=False, help_text="ISO 8601 with offset: entries at or after this instant."
    )
    postingKey = serializers.CharField(required=False, max_length=255)
    sourceRef = serializers.CharField(required=False, max_length=128)

    def validate_since(self, value):
        raw = self.initial_data.get("since", "")
        if raw and not _has_offset(raw):
            raise serializers.ValidationError(
                "Give a time zone offset (e.g. 2026-11-21T10:00:00+01:00 or …Z).", code="naive"
            )
        return value


def _has_offset(raw: str) -> bool:
    from django.utils.dateparse import parse_datetime

    parsed = parse_datetime(raw)
    return parsed is not None and parsed.tzinfo is not None


class LedgerEntryOutputSerializer(serializers.Serializer):
    """One row of ``selectors.ledger_rows``."""

    id = serializers.IntegerField()
    occurredAt = serializers.DateTimeField(source="occurred_at")
    entryType = serializers.CharField(source="entry_type")
    warehouse = serializers.CharField(source="warehouse_code")
    sku = serializers.CharField()
    location = serializers.CharField(source="location_code")
    status = serializers.CharField(source="status_code")
    onHandDelta = serializers.DecimalField(source="on_hand_delta", **_QTY)
    reservedDelta = serializers.DecimalField(source="reserved_delta", **_QTY)
    postingKey = serializers.CharField(source="posting_key")
    sourceRef = serializers.CharField(source="source_ref")
    reservationId = serializers.IntegerField(source="reservation_id", allow_null=True)
    reasonCode = serializers.CharField(source="reason_code")
    actor = serializers.CharField(source="actor_label")
    correlationId = serializers.CharField(source="correlation_id")


class _PostingInputSerializer(serializers.Serializer):
    warehouse = serializers.CharField(
        required=False,
        max_length=32,
        help_text="Warehouse code; may be left out by a client granted exactly one warehouse.",
    )
    sku = serializers.CharField(max_length=64)
    qty = serializers.DecimalField(max_digits=18, decimal_places=3, min_value=Decimal("0.001"))
    sourceRef = serializers.CharField(required=False, max_length=128, default="", allow_blank=True)


class MoveInputSerializer(_PostingInputSerializer):
    fromLocation = serializers.CharField(max_length=64)
    toLocation = serializers.CharField(max_length=64)
    status = serializers.CharField(max_length=32, required=False, default="AVAILABLE")

    def validate(self, attrs):
        if attrs["fromLocation"] == attrs["toLocation"]:
            raise serializers.ValidationError(
                {"toLocation": ["Must differ from fromLocation."]}, code="same_location"
            )
        return attrs


class StatusTransferInputSerializer(_PostingInputSerializer):
    location = serializers.CharField(max_length=64)
    fromStatus = serializers.CharField(max_length=32)
    toStatus = serializers.CharField(max_length=32)
    reasonCode = serializers.CharField(required=False, max_length=32, default="", allow_blank=True)

    def validate(self, attrs):
        if attrs["fromStatus"] == attrs["toStatus"]:
            raise serializers.ValidationError(
                {"toStatus": ["Must differ from fromStatus."]}, code="same_status"
            )
        return attrs


class PostingOutputSerializer(serializers.Serializer):
    """A posting's answer: ``{"postingKey", "ledgerEntryIds", "entries"}`` (entries as rows)."""

    postingKey = serializers.CharField()
    ledgerEntryIds = serializers.ListField(child=serializers.IntegerField())
    entries = LedgerEntryOutputSerializer(many=True)
