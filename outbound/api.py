"""Store integration API: submit, read and cancel replenishment orders (CONTRACT.md).

Stores call with their token and only ever see their own orders (``storeCode``
= the store system's code); people need the outbound model permissions and see
the warehouses they were granted.
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from wms.exceptions import BusinessValidationError, NotFoundError
from wms.idempotency import idempotent
from wms.pagination import CursorPagination
from wms.permissions import ActorPermission
from wms.problems import problem_response
from wms.scoping import warehouses_visible_to

from . import selectors
from .models import OrderStatus
from .serializers import (
    OrderAcceptedOutputSerializer,
    OrderCancelInputSerializer,
    OrderCreateInputSerializer,
    OrderFilterSerializer,
    OrderOutputSerializer,
    order_accepted_body,
    order_create_input,
)
from .services import OrderLineInput, order_accept, order_cancel
from .services.shipping import shipment_as_dict
from .throttles import StoreRateThrottle

_BACKLOG_RETRY_AFTER_SECONDS = 5


def _calling_store(request):
    """The store system behind a token, None for a person."""
    system = getattr(request.user, "system", None)
    return system if system is not None and system.type == "store" else None


def _check_store_code(request, store_code: str) -> None:
    store = _calling_store(request)
    if store is not None and store.code != store_code:
        raise PermissionDenied(f"Store '{store.code}' may only use its own orders.")


def _order_or_404(request, order_id):
    order = selectors.order_get(actor=request.user, order_id=order_id)
    if order is None:
        raise NotFoundError("No such order.", code="order_not_found")
    _check_store_code(request, order.store_code)
    return order


def _listed_store_code(request, asked: str | None) -> str | None:
    """The store a list is for: a store token's own (403 when it asks for another)."""
    store = _calling_store(request)
    if store is None:
        return asked
    _check_store_code(request, asked or store.code)
    return store.code


def _target_warehouse(request, *, store_code: str, warehouse_code: str | None):
    """The warehouse an order goes to: the one granted to the store system (the
    ``warehouse`` field chooses when it has several)."""
    store = _calling_store(request)
    if store is not None:
        granted = request.user.warehouse_ids
        if len(granted) == 1 and not warehouse_code:
            # The common case, without a query: the one warehouse the store is served by.
            warehouse = selectors.warehouse_by_pk(next(iter(granted)))
            if warehouse is not None:
                return warehouse
    else:
        store = selectors.store_for_code(store_code)
        if store is None:
            raise BusinessValidationError(
                f"Unknown store '{store_code}'.",
                code="unknown_store",
                errors=[{"field": "storeCode", "code": "unknown_store", "message": store_code}],
            )
        granted = selectors.store_warehouse_ids(store)
    warehouses = warehouses_visible_to(request.user).filter(pk__in=granted)
    if warehouse_code:
        warehouse = warehouses.filter(code=warehouse_code).first()
        if warehouse is None:
            raise PermissionDenied(
                f"Store '{store_code}' is not served by warehouse '{warehouse_code}'."
            )
        return warehouse
    candidates = list(warehouses[:2])
    if not candidates:
        raise PermissionDenied(f"Store '{store_code}' is not served by any warehouse you may use.")
    if len(candidates) > 1:
        raise BusinessValidationError(
            f"Store '{store_code}' is served by several warehouses; say which.",
            code="warehouse_required",
            errors=[{"field": "warehouse", "code": "required", "message": "warehouse code"}],
        )
    return candidates[0]


_LIST_PARAMS = [
    OpenApiParameter("storeCode", str),
    OpenApiParameter("externalOrderId", str),
    OpenApiParameter("status", str, enum=OrderStatus.values),
    OpenApiParameter("limit", int),
    OpenApiParameter("cursor", str),
]


