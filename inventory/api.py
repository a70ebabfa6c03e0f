"""Master-data reads for integrators (warehouses, items, locations)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView

from wms.permissions import ActorPermission
from wms.scoping import warehouse_for_actor

from . import selectors
from .serializers import (
    ItemOutputSerializer,
    LocationOutputSerializer,
    MasterDataFilterSerializer,
    WarehouseOutputSerializer,
)

_READERS = ("store", "automation", "finance")


class _MasterDataListApi(ListAPIView):
    permission_classes = [ActorPermission]
    allowed_system_types = _READERS
    filter_backends = []

    def filters(self) -> dict:
        params = MasterDataFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        if data.get("warehouse"):
            # An explicit warehouse the caller was not granted is a 403, not an empty list.
            warehouse_for_actor(self.request.user, data["warehouse"])
        return data


@extend_schema(tags=["master data"])
class WarehouseListApi(_MasterDataListApi):
    serializer_class = WarehouseOutputSerializer
    required_user_perms = ("inventory.view_warehouse",)
    pagination_class = None

    def get_queryset(self):
        return selectors.warehouse_list(actor=self.request.user)


_WAREHOUSE_PARAM = OpenApiParameter("warehouse", str, description="Warehouse code")


@extend_schema(tags=["master data"], parameters=[_WAREHOUSE_PARAM, OpenApiParameter("sku", str)])
class ItemListApi(_MasterDataListApi):
    serializer_class = ItemOutputSerializer
    required_user_perms = ("inventory.view_item",)

    def get_queryset(self):
        f = self.filters()
        return selectors.item_list(
            actor=self.request.user, warehouse_code=f.get("warehouse"), sku=f.get("sku")
        )


@extend_schema(tags=["master data"], parameters=[_WAREHOUSE_PARAM, OpenApiParameter("type", str)])
class LocationListApi(_MasterDataListApi):
    serializer_class = LocationOutputSerializer
    required_user_perms = ("inventory.view_location",)

    def get_queryset(self):
        f = self.filters()
        return selectors.location_list(
            actor=self.request.user, warehouse_code=f.get("warehouse"), location_type=f.get("type")
        )
