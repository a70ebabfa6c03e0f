"""Adjustments API (CONTRACT.md, Inventory control).

``POST /api/v1/inventory/adjustments`` (Idempotency-Key): automation systems and
people with ``inventory.add_inventoryadjustment`` (inventory controllers), in
their warehouses → 201 ``{id, adjustmentNumber, status, ledgerEntryIds}``.
``GET /api/v1/inventory/adjustments[/{id}]``: the adjustments of the caller's
warehouses. ``POST …/{id}/approve`` and ``…/{id}/reject`` (Idempotency-Key):
people with ``inventory.approve_inventoryadjustment`` only, never the requester
(``inventory.services.adjustments`` decides; the view only translates).
"""

import hashlib

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from wms.exceptions import NotFoundError
from wms.idempotency import idempotent
from wms.pagination import CursorPagination
from wms.permissions import ActorPermission
from wms.scoping import scope_by_warehouse, warehouse_for_actor

from . import services
from .api import _checked, _posting_key, _resolve, _target_warehouse
from .models import AdjustmentSource, AdjustmentState, InventoryAdjustment

_QTY = {"max_digits": 18, "decimal_places": 3, "coerce_to_string": True}


# --- serializers ------------------------------------------------------------------------


class AdjustmentInputSerializer(serializers.Serializer):
    warehouse = serializers.CharField(
        required=False,
        max_length=32,
        help_text="Warehouse code; may be left out by a client granted exactly one warehouse.",
    )
    sku = serializers.CharField(max_length=64)
    location = serializers.CharField(max_length=64)
    status = serializers.CharField(max_length=32, required=False, default="AVAILABLE")
    qtyDelta = serializers.DecimalField(
        max_digits=18, decimal_places=3, help_text="Signed: negative for a loss, not zero."
    )
    reasonCode = serializers.CharField(max_length=32, help_text="A reason code for adjustments.")
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)
    sourceRef = serializers.CharField(required=False, max_length=128, default="", allow_blank=True)

    def validate_qtyDelta(self, value):
        if value == 0:
            raise serializers.ValidationError("Must not be zero.", code="zero")
        return value


class AdjustmentCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    adjustmentNumber = serializers.CharField()
    status = serializers.ChoiceField(choices=AdjustmentState.choices)
    ledgerEntryIds = serializers.ListField(child=serializers.IntegerField())


class AdjustmentDecisionOutputSerializer(serializers.Serializer):
    decision = serializers.CharField()
    decidedBy = serializers.CharField()
    decidedAt = serializers.DateTimeField()
    note = serializers.CharField()


class AdjustmentOutputSerializer(AdjustmentCreatedSerializer):
    warehouse = serializers.CharField()
    sku = serializers.CharField()
    location = serializers.CharField()
    inventoryStatus = serializers.CharField()
    qtyDelta = serializers.DecimalField(**_QTY)
    reasonCode = serializers.CharField()
    note = serializers.CharField()
    unitCost = serializers.DecimalField(max_digits=14, decimal_places=4, coerce_to_string=True)
    value = serializers.DecimalField(max_digits=20, decimal_places=4, coerce_to_string=True)
    currency = serializers.CharField()
    requestedBy = serializers.CharField()
    source = serializers.ChoiceField(choices=AdjustmentSource.choices)
    sourceRef = serializers.CharField()
    correlationId = serializers.CharField()
    createdAt = serializers.DateTimeField()
    appliedAt = serializers.DateTimeField(allow_null=True)
    decision = AdjustmentDecisionOutputSerializer(allow_null=True)


class AdjustmentFilterSerializer(serializers.Serializer):
    warehouse = serializers.CharField(required=False, max_length=32)
    status = serializers.ChoiceField(required=False, choices=AdjustmentState.choices)
    reasonCode = serializers.CharField(required=False, max_length=32)
    sku = serializers.CharField(required=False, max_length=64)


class AdjustmentDecisionInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


