"""The reference endpoint of ``bench/intake.py`` and the bench URLs (see ``intake_server``)."""

import json
from decimal import Decimal

from django.db import transaction
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView


class ReferenceOrderApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = []

    def post(self, request):
        from inventory.models import Item
        from outbound.models import ReplenishmentOrder, ReplenishmentOrderLine
        from wms.models import IdempotencyRecord, OutboxEvent

        data = request.data
        system = request.user.system
        warehouse_id = next(iter(request.user.warehouse_ids))
        items = {
            sku: (pk, uom_id)
            for sku, pk, uom_id in Item.objects.filter(
                warehouse_id=warehouse_id, sku__in=[ln["sku"] for ln in data["lines"]]
            ).values_list("sku", "pk", "base_uom_id")
        }
        with transaction.atomic():
            # bulk_create: a plain INSERT, no post_save (no history row).
            [order] = ReplenishmentOrder.objects.bulk_create(
                [
                    ReplenishmentOrder(
                        warehouse_id=warehouse_id,
                        store_code=data["storeCode"],
                        external_order_id=data["externalOrderId"],
                        priority=data.get("priority", 5),
                    )
                ]
            )
            ReplenishmentOrderLine.objects.bulk_create(
                [
                    ReplenishmentOrderLine(
                        order=order,
                        line_number=ln["lineNumber"],
                        item_id=items[ln["sku"]][0],
                        uom_id=items[ln["sku"]][1],
                        qty_requested=Decimal(str(ln["qty"])),
                        qty_requested_base=Decimal(str(ln["qty"])),
                    )
                    for ln in data["lines"]
                ]
            )
            OutboxEvent.objects.create(
                event_type="order.accepted",
                aggregate_type="ReplenishmentOrder",
                aggregate_id=str(order.pk),
                data={"orderId": str(order.pk), "externalOrderId": order.external_order_id},
            )
            body = {"id": str(order.pk), "externalOrderId": order.external_order_id}
            IdempotencyRecord.objects.create(
                scope=f"system:{system.pk}",
                key=request.headers["Idempotency-Key"],
                request_fingerprint="-",
                method="POST",
                path=request.path,
                response_status=202,
                response_body=json.dumps(body, separators=(",", ":")),
            )
        return Response(body, status=202)


class FloorApi(APIView):
    """The floor: a DRF view behind the same middleware that reads the body and answers
    202 with a small JSON body, touching no database, cache or token."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def post(self, request):
        return Response({"lines": len(request.data["lines"])}, status=202)


urlpatterns = [
    path("bench/reference-orders", ReferenceOrderApi.as_view()),
    path("bench/floor", FloorApi.as_view()),
    path("", include("wms.urls")),
]
