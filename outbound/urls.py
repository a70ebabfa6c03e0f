from django.urls import path

from . import api, label_views

urlpatterns = [
    path("packages/<uuid:pk>/label", label_views.PackageLabelApi.as_view(), name="package-label"),
    path(
        "shipments/<uuid:pk>/packing-list",
        label_views.ShipmentPackingListApi.as_view(),
        name="shipment-packing-list",
    ),
    path(
        "replenishment-orders",
        api.ReplenishmentOrderListCreateApi.as_view(),
        name="replenishment-order-list",
    ),
    path(
        "replenishment-orders/<uuid:order_id>",
        api.ReplenishmentOrderDetailApi.as_view(),
        name="replenishment-order-detail",
    ),
    path(
        "replenishment-orders/<uuid:order_id>/cancel",
        api.ReplenishmentOrderCancelApi.as_view(),
        name="replenishment-order-cancel",
    ),
    path("shipments", api.ShipmentListApi.as_view(), name="shipment-list"),
]
