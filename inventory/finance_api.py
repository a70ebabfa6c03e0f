"""The finance feed: ``GET /api/v1/finance/events`` (CONTRACT.md, Finance).

Finance systems (token of a ``finance`` system, in the warehouses it was
granted) and people with ``inventory.view_financeevent`` (the finance role; in
their warehouses, superusers in all) page through the events with
``after=<cursor>``: JSON ``{"events": [...], "next": cursor}``, or with
``Accept: text/csv`` the same events as CSV rows; both streamed, the next
cursor also in the ``X-Next-Cursor`` header. Why a page never skips nor repeats an event, also
while writers commit: ``inventory.finance``.
"""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.views import APIView

from wms.exceptions import BusinessValidationError
from wms.permissions import ActorPermission
from wms.problems import PROBLEM_CONTENT_TYPE
from wms.scoping import warehouse_for_actor, warehouses_visible_to

from .finance import (
    FEED_LIMIT_DEFAULT,
    FEED_LIMIT_MAX,
    finance_cursor,
    finance_cursor_sequence,
    finance_feed_csv,
    finance_feed_end,
    finance_feed_json,
    finance_feed_rows,
)
from .models import FinanceEventType

NEXT_CURSOR_HEADER = "X-Next-Cursor"


class InvalidLimit(BusinessValidationError):
    status = 400
    code = "invalid_limit"
    title = "Invalid limit"


class CsvRenderer(BaseRenderer):
    """Negotiates ``text/csv``. Pages stream past the renderers (``StreamingHttpResponse``);
    only problem details are rendered, and they stay JSON (their content type says so)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, "application/json", renderer_context)


# --- the schema (the rows are shaped by inventory.finance, not by these) ---------------


class FinanceLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    qty = serializers.DecimalField(max_digits=18, decimal_places=3, coerce_to_string=True)
    uom = serializers.CharField()
    unitCost = serializers.DecimalField(max_digits=14, decimal_places=4, coerce_to_string=True)
    amount = serializers.DecimalField(
        max_digits=20,
        decimal_places=4,
        coerce_to_string=True,
        help_text="qty times unitCost in the event's currency; negative for a loss.",
    )


class FinanceReferenceOutputSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="What the event is about, e.g. shipment.")
    id = serializers.CharField()
    number = serializers.CharField(help_text="Its human number (shipment number…), or empty.")


class FinanceEventOutputSerializer(serializers.Serializer):
    sequence = serializers.IntegerField(help_text="Strictly increasing, gap-free.")
    id = serializers.UUIDField()
    type = serializers.CharField(help_text=", ".join(FinanceEventType.values))
    occurredAt = serializers.DateTimeField()
    warehouse = serializers.CharField(help_text="Warehouse code")
    currency = serializers.CharField(help_text="ISO 4217, the warehouse's currency")
    reference = FinanceReferenceOutputSerializer()
    storeCode = serializers.CharField(required=False)
    reasonCode = serializers.CharField(required=False)
    lines = FinanceLineOutputSerializer(many=True)
    totalAmount = serializers.DecimalField(max_digits=20, decimal_places=4, coerce_to_string=True)


class FinanceEventPageOutputSerializer(serializers.Serializer):
    events = FinanceEventOutputSerializer(many=True)
    next = serializers.CharField(
        help_text="Cursor to pass as `after` next time: where this page ends (the last "
        "event returned, or the cursor you sent when there was nothing new; past newer "
        "events of warehouses you do not see)."
    )


class FinanceEventFilterSerializer(serializers.Serializer):
    warehouse = serializers.CharField(required=False, max_length=32)
    type = serializers.ChoiceField(required=False, choices=FinanceEventType.choices)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return FEED_LIMIT_DEFAULT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= FEED_LIMIT_MAX:
        raise InvalidLimit(
            f"limit must be a whole number from 1 to {FEED_LIMIT_MAX}.",
            errors=[{"field": "limit", "code": "invalid_limit", "message": str(raw)}],
        )
    return limit


def _warehouse_ids(actor, code: str | None):
    """The warehouses whose events ``actor`` reads; None: all of them (superusers)."""
    if code:
        return [warehouse_for_actor(actor, code).pk]  # 403 when not granted
    system = getattr(actor, "system", None)
    if system is not None:
        return actor.warehouse_ids
    if actor.is_superuser:
        return None
    return list(warehouses_visible_to(actor).values_list("pk", flat=True))


class FinanceEventListApi(APIView):
    """Finance events after a cursor in sequence order: never a skip, never a repeat."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("finance",)
    required_user_perms = ("inventory.view_financeevent",)
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        tags=["finance"],
        operation_id="finance_events_list",
        parameters=[
            OpenApiParameter(
                "after",
                str,
                description="The `next` of the previous page (opaque); none: from the first event.",
            ),
            OpenApiParameter(
                "limit", int, description=f"Default {FEED_LIMIT_DEFAULT}, at most {FEED_LIMIT_MAX}."
            ),
            OpenApiParameter("warehouse", str, description="Warehouse code"),
            OpenApiParameter("type", str, enum=FinanceEventType.values),
            OpenApiParameter(
                NEXT_CURSOR_HEADER,
                str,
                location=OpenApiParameter.HEADER,
                response=[200],
                description="The page's next cursor (the same as `next` of the JSON body).",
            ),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                FinanceEventPageOutputSerializer,
                description="The events after the cursor (JSON), or with Accept: text/csv a "
                "header row (sequence, id, type, occurredAt, warehouse, currency, "
                "referenceType, referenceId, referenceNumber, storeCode, reasonCode, sku, "
                "qty, uom, unitCost, amount, totalAmount) and one row per event line, "
                f"streamed; the next cursor in {NEXT_CURSOR_HEADER} either way.",
            ),
            (200, "text/csv"): OpenApiTypes.STR,
            (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                {"$ref": "#/components/schemas/Problem"},
                description="invalid_cursor (not a cursor this API gave), invalid_limit "
                f"(not 1..{FEED_LIMIT_MAX}), validation_failed (unknown type)",
            ),
        },
    )
    def get(self, request):
        after = finance_cursor_sequence(request.query_params.get("after"))
        limit = _limit(request.query_params.get("limit"))
        filters = FinanceEventFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        scope = {
            "warehouse_ids": _warehouse_ids(request.user, filters.validated_data.get("warehouse")),
            "event_type": filters.validated_data.get("type"),
        }
        end = finance_feed_end(after=after, limit=limit, **scope)
        next_cursor = finance_cursor(end)
        rows = finance_feed_rows(after=after, end=end, **scope)
        # Both formats stream: a page of 5,000 events is never built in memory.
        if request.accepted_renderer.format == CsvRenderer.format:
            body, content_type = finance_feed_csv(rows), "text/csv; charset=utf-8"
        else:
            body, content_type = (
                finance_feed_json(rows, next_cursor=next_cursor),
                "application/json",
            )
        response = StreamingHttpResponse(body, content_type=content_type)
        response[NEXT_CURSOR_HEADER] = next_cursor
        return response
