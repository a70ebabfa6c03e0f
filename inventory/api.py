"""Inventory API: master-data reads, stock balances and ledger, moves and status transfers."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from wms.exceptions import BusinessValidationError
from wms.idempotency import HEADER, client_scope, idempotent
from wms.pagination import CursorPagination
from wms.permissions import ActorPermission
from wms.scoping import warehouse_for_actor, warehouses_visible_to

from . import selectors, services
from .serializers import (
    BalanceFilterSerializer,
    BalanceOutputSerializer,
    ItemOutputSerializer,
    LedgerEntryOutputSerializer,
    LedgerFilterSerializer,
    LocationOutputSerializer,
    MasterDataFilterSerializer,
    MoveInputSerializer,
    PostingOutputSerializer,
    StatusTransferInputSerializer,
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


# --- stock: balances, ledger, moves, status transfers --------------------------
#
# Reads: people with the model's view permission, and store, automation and
# finance systems, in their warehouses. Writes: people who may change balances
# (inventory controllers, administrators) and automation systems. Every write
# needs an Idempotency-Key and goes through ``inventory.services``.

_STOCK_WRITERS = ("automation",)
_WRITE_PERMS = ("inventory.change_inventorybalance",)


class _AscendingCursor(CursorPagination):
    ordering = "id"


class _LedgerCursor(CursorPagination):
    # Time order (then id): ``since`` and the order use one index; postings of
    # one transaction share their timestamp and keep their id order.
    ordering = ("occurred_at", "id")


def _checked(serializer_class, data):
    params = serializer_class(data=data)
    params.is_valid(raise_exception=True)
    return params.validated_data


def _target_warehouse(actor, code: str | None):
    """The named warehouse (403 if not granted), else the only one the caller may use."""
    if code:
        return warehouse_for_actor(actor, code)
    candidates = list(warehouses_visible_to(actor)[:2])
    if len(candidates) != 1:
        raise BusinessValidationError(
            "Say which warehouse: this client may use more than one.",
            code="warehouse_required",
            errors=[{"field": "warehouse", "code": "required", "message": "warehouse code"}],
        )
    return candidates[0]


def _resolve(warehouse, *, sku: str, locations: dict[str, str], statuses: dict[str, str]):
    """Codes → rows of ``warehouse``; every unknown code is reported at once (422)."""
    errors = []
    item = selectors.item_for_sku(warehouse=warehouse, sku=sku)
    if item is None:
        errors.append({"field": "sku", "code": "unknown_sku", "message": f"Unknown SKU {sku}."})
    found_locations = {}
    for field_name, code in locations.items():
        found_locations[field_name] = selectors.location_for_code(warehouse=warehouse, code=code)
        if found_locations[field_name] is None:
            errors.append(
                {
                    "field": field_name,
                    "code": "unknown_location",
                    "message": f"Unknown location {code} in {warehouse.code}.",
                }
            )
    found_statuses = {}
    for field_name, code in statuses.items():
        found_statuses[field_name] = selectors.status_for_code(code=code)
        if found_statuses[field_name] is None:
            errors.append(
                {
                    "field": field_name,
                    "code": "unknown_status",
                    "message": f"Unknown inventory status {code}.",
                }
            )
    if errors:
        raise BusinessValidationError("Unknown codes in the request.", errors=errors)
    return item, found_locations, found_statuses


def _posted(result) -> Response:
    body = {
        "postingKey": result.posting.posting_key,
        "ledgerEntryIds": result.entry_ids,
        "entries": selectors.ledger_rows_for_ids(entry_ids=result.entry_ids),
    }
    return Response(PostingOutputSerializer(body).data, status=http.HTTP_201_CREATED)


def _posting_key(request, operation: str) -> str:
    """Derived from the client's Idempotency-Key: the posting stays once-only even after
    the idempotency record's retention has passed."""
    key = request.headers.get(HEADER, "")
    return f"api:{operation}:{client_scope(request.user)}:{key}"


_POSTING_ERRORS = {
    201: PostingOutputSerializer,
    409: OpenApiResponse(
        description="insufficient_available (with available and requested), idempotency_key_in_use"
    ),
    422: OpenApiResponse(
        description="unknown_sku / unknown_location / unknown_status, warehouse_required, "
        "warehouse_mismatch, location_inactive, idempotency_key_reused"
    ),
}


