from django.urls import path

from . import api

urlpatterns = [
    path("warehouses", api.WarehouseListApi.as_view(), name="warehouse-list"),
    path("items", api.ItemListApi.as_view(), name="item-list"),
    path("locations", api.LocationListApi.as_view(), name="location-list"),
]