def _created(adjustment: InventoryAdjustment) -> dict:
    return {
        "id": adjustment.pk,
        "adjustmentNumber": adjustment.adjustment_number,
        "status": adjustment.state,
        "ledgerEntryIds": adjustment.ledger_entry_ids,
    }


def adjustment_as_dict(adjustment: InventoryAdjustment) -> dict:
    """The API's full view of an adjustment (related rows selected by the caller)."""
    approval = getattr(adjustment, "approval", None)
    return {
        **_created(adjustment),
        "warehouse": adjustment.warehouse.code,
        "sku": adjustment.item.sku,
        "location": adjustment.location.code,
        "inventoryStatus": adjustment.status.code,
        "qtyDelta": adjustment.qty_delta,
        "reasonCode": adjustment.reason_code.code,
        "note": adjustment.note,
        "unitCost": adjustment.unit_cost,
        "value": adjustment.value,
        "currency": adjustment.warehouse.currency,
        "requestedBy": adjustment.requested_by_label,
        "source": adjustment.source,
        "sourceRef": adjustment.source_ref,
        "correlationId": adjustment.correlation_id,
        "createdAt": adjustment.created_at,
        "appliedAt": adjustment.applied_at,
        "decision": None
        if approval is None
        else {
            "decision": approval.decision,
            "decidedBy": approval.decided_by.get_username(),
            "decidedAt": approval.decided_at,
            "note": approval.note,
        },
    }


# --- views ------------------------------------------------------------------------------

_RELATED = ("warehouse", "item", "location", "status", "reason_code", "approval__decided_by")


def _visible_adjustments(actor):
    return scope_by_warehouse(InventoryAdjustment.objects.select_related(*_RELATED), actor)


def _adjustment_for(actor, adjustment_id: int) -> InventoryAdjustment:
    """The adjustment if the caller may see its warehouse; 404 otherwise (no leak)."""
    adjustment = _visible_adjustments(actor).filter(pk=adjustment_id).first()
    if adjustment is None:
        raise NotFoundError(f"No adjustment {adjustment_id}.", code="adjustment_not_found")
    adjustment.ledger_entry_ids = adjustment.ledger_entry_id_list()
    return adjustment


def _request_key(request) -> str:
    """From the client's Idempotency-Key: one adjustment per key, even past the
    idempotency record's retention; hashed when too long for the column."""
    key = _posting_key(request, "adjustment")
    if len(key) > 255:
        key = "api:adjustment:sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


class _Cursor(CursorPagination):
    ordering = "-id"