@extend_schema(
    tags=["inventory"],
    parameters=[
        _WAREHOUSE_PARAM,
        OpenApiParameter("sku", str),
        OpenApiParameter("location", str, description="Location code"),
        OpenApiParameter("status", str, description="Inventory status code"),
        OpenApiParameter("includeEmpty", bool, description="Also rows with nothing on hand"),
        OpenApiParameter("limit", int),
        OpenApiParameter("cursor", str),
    ],
)
class BalanceListApi(ListAPIView):
    """What is where: on hand, reserved and available per item, location and status."""

    permission_classes = [ActorPermission]
    allowed_system_types = _READERS
    required_user_perms = ("inventory.view_inventorybalance",)
    serializer_class = BalanceOutputSerializer
    pagination_class = _AscendingCursor
    filter_backends = []

    def get_queryset(self):
        f = _checked(BalanceFilterSerializer, self.request.query_params)
        if f.get("warehouse"):
            warehouse_for_actor(self.request.user, f["warehouse"])
        return selectors.balance_rows(
            actor=self.request.user,
            warehouse_code=f.get("warehouse"),
            sku=f.get("sku"),
            location_code=f.get("location"),
            status_code=f.get("status"),
            include_empty=f["includeEmpty"],
        )


@extend_schema(
    tags=["inventory"],
    parameters=[
        _WAREHOUSE_PARAM,
        OpenApiParameter("sku", str),
        OpenApiParameter("location", str, description="Location code"),
        OpenApiParameter("since", str, description="ISO 8601 instant with offset"),
        OpenApiParameter("postingKey", str),
        OpenApiParameter("sourceRef", str),
        OpenApiParameter("limit", int),
        OpenApiParameter("cursor", str),
    ],
)
class LedgerListApi(ListAPIView):
    """The append-only postings in time order, oldest first; follow ``next`` to read on."""

    permission_classes = [ActorPermission]
    allowed_system_types = _READERS
    required_user_perms = ("inventory.view_inventoryledgerentry",)
    serializer_class = LedgerEntryOutputSerializer
    pagination_class = _LedgerCursor
    filter_backends = []

    def get_queryset(self):
        f = _checked(LedgerFilterSerializer, self.request.query_params)
        if f.get("warehouse"):
            warehouse_for_actor(self.request.user, f["warehouse"])
        return selectors.ledger_rows(
            actor=self.request.user,
            warehouse_code=f.get("warehouse"),
            sku=f.get("sku"),
            location_code=f.get("location"),
            since=f.get("since"),
            posting_key=f.get("postingKey"),
            source_ref=f.get("sourceRef"),
        )


class MoveCreateApi(APIView):
    """Move available stock between two locations of one warehouse (201, ledger entry ids)."""

    permission_classes = [ActorPermission]
    allowed_system_types = _STOCK_WRITERS
    required_user_perms = _WRITE_PERMS

    @extend_schema(
        tags=["inventory"],
        operation_id="inventory_moves_create",
        request=MoveInputSerializer,
        responses=_POSTING_ERRORS,
    )
    @idempotent
    def post(self, request):
        data = _checked(MoveInputSerializer, request.data)
        warehouse = _target_warehouse(request.user, data.get("warehouse"))
        item, locations, statuses = _resolve(
            warehouse,
            sku=data["sku"],
            locations={"fromLocation": data["fromLocation"], "toLocation": data["toLocation"]},
            statuses={"status": data["status"]},
        )
        result = services.stock_move(
            item=item,
            from_location=locations["fromLocation"],
            to_location=locations["toLocation"],
            status=statuses["status"],
            qty=data["qty"],
            posting_key=_posting_key(request, "move"),
            source_ref=data["sourceRef"],
            actor=request.user,
        )
        return _posted(result)


class StatusTransferCreateApi(APIView):
    """Change the status of available stock in one location (201, ledger entry ids)."""

    permission_classes = [ActorPermission]
    allowed_system_types = _STOCK_WRITERS
    required_user_perms = _WRITE_PERMS

    @extend_schema(
        tags=["inventory"],
        operation_id="inventory_status_transfers_create",
        request=StatusTransferInputSerializer,
        responses=_POSTING_ERRORS,
    )
    @idempotent
    def post(self, request):
        data = _checked(StatusTransferInputSerializer, request.data)
        warehouse = _target_warehouse(request.user, data.get("warehouse"))
        item, locations, statuses = _resolve(
            warehouse,
            sku=data["sku"],
            locations={"location": data["location"]},
            statuses={"fromStatus": data["fromStatus"], "toStatus": data["toStatus"]},
        )
        result = services.stock_status_transfer(
            item=item,
            location=locations["location"],
            from_status=statuses["fromStatus"],
            to_status=statuses["toStatus"],
            qty=data["qty"],
            posting_key=_posting_key(request, "status-transfer"),
            source_ref=data["sourceRef"],
            actor=request.user,
            reason_code=data["reasonCode"],
        )
        return _posted(result)