class ReplenishmentOrderListCreateApi(APIView):
    """``POST`` submits an order (202); ``GET`` lists orders, newest first."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("store",)
    required_user_perms = {
        "read": ("outbound.view_replenishmentorder",),
        "write": ("outbound.add_replenishmentorder",),
    }
    throttle_classes = [StoreRateThrottle]

    @extend_schema(
        tags=["store"],
        operation_id="replenishment_orders_list",
        parameters=_LIST_PARAMS,
        responses=OrderOutputSerializer(many=True),
    )
    def get(self, request):
        params = OrderFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        store_code = _listed_store_code(request, data.get("storeCode"))
        qs = selectors.order_list(
            actor=request.user,
            store_code=store_code,
            external_order_id=data.get("externalOrderId"),
            status=data.get("status"),
        )
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        body = OrderOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(body)

    @extend_schema(
        tags=["store"],
        operation_id="replenishment_orders_create",
        request=OrderCreateInputSerializer,
        responses={
            202: OrderAcceptedOutputSerializer,
            409: OpenApiResponse(description="duplicate_external_order (with existingOrderId)"),
            415: OpenApiResponse(description="Body is not application/json"),
            422: OpenApiResponse(description="Unknown SKU or unit, qty ≤ 0, repeated line"),
            429: OpenApiResponse(description="Store rate limit or planning backlog full"),
        },
    )
    @idempotent
    def post(self, request):
        data = order_create_input(request.data)
        _check_store_code(request, data["storeCode"])
        warehouse = _target_warehouse(
            request, store_code=data["storeCode"], warehouse_code=data.get("warehouse")
        )
        backlog = selectors.planning_backlog(warehouse_id=warehouse.pk)
        if backlog >= settings.WMS_PLANNING_BACKLOG_LIMIT:
            response = problem_response(
                status=429,
                code="planning_backlog_full",
                title="Too many orders are waiting for planning",
                detail=f"Warehouse {warehouse.code} has {backlog} orders waiting to be "
                "planned; retry later. Nothing was stored.",
            )
            response["Retry-After"] = str(_BACKLOG_RETRY_AFTER_SECONDS)
            return response
        order = order_accept(
            warehouse=warehouse,
            store_code=data["storeCode"],
            external_order_id=data["externalOrderId"],
            requested_ship_by=data.get("requestedShipBy"),
            priority=data.get("priority", 5),
            lines=[
                OrderLineInput(
                    line_number=line["lineNumber"],
                    sku=line["sku"],
                    qty=line["qty"],
                    uom=line.get("uom"),
                )
                for line in data["lines"]
            ],
        )
        body = order_accepted_body(request, order)
        return Response(
            body, status=http.HTTP_202_ACCEPTED, headers={"Location": body["statusUrl"]}
        )


class ReplenishmentOrderDetailApi(APIView):
    permission_classes = [ActorPermission]
    allowed_system_types = ("store",)
    required_user_perms = ("outbound.view_replenishmentorder",)
    throttle_classes = [StoreRateThrottle]

    @extend_schema(tags=["store"], responses=OrderOutputSerializer)
    def get(self, request, order_id):
        order = _order_or_404(request, order_id)
        return Response(OrderOutputSerializer(order, context={"request": request}).data)


class ReplenishmentOrderCancelApi(APIView):
    permission_classes = [ActorPermission]
    allowed_system_types = ("store",)
    required_user_perms = ("outbound.change_replenishmentorder",)
    throttle_classes = [StoreRateThrottle]

    @extend_schema(
        tags=["store"],
        request=OrderCancelInputSerializer,
        responses={
            200: OrderOutputSerializer,
            409: OpenApiResponse(description="order_not_cancellable: picking has started"),
        },
    )
    @idempotent
    def post(self, request, order_id):
        payload = OrderCancelInputSerializer(data=request.data or {})
        payload.is_valid(raise_exception=True)
        order = _order_or_404(request, order_id)
        actor = request.user if getattr(request.user, "system", None) is None else None
        order_cancel(
            order_id=order.pk, actor=actor, reason=payload.validated_data.get("reason", "")
        )
        order = selectors.order_get(actor=request.user, order_id=order.pk)
        return Response(OrderOutputSerializer(order, context={"request": request}).data)


class _ShipmentsOldestFirst(CursorPagination):
    ordering = "pk"  # uuid7: confirmation order, so ``next`` walks towards new shipments


class ShipmentFilterSerializer(serializers.Serializer):
    storeCode = serializers.CharField(max_length=64, required=False)
    since = serializers.DateTimeField(required=False)


@extend_schema(tags=["store"])
class ShipmentListApi(APIView):
    """``GET``: confirmed shipments (a store's token sees its own store only)."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("store",)
    required_user_perms = ("outbound.view_shipment",)

    @extend_schema(
        operation_id="shipments_list",
        parameters=[
            OpenApiParameter("storeCode", str),
            OpenApiParameter("since", str, description="ISO 8601: shipped at or after"),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses={
            200: OpenApiResponse(description="{results: [shipment], next}"),
            403: OpenApiResponse(description="a store asking for another store's shipments"),
        },
    )
    def get(self, request):
        params = ShipmentFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        store_code = _listed_store_code(request, data.get("storeCode"))
        qs = selectors.shipment_list(
            actor=request.user, store_code=store_code, since=data.get("since")
        )
        paginator = _ShipmentsOldestFirst()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response([shipment_as_dict(s) for s in page])
