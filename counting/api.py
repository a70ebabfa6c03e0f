"""Count API (CONTRACT.md, "Inventory control"): open, record results, close, read.

Automation systems (RFID, drones) and people with the counting permissions of
their role (inventory controllers open and close; counters record) may count,
in the warehouses they were granted. Thin: input serializer → service →
output; every refusal is a problem detail from the service's domain error.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.selectors import zone_for_code
from wms.exceptions import BusinessValidationError
from wms.idempotency import HEADER, client_scope, idempotent
from wms.pagination import CursorPagination
from wms.permissions import ActorPermission
from wms.scoping import warehouse_for_actor

from . import selectors, services
from .serializers import (
    CountAdjustmentOutputSerializer,
    CountClosedOutputSerializer,
    CountDetailOutputSerializer,
    CountLineOutputSerializer,
    CountOpenedOutputSerializer,
    CountOpenInputSerializer,
    CountOutputSerializer,
    CountResultsInputSerializer,
)

_COUNTERS = ("automation",)


def _checked(serializer_class, data) -> dict:
    payload = serializer_class(data=data)
    payload.is_valid(raise_exception=True)
    return payload.validated_data


def _count_for(request, pk):
    count = selectors.count_get(actor=request.user, count_id=pk)
    warehouse_for_actor(request.user, count.warehouse.code)
    return count


def _opened_lines(count) -> list[dict]:
    """The lines as the contract lists them, straight from the database (a full count
    has 100,000: no model instances)."""
    rows = count.lines.order_by("pk").values_list(
        "pk", "location__code", "item__sku", "status__code", "qty_expected"
    )
    lines = []
    for pk, location, sku, status, expected in rows.iterator(chunk_size=5000):
        line = {"id": pk, "location": location, "sku": sku, "status": status}
        if not count.blind:
            line["qtyExpected"] = format(expected, "f")
        lines.append(line)
    return lines


_ERRORS = {
    403: OpenApiResponse(
        description="not granted the warehouse, or a recount by the first counter"
    ),
    404: OpenApiResponse(description="count_not_found"),
    409: OpenApiResponse(description="count_closed, recount_pending, idempotency_key_in_use"),
    422: OpenApiResponse(
        description="location_not_in_count, item_not_in_count, negative_quantity, "
        "unknown_location, unknown_sku, scope_required, nothing_to_count, idempotency_key_reused"
    ),
}


@extend_schema(
    tags=["counting"],
    parameters=[
        OpenApiParameter("warehouse", str, description="Warehouse code"),
        OpenApiParameter("status", str, description="OPEN, COUNTING, PENDING_APPROVAL, …"),
        OpenApiParameter("limit", int),
        OpenApiParameter("cursor", str),
    ],
)
class CountListCreateApi(ListAPIView):
    """List the counts of the caller's warehouses (newest first); open a count (201):
    one line per balance of the scope."""

    permission_classes = [ActorPermission]
    allowed_system_types = _COUNTERS
    required_user_perms = {
        "read": ("counting.view_inventorycount",),
        "write": ("counting.add_inventorycount",),
    }
    serializer_class = CountOutputSerializer
    pagination_class = CursorPagination
    filter_backends = []

    def get_queryset(self):
        params = self.request.query_params
        if params.get("warehouse"):
            warehouse_for_actor(self.request.user, params["warehouse"])
        qs = selectors.count_list(actor=self.request.user, warehouse_code=params.get("warehouse"))
        if params.get("status"):
            qs = qs.filter(status=params["status"])
        return qs

    @extend_schema(
        tags=["counting"],
        operation_id="counts_create",
        request=CountOpenInputSerializer,
        responses={201: CountOpenedOutputSerializer, **_ERRORS},
    )
    def post(self, request):
        data = _checked(CountOpenInputSerializer, request.data)
        warehouse = warehouse_for_actor(request.user, data["warehouse"])
        zone = None
        if data.get("zone"):
            zone = zone_for_code(warehouse=warehouse, code=data["zone"])
            if zone is None:
                raise BusinessValidationError(
                    f"Unknown zone {data['zone']}.",
                    errors=[{"field": "zone", "code": "unknown_zone", "message": data["zone"]}],
                )
        count = services.count_open(
            warehouse=warehouse,
            type=data["type"],
            blind=data["blind"],
            locations=data.get("locations") or None,
            zone=zone,
            skus=data.get("skus") or None,
            abc_class=data.get("abcClass", ""),
            not_counted_days=data.get("notCountedDays"),
            actor=request.user,
        )
        body = {**CountOutputSerializer(count).data, "lines": _opened_lines(count)}
        return Response(body, status=http.HTTP_201_CREATED)


class CountDetailApi(APIView):
    """A count with its lines (expected quantities hidden while a blind count runs)."""

    permission_classes = [ActorPermission]
    allowed_system_types = _COUNTERS
    required_user_perms = ("counting.view_inventorycount",)

    @extend_schema(
        tags=["counting"],
        operation_id="counts_retrieve",
        responses={200: CountDetailOutputSerializer},
    )
    def get(self, request, pk):
        count = _count_for(request, pk)
        return Response(_count_body(count, selectors.count_lines(count=count)))


def _count_body(count, lines) -> dict:
    blind = count.blind and count.is_active
    counted, total = selectors.count_progress(count_ids=[count.pk]).get(count.pk, (0, 0))
    return {
        **CountOutputSerializer(count).data,
        "progress": {"counted": counted, "total": total},
        "lines": CountLineOutputSerializer(lines, many=True, context={"blind": blind}).data,
    }


class CountResultsApi(APIView):
    """Record counted quantities (or "location empty"); Idempotency-Key required (200)."""

    permission_classes = [ActorPermission]
    allowed_system_types = _COUNTERS
    required_user_perms = ("counting.change_countline",)

    @extend_schema(
        tags=["counting"],
        operation_id="counts_results_create",
        request=CountResultsInputSerializer,
        responses={200: CountDetailOutputSerializer, **_ERRORS},
    )
    @idempotent
    def post(self, request, pk):
        count = _count_for(request, pk)
        data = _checked(CountResultsInputSerializer, request.data)
        recorded = services.count_result_record(
            count=count,
            lines=[
                {
                    "location": line["location"],
                    "sku": line.get("sku"),
                    "qty_counted": line.get("qtyCounted"),
                    "status": line.get("status"),
                    "empty": line.get("empty"),
                }
                for line in data["lines"]
            ],
            actor=request.user,
            request_key=f"api:count-results:{client_scope(request.user)}:"
            f"{request.headers.get(HEADER, '')}",
        )
        count = recorded.count
        return Response(_count_body(count, recorded.lines), status=http.HTTP_200_OK)


class CountCloseApi(APIView):
    """Reconcile and close: the adjustments of the true variances (200)."""

    permission_classes = [ActorPermission]
    allowed_system_types = _COUNTERS
    required_user_perms = ("counting.change_inventorycount",)

    @extend_schema(
        tags=["counting"],
        operation_id="counts_close",
        request=None,
        responses={200: CountClosedOutputSerializer, **_ERRORS},
    )
    def post(self, request, pk):
        count = _count_for(request, pk)
        closed = services.count_close(count=count, actor=request.user)
        return Response(
            {
                **CountOutputSerializer(closed.count).data,
                "adjustments": CountAdjustmentOutputSerializer(closed.adjustments, many=True).data,
            }
        )
