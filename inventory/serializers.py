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
