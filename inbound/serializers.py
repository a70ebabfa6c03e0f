"""JSON of the inbound API (camelCase at the boundary; CONTRACT.md "Inbound")."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wms.serializer_fields import AwareDateTimeField

from .models import (
    InboundShipment,
    InboundShipmentLine,
    InboundStatus,
    InboundType,
    PutAwayTask,
    PutAwayTaskStatus,
    Receipt,
    ReceiptLine,
    ReceivingException,
    ReceivingExceptionStatus,
    ReceivingExceptionType,
)

MAX_LINES = 1000
_QTY = {"max_digits": 18, "decimal_places": 3}


# --- input -------------------------------------------------------------------


class AsnLineInputSerializer(serializers.Serializer):
    lineNumber = serializers.IntegerField(min_value=1, max_value=999_999)
    sku = serializers.CharField(max_length=64)
    # Positive is a business rule (422 from the service), not a schema rule.
    qtyExpected = serializers.DecimalField(**_QTY)
    uom = serializers.CharField(max_length=16, help_text="Unit of the quantity, e.g. EA or CS.")


class AsnCreateInputSerializer(serializers.Serializer):
    externalRef = serializers.CharField(max_length=64, help_text="The supplier's ASN number.")
    supplier = serializers.CharField(max_length=200)
    expectedArrivalAt = AwareDateTimeField()
    type = serializers.ChoiceField(
        choices=InboundType.choices, required=False, default=InboundType.SUPPLIER
    )
    warehouse = serializers.CharField(
        max_length=32,
        required=False,
        help_text="Warehouse code; required only when the caller may use several.",
    )
    lines = AsnLineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)


class ReceiptLineInputSerializer(serializers.Serializer):
    lineNumber = serializers.IntegerField(min_value=1, max_value=999_999)
    qtyReceived = serializers.DecimalField(
        help_text="In the unit of the ASN line (2 cases of 12 → 2 when the line is in CS).",
        **_QTY,
    )
    status = serializers.CharField(
        max_length=32,
        required=False,
        help_text="Inventory status the goods are received into; AVAILABLE by default, "
        "DAMAGED for damaged goods.",
    )


class ReceiptCreateInputSerializer(serializers.Serializer):
    lines = ReceiptLineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)
    complete = serializers.BooleanField(
        required=False,
        default=False,
        help_text="True when this receipt finishes receiving of the ASN: lines short beyond "
        "the warehouse's tolerance then open exceptions and the ASN becomes RECEIVED.",
    )
    dockDoor = serializers.CharField(
        max_length=32, required=False, help_text="Door code; goods go to its location."
    )


class AsnFilterSerializer(serializers.Serializer):
    warehouse = serializers.CharField(required=False, max_length=32)
    externalRef = serializers.CharField(required=False, max_length=64)
    status = serializers.ChoiceField(required=False, choices=InboundStatus.choices)
    supplier = serializers.CharField(required=False, max_length=200)


# --- output ------------------------------------------------------------------


class AsnLineOutputSerializer(serializers.ModelSerializer):
    lineNumber = serializers.IntegerField(source="line_number")
    sku = serializers.CharField(source="item.sku")
    uom = serializers.CharField(source="uom.code")
    qtyExpected = serializers.DecimalField(source="qty_expected", **_QTY)
    baseUom = serializers.CharField(source="item.base_uom.code")
    qtyExpectedBase = serializers.DecimalField(source="qty_expected_base", **_QTY)
    qtyReceivedBase = serializers.DecimalField(source="qty_received_base", **_QTY)
    varianceBase = serializers.DecimalField(source="variance_base", read_only=True, **_QTY)

    class Meta:
        model = InboundShipmentLine
        fields = [
            "lineNumber",
            "sku",
            "uom",
            "qtyExpected",
            "baseUom",
            "qtyExpectedBase",
            "qtyReceivedBase",
            "varianceBase",
        ]


class AsnOutputSerializer(serializers.ModelSerializer):
    externalRef = serializers.CharField(source="external_ref")
    warehouse = serializers.CharField(source="warehouse.code")
    type = serializers.ChoiceField(choices=InboundType.choices)
    status = serializers.ChoiceField(choices=InboundStatus.choices)
    expectedArrivalAt = serializers.DateTimeField(source="expected_arrival_at")
    arrivedAt = serializers.DateTimeField(source="arrived_at", allow_null=True)
    receivedAt = serializers.DateTimeField(source="received_at", allow_null=True)
    closedAt = serializers.DateTimeField(source="closed_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    lines = AsnLineOutputSerializer(many=True)

    class Meta:
        model = InboundShipment
        fields = [
            "id",
            "externalRef",
            "supplier",
            "warehouse",
            "type",
            "status",
            "expectedArrivalAt",
            "arrivedAt",
            "receivedAt",
            "closedAt",
            "createdAt",
            "lines",
        ]


class ReceiptLineOutputSerializer(serializers.ModelSerializer):
    lineNumber = serializers.IntegerField(source="shipment_line.line_number", allow_null=True)
    sku = serializers.CharField(source="item.sku")
    qtyReceived = serializers.DecimalField(source="qty_received", **_QTY)
    uom = serializers.CharField(source="uom.code")
    qtyBase = serializers.DecimalField(source="qty_base", **_QTY)
    baseUom = serializers.CharField(source="item.base_uom.code")
    status = serializers.CharField(source="inventory_status.code")

    class Meta:
        model = ReceiptLine
        fields = ["lineNumber", "sku", "qtyReceived", "uom", "qtyBase", "baseUom", "status"]


class ExceptionOutputSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(choices=ReceivingExceptionType.choices)
    status = serializers.ChoiceField(choices=ReceivingExceptionStatus.choices)
    lineNumber = serializers.IntegerField(source="shipment_line.line_number", allow_null=True)
    sku = serializers.CharField(source="item.sku", allow_null=True)
    qtyExpectedBase = serializers.DecimalField(source="qty_expected_base", allow_null=True, **_QTY)
    qtyReceivedBase = serializers.DecimalField(source="qty_received_base", allow_null=True, **_QTY)
    openedAt = serializers.DateTimeField(source="opened_at")

    class Meta:
        model = ReceivingException
        fields = [
            "id",
            "type",
            "status",
            "lineNumber",
            "sku",
            "qtyExpectedBase",
            "qtyReceivedBase",
            "detail",
            "openedAt",
        ]


class PutAwayTaskOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="item.sku")
    qty = serializers.DecimalField(**_QTY)
    status = serializers.ChoiceField(choices=PutAwayTaskStatus.choices)
    inventoryStatus = serializers.CharField(source="inventory_status.code")
    fromLocation = serializers.CharField(source="from_location.code")
    toLocation = serializers.CharField(source="to_location.code", allow_null=True)

    class Meta:
        model = PutAwayTask
        fields = ["id", "sku", "qty", "inventoryStatus", "status", "fromLocation", "toLocation"]


class ReceiptOutputSerializer(serializers.ModelSerializer):
    inboundShipmentId = serializers.IntegerField(source="shipment_id", allow_null=True)
    externalRef = serializers.CharField(source="shipment.external_ref", allow_null=True)
    shipmentStatus = serializers.CharField(source="shipment.status", allow_null=True)
    receivedAt = serializers.DateTimeField(source="received_at")
    receivingLocation = serializers.CharField(source="receiving_location.code")
    dockDoor = serializers.CharField(source="dock_door.code", allow_null=True)
    complete = serializers.BooleanField(source="completes_receiving")
    lines = ReceiptLineOutputSerializer(many=True)
    exceptions = serializers.SerializerMethodField()
    putAwayTasks = serializers.SerializerMethodField()

    class Meta:
        model = Receipt
        fields = [
            "id",
            "inboundShipmentId",
            "externalRef",
            "shipmentStatus",
            "receivedAt",
            "receivingLocation",
            "dockDoor",
            "complete",
            "lines",
            "exceptions",
            "putAwayTasks",
        ]

    @extend_schema_field(ExceptionOutputSerializer(many=True))
    def get_exceptions(self, receipt):
        """Exceptions this receipt opened or brought up to date."""
        cases = self.context.get("exceptions")
        if cases is None:
            cases = receipt.exceptions.select_related("shipment_line", "item")
        return ExceptionOutputSerializer(cases, many=True).data

    @extend_schema_field(PutAwayTaskOutputSerializer(many=True))
    def get_putAwayTasks(self, receipt):
        tasks = PutAwayTask.objects.filter(receipt_line__receipt=receipt).select_related(
            "item", "inventory_status", "from_location", "to_location"
        )
        return PutAwayTaskOutputSerializer(tasks.order_by("id"), many=True).data
