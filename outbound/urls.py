from django.urls import path

from . import api

urlpatterns = [
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
]
