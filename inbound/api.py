"""Inbound API: ASNs and receipts (CONTRACT.md "Inbound").

Who may call (people need the inbound model permissions and see the warehouses
they were granted; external systems are checked by type and granted warehouses):

- ``POST /inbound-shipments`` (an ASN): people with ``inbound.add_inboundshipment``
  and **finance** systems. The corporate financial system (the ERP that owns
  purchase orders) is the system that knows what suppliers will deliver; store
  systems do not send ASNs, and automation systems only move goods.
- ``POST /inbound-shipments/{id}/receipts``: people with ``inbound.add_receipt``
  and **automation** systems (automated receiving, e.g. a scan tunnel at the
  dock, reports what physically arrived).
- ``GET``: people with ``inbound.view_inboundshipment``, finance and automation.

Both POSTs require ``Idempotency-Key``.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.models import DockDoor
from wms.exceptions import BusinessValidationError
from wms.idempotency import idempotent
from wms.pagination import CursorPagination
from wms.permissions import ActorPermission
from wms.scoping import warehouse_for_actor, warehouses_visible_to

from . import selectors
from .models import InboundStatus
from .serializers import (
    AsnCreateInputSerializer,
    AsnFilterSerializer,
    AsnOutputSerializer,
    ReceiptCreateInputSerializer,
    ReceiptOutputSerializer,
)
from .services import AsnLineSpec, ReceiptLineSpec, inbound_shipment_create, receipt_post

ASN_WRITERS = ("finance",)
RECEIPT_WRITERS = ("automation",)
READERS = ("finance", "automation")


def _target_warehouse(request, code: str | None):
    """The named warehouse (403 if not granted), else the only one the caller may use."""
    if code:
        return warehouse_for_actor(request.user, code)
    candidates = list(warehouses_visible_to(request.user)[:2])
    if len(candidates) != 1:
        raise BusinessValidationError(
            "Say which warehouse the ASN is for.",
            code="warehouse_required",
            errors=[{"field": "warehouse", "code": "required", "message": "warehouse code"}],
        )
    return candidates[0]


_LIST_PARAMS = [
    OpenApiParameter("warehouse", str),
    OpenApiParameter("externalRef", str),
    OpenApiParameter("status", str, enum=InboundStatus.values),
    OpenApiParameter("supplier", str),
    OpenApiParameter("limit", int),
    OpenApiParameter("cursor", str),
]


class InboundShipmentListCreateApi(APIView):
    """``POST`` records an ASN (201); ``GET`` lists ASNs, newest first."""

    permission_classes = [ActorPermission]
    allowed_system_types = {"read": READERS, "write": ASN_WRITERS}
    required_user_perms = {
        "read": ("inbound.view_inboundshipment",),
        "write": ("inbound.add_inboundshipment",),
    }

    @extend_schema(
        tags=["inbound"],
        operation_id="inbound_shipments_list",
        parameters=_LIST_PARAMS,
        responses=AsnOutputSerializer(many=True),
    )
    def get(self, request):
        params = AsnFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        if data.get("warehouse"):
            warehouse_for_actor(request.user, data["warehouse"])
        qs = selectors.inbound_shipment_list(
            actor=request.user,
            warehouse_code=data.get("warehouse"),
            external_ref=data.get("externalRef"),
            status=data.get("status"),
            supplier=data.get("supplier"),
        )
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(AsnOutputSerializer(page, many=True).data)

    @extend_schema(
        tags=["inbound"],
        operation_id="inbound_shipments_create",
        request=AsnCreateInputSerializer,
        responses={
            201: AsnOutputSerializer,
            409: OpenApiResponse(description="duplicate_inbound_shipment (with existingId)"),
            422: OpenApiResponse(
                description="Unknown SKU or unit, unit without conversion, qty ≤ 0, repeated "
                "line number, warehouse_required"
            ),
        },
    )
    @idempotent
    def post(self, request):
        payload = AsnCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        shipment = inbound_shipment_create(
            warehouse=_target_warehouse(request, data.get("warehouse")),
            external_ref=data["externalRef"],
            supplier=data["supplier"],
            expected_arrival_at=data["expectedArrivalAt"],
            type=data["type"],
            lines=[
                AsnLineSpec(
                    line_number=line["lineNumber"],
                    sku=line["sku"],
                    qty_expected=line["qtyExpected"],
                    uom=line["uom"],
                )
                for line in data["lines"]
            ],
            actor=request.user,
        )
        shipment = selectors.inbound_shipment_get(actor=request.user, pk=shipment.pk)
        return Response(AsnOutputSerializer(shipment).data, status=http.HTTP_201_CREATED)


class InboundShipmentDetailApi(APIView):
    permission_classes = [ActorPermission]
    allowed_system_types = READERS
    required_user_perms = ("inbound.view_inboundshipment",)

    @extend_schema(tags=["inbound"], responses=AsnOutputSerializer)
    def get(self, request, shipment_id: int):
        shipment = selectors.inbound_shipment_get(actor=request.user, pk=shipment_id)
        return Response(AsnOutputSerializer(shipment).data)


class InboundShipmentReceiptCreateApi(APIView):
    """``POST`` registers a receipt against the ASN (201); ``GET`` lists its receipts."""

    permission_classes = [ActorPermission]
    allowed_system_types = {"read": READERS, "write": RECEIPT_WRITERS}
    required_user_perms = {
        "read": ("inbound.view_receipt",),
        "write": ("inbound.add_receipt",),
    }

    @extend_schema(
        tags=["inbound"],
        operation_id="inbound_shipment_receipts_list",
        responses=ReceiptOutputSerializer(many=True),
    )
    def get(self, request, shipment_id: int):
        shipment = selectors.inbound_shipment_get(actor=request.user, pk=shipment_id)
        receipts = shipment.receipts.select_related(
            "shipment", "receiving_location", "dock_door"
        ).prefetch_related("lines__item__base_uom", "lines__uom", "lines__inventory_status")
        return Response(ReceiptOutputSerializer(receipts.order_by("id"), many=True).data)

    @extend_schema(
        tags=["inbound"],
        operation_id="inbound_shipment_receipts_create",
        request=ReceiptCreateInputSerializer,
        responses={
            201: ReceiptOutputSerializer,
            404: OpenApiResponse(description="No such ASN (or not in a granted warehouse)"),
            409: OpenApiResponse(description="shipment_receiving_completed, no_receiving_location"),
            422: OpenApiResponse(
                description="unknown_line_number, unknown_status, qty ≤ 0 or too precise"
            ),
        },
    )
    @idempotent
    def post(self, request, shipment_id: int):
        payload = ReceiptCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        shipment = selectors.inbound_shipment_get(actor=request.user, pk=shipment_id)
        dock_door = None
        if data.get("dockDoor"):
            dock_door = DockDoor.objects.filter(
                warehouse=shipment.warehouse, code=data["dockDoor"]
            ).first()
            if dock_door is None:
                raise BusinessValidationError(
                    f"Unknown dock door '{data['dockDoor']}'.",
                    code="unknown_dock_door",
                    errors=[{"field": "dockDoor", "code": "unknown_dock_door", "message": ""}],
                )
        result = receipt_post(
            shipment=shipment,
            dock_door=dock_door,
            complete=data["complete"],
            lines=[
                ReceiptLineSpec(
                    line_number=line["lineNumber"],
                    qty=line["qtyReceived"],
                    status_code=line.get("status"),
                )
                for line in data["lines"]
            ],
            actor=request.user,
        )
        receipt = result.receipt
        receipt.shipment.refresh_from_db()
        body = ReceiptOutputSerializer(receipt, context={"exceptions": result.exceptions}).data
        return Response(body, status=http.HTTP_201_CREATED)
