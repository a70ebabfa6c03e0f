"""JSON of the automation integration (camelCase at the boundary; CONTRACT.md)."""

from rest_framework import serializers

from tasking.models import PickTaskStatus
from wms.serializer_fields import AwareDateTimeField


class PickTaskFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PickTaskStatus.choices, required=False)


class PickTaskOutputSerializer(serializers.Serializer):
    """A pick task as an automation system sees it."""

    pickTaskId = serializers.UUIDField(source="pk")
    warehouse = serializers.CharField(source="warehouse.code")
    waveId = serializers.UUIDField(source="wave_id")
    orderId = serializers.UUIDField(source="order_id")
    orderLineId = serializers.UUIDField(source="order_line_id")
    lineNumber = serializers.IntegerField(source="order_line.line_number")
    sku = serializers.CharField(source="item.sku")
    gtin = serializers.CharField(source="item.gtin")
    description = serializers.CharField(source="item.description")
    uom = serializers.CharField(source="item.base_uom.code")
    fromLocation = serializers.CharField(source="from_location.code")
    qtyToPick = serializers.DecimalField(source="qty_to_pick", max_digits=18, decimal_places=3)
    qtyPicked = serializers.DecimalField(source="qty_picked", max_digits=18, decimal_places=3)
    qtyOpen = serializers.DecimalField(source="qty_open", max_digits=18, decimal_places=3)
    priority = serializers.IntegerField()
    pickSequence = serializers.IntegerField(source="pick_sequence")
    status = serializers.ChoiceField(choices=PickTaskStatus.choices)
    system = serializers.CharField(source="dispatch_target", allow_blank=True)
    batchId = serializers.CharField(source="dispatch_batch", allow_blank=True)
    dispatchedAt = serializers.DateTimeField(source="dispatched_at", allow_null=True)
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)
    acknowledgedAt = serializers.DateTimeField(source="acked_at", allow_null=True)


class PickTaskAckInputSerializer(serializers.Serializer):
    correlationId = serializers.CharField(max_length=128, required=False, allow_blank=True)


class PickConfirmationInputSerializer(serializers.Serializer):
    pickTaskId = serializers.UUIDField()
    correlationId = serializers.CharField(max_length=128, required=False, allow_blank=True)
    qtyPicked = serializers.DecimalField(
        max_digits=18,
        decimal_places=3,
        min_value=0,
        help_text="Base units picked. Above what is open → 422 over_pick; below → SHORT.",
    )
    fromLocation = serializers.CharField(
        max_length=128,
        required=False,
        help_text="Code or barcode of the location picked from; must be the task's.",
    )
    confirmedAt = AwareDateTimeField(required=False, allow_null=True)


class PickConfirmationOutputSerializer(serializers.Serializer):
    confirmationId = serializers.UUIDField(source="confirmation.pk")
    pickTaskId = serializers.UUIDField(source="task.pk")
    taskStatus = serializers.ChoiceField(source="task.status", choices=PickTaskStatus.choices)
    qtyPicked = serializers.DecimalField(
        source="confirmation.qty_picked", max_digits=18, decimal_places=3
    )
    exceptionCaseId = serializers.IntegerField(
        source="exception_case.pk", allow_null=True, default=None
    )


class PackedLineSerializer(serializers.Serializer):
    lineNumber = serializers.IntegerField(min_value=1)
    qty = serializers.DecimalField(
        max_digits=18, decimal_places=3, help_text="In the order line's unit (as ordered)."
    )


class PackedPackageSerializer(serializers.Serializer):
    packageType = serializers.CharField(max_length=32)
    weightKg = serializers.DecimalField(max_digits=10, decimal_places=3)
    lines = PackedLineSerializer(many=True, allow_empty=False)


class PackConfirmationInputSerializer(serializers.Serializer):
    orderId = serializers.UUIDField()
    packages = PackedPackageSerializer(many=True, allow_empty=False)


class ShipmentConfirmationInputSerializer(serializers.Serializer):
    orderIds = serializers.ListField(child=serializers.UUIDField(), allow_empty=False)
    dockDoor = serializers.CharField(max_length=32)
    carrier = serializers.CharField(max_length=100, required=False, allow_blank=True)
    trackingRef = serializers.CharField(max_length=100, required=False, allow_blank=True)
    departedAt = AwareDateTimeField(required=False, allow_null=True)