@extend_schema(tags=["inventory control"])
class AdjustmentListCreateApi(ListAPIView):
    """Adjustments of the caller's warehouses, newest first; POST requests one."""

    permission_classes = [ActorPermission]
    allowed_system_types = {"read": ("automation", "finance"), "write": ("automation",)}
    required_user_perms = {
        "read": ("inventory.view_inventoryadjustment",),
        "write": ("inventory.add_inventoryadjustment",),
    }
    serializer_class = AdjustmentOutputSerializer
    pagination_class = _Cursor
    filter_backends = []

    @extend_schema(
        parameters=[
            OpenApiParameter("warehouse", str, description="Warehouse code"),
            OpenApiParameter("status", str, description="PENDING_APPROVAL, APPLIED or REJECTED"),
            OpenApiParameter("reasonCode", str),
            OpenApiParameter("sku", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        f = _checked(AdjustmentFilterSerializer, self.request.query_params)
        queryset = _visible_adjustments(self.request.user)
        if f.get("warehouse"):
            queryset = queryset.filter(
                warehouse=warehouse_for_actor(self.request.user, f["warehouse"])
            )
        if f.get("status"):
            queryset = queryset.filter(state=f["status"])
        if f.get("reasonCode"):
            queryset = queryset.filter(reason_code__code=f["reasonCode"])
        if f.get("sku"):
            queryset = queryset.filter(item__sku=f["sku"])
        return queryset

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        for adjustment in page:
            adjustment.ledger_entry_ids = adjustment.ledger_entry_id_list()
        rows = [adjustment_as_dict(adjustment) for adjustment in page]
        return self.get_paginated_response(AdjustmentOutputSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="inventory_adjustments_create",
        request=AdjustmentInputSerializer,
        responses={
            201: AdjustmentCreatedSerializer,
            409: OpenApiResponse(
                description="insufficient_available (on hand would go below reserved), "
                "idempotency_key_in_use"
            ),
            422: OpenApiResponse(
                description="invalid_reason_code, unknown_sku / unknown_location / "
                "unknown_status, warehouse_required, invalid_quantity, idempotency_key_reused"
            ),
        },
    )
    @idempotent
    def post(self, request):
        data = _checked(AdjustmentInputSerializer, request.data)
        warehouse = _target_warehouse(request.user, data.get("warehouse"))
        item, locations, statuses = _resolve(
            warehouse,
            sku=data["sku"],
            locations={"location": data["location"]},
            statuses={"status": data["status"]},
        )
        adjustment = services.adjustment_request(
            warehouse=warehouse,
            item=item,
            location=locations["location"],
            status=statuses["status"],
            qty_delta=data["qtyDelta"],
            reason_code=data["reasonCode"],
            note=data["note"],
            actor=request.user,
            source=AdjustmentSource.API,
            source_ref=data["sourceRef"],
            request_key=_request_key(request),
        )
        return Response(
            AdjustmentCreatedSerializer(_created(adjustment)).data, status=http.HTTP_201_CREATED
        )


class AdjustmentDetailApi(APIView):
    """One adjustment, with its decision when it had one."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("automation", "finance")
    required_user_perms = ("inventory.view_inventoryadjustment",)

    @extend_schema(
        tags=["inventory control"],
        responses={200: AdjustmentOutputSerializer, 404: OpenApiResponse(description="not found")},
    )
    def get(self, request, adjustment_id: int):
        adjustment = _adjustment_for(request.user, adjustment_id)
        return Response(AdjustmentOutputSerializer(adjustment_as_dict(adjustment)).data)


_DECISION_RESPONSES = {
    200: AdjustmentOutputSerializer,
    403: OpenApiResponse(description="approval_not_permitted, self_approval_forbidden"),
    404: OpenApiResponse(description="adjustment_not_found"),
    409: OpenApiResponse(
        description="adjustment_already_decided, insufficient_available, idempotency_key_in_use"
    ),
    422: OpenApiResponse(description="note_required (reject), idempotency_key_reused"),
}


class _AdjustmentDecisionApi(APIView):
    """A second person decides a pending adjustment (people only, never the requester)."""

    permission_classes = [ActorPermission]
    allowed_system_types = ()
    required_user_perms = (services.APPROVE_PERMISSION,)
    decide = None  # the service

    def _decide(self, request, adjustment_id: int) -> Response:
        data = _checked(AdjustmentDecisionInputSerializer, request.data)
        _adjustment_for(request.user, adjustment_id)  # 404 outside the caller's warehouses
        type(self).decide(adjustment_id=adjustment_id, approver=request.user, note=data["note"])
        adjustment = _adjustment_for(request.user, adjustment_id)
        return Response(AdjustmentOutputSerializer(adjustment_as_dict(adjustment)).data)


class AdjustmentApproveApi(_AdjustmentDecisionApi):
    decide = services.adjustment_approve

    @extend_schema(
        tags=["inventory control"],
        operation_id="inventory_adjustments_approve",
        request=AdjustmentDecisionInputSerializer,
        responses=_DECISION_RESPONSES,
    )
    @idempotent
    def post(self, request, adjustment_id: int):
        return self._decide(request, adjustment_id)


class AdjustmentRejectApi(_AdjustmentDecisionApi):
    decide = services.adjustment_reject

    @extend_schema(
        tags=["inventory control"],
        operation_id="inventory_adjustments_reject",
        request=AdjustmentDecisionInputSerializer,
        responses=_DECISION_RESPONSES,
    )
    @idempotent
    def post(self, request, adjustment_id: int):
        return self._decide(request, adjustment_id)
