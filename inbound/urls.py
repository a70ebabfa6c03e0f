"""``/api/v1/`` routes of the inbound context."""

from django.urls import path

from . import api

urlpatterns = [
    path(
        "inbound-shipments",
        api.InboundShipmentListCreateApi.as_view(),
        name="inbound-shipment-list",
    ),
    path(
        "inbound-shipments/<int:shipment_id>",
        api.InboundShipmentDetailApi.as_view(),
        name="inbound-shipment-detail",
    ),
    path(
        "inbound-shipments/<int:shipment_id>/receipts",
        api.InboundShipmentReceiptCreateApi.as_view(),
        name="inbound-shipment-receipts",
    ),
]
