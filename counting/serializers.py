"""Input and output of the count API (camelCase at the boundary, CONTRACT.md)."""

from rest_framework import serializers

from .models import CountLineState, CountType

_QTY = {"max_digits": 18, "decimal_places": 3, "coerce_to_string": True}


class CountOpenInputSerializer(serializers.Serializer):
    warehouse = serializers.CharField(max_length=32)
    type = serializers.ChoiceField(choices=CountType.choices)
    blind = serializers.BooleanField(required=False, default=True)
    locations = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, allow_empty=True
    )
    zone = serializers.CharField(max_length=32, required=False)
    skus = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, allow_empty=True
    )
    abcClass = serializers.CharField(max_length=32, required=False)
    notCountedDays = serializers.IntegerField(min_value=0, required=False)


class CountResultLineSerializer(serializers.Serializer):
    location = serializers.CharField(max_length=128)
    sku = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    # No minimum here: a negative count is a business refusal (422 negative_quantity).
    qtyCounted = serializers.DecimalField(
        max_digits=18, decimal_places=3, required=False, allow_null=True
    )
    status = serializers.CharField(max_length=32, required=False, allow_blank=True)
    empty = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Nothing (else) at the location: its lines not counted yet count 0.",
    )


class CountResultsInputSerializer(serializers.Serializer):
    lines = CountResultLineSerializer(many=True, allow_empty=False)


class CountLineOutputSerializer(serializers.Serializer):
    """A line; ``qtyExpected`` (and the variance) only when the count is not blind."""

    id = serializers.IntegerField(source="pk")
    location = serializers.CharField(source="location.code")
    sku = serializers.CharField(source="item.sku", allow_null=True, default=None)
    status = serializers.CharField(source="status.code", allow_null=True, default=None)
    state = serializers.CharField()
    qtyExpected = serializers.DecimalField(source="qty_expected", **_QTY)
    qtyCounted = serializers.DecimalField(source="final_qty", allow_null=True, **_QTY)
    variance = serializers.DecimalField(allow_null=True, **_QTY)
    adjustment = serializers.CharField(
        source="adjustment.adjustment_number", allow_null=True, default=None
    )

    def to_representation(self, line):
        data = super().to_representation(line)
        if self.context.get("blind"):
            data.pop("qtyExpected")
            data.pop("variance")
            if line.state == CountLineState.RECOUNT_REQUIRED:
                data["qtyCounted"] = None  # the recount stays independent of it
        return data


class CountOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    countNumber = serializers.CharField(source="count_number")
    warehouse = serializers.CharField(source="warehouse.code")
    type = serializers.CharField()
    blind = serializers.BooleanField()
    status = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)


class CountAdjustmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    adjustmentNumber = serializers.CharField(source="adjustment_number")
    status = serializers.CharField(source="state")
    location = serializers.CharField(source="location.code")
    sku = serializers.CharField(source="item.sku")
    inventoryStatus = serializers.CharField(source="status.code")
    qtyDelta = serializers.DecimalField(source="qty_delta", **_QTY)


# --- response shapes for the OpenAPI schema (the views build the bodies) ----------------


class CountProgressSerializer(serializers.Serializer):
    counted = serializers.IntegerField()
    total = serializers.IntegerField()


class CountOpenedLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    location = serializers.CharField()
    sku = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    qtyExpected = serializers.DecimalField(
        required=False, help_text="Absent when the count is blind.", **_QTY
    )


class CountOpenedOutputSerializer(CountOutputSerializer):
    lines = CountOpenedLineSerializer(many=True)


class CountDetailOutputSerializer(CountOutputSerializer):
    progress = CountProgressSerializer()
    lines = CountLineOutputSerializer(many=True)


class CountClosedOutputSerializer(CountOutputSerializer):
    adjustments = CountAdjustmentOutputSerializer(many=True)
