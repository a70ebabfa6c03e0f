"""Automation integration API (CONTRACT.md): pull dispatched pick tasks, acknowledge
them, confirm picks.

Automation systems call with their token and see only the tasks dispatched to
them, in the warehouses they were granted. People (a session) need the tasking
permissions: they may list tasks of their warehouses and confirm tasks assigned
to themselves. Every POST needs an ``Idempotency-Key`` (``wms.idempotency``);
the key also names the confirmation (``<client scope>:<key>``), so a retry
never posts twice even past the idempotency store's retention.
"""

from decimal import Decimal

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from outbound import selectors as outbound_selectors
from outbound.services.shipping import shipment_confirm
from tasking import selectors as tasking_selectors
from tasking.exceptions import TaskNotFound
from tasking.models import ConfirmationSource, PickTaskStatus
from tasking.services import pick_confirm, pick_task_ack
from tasking.services.packing import PackedPackage, pack_confirm
from wms.exceptions import NotFoundError
from wms.idempotency import HEADER as IDEMPOTENCY_HEADER
from wms.idempotency import client_scope, idempotent
from wms.pagination import CursorPagination
from wms.permissions import ActorPermission
from wms.scoping import warehouses_visible_to

from .automation_serializers import (
    PackConfirmationInputSerializer,
    PickConfirmationInputSerializer,
    PickConfirmationOutputSerializer,
    PickTaskAckInputSerializer,
    PickTaskFilterSerializer,
    PickTaskOutputSerializer,
    ShipmentConfirmationInputSerializer,
)


class _OldestFirst(CursorPagination):
    ordering = "pk"  # uuid7: creation order


def _system(request):
    system = getattr(request.user, "system", None)
    return system if system is not None and system.type == "automation" else None


def _visible_order_id(request, task_id):
    """The task's order if the task is in a warehouse the caller was granted; 404
    otherwise (nothing leaks across grants). Whether the caller holds it is the
    service's question (409 ``task_not_dispatched`` / ``task_not_open``)."""
    order_id = tasking_selectors.pick_task_order_id(actor=request.user, task_id=task_id)
    if order_id is None:
        raise TaskNotFound(
            f"No pick task {task_id} in your warehouses.", extra={"pickTaskId": str(task_id)}
        )
    return order_id


@extend_schema(tags=["automation"])
class AutomationPickTaskListApi(APIView):
    """``GET``: the caller's dispatched tasks (oldest first), filter ``status``."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("automation",)
    required_user_perms = ("tasking.view_picktask",)

    @extend_schema(
        operation_id="automation_pick_tasks_list",
        parameters=[
            OpenApiParameter("status", str, enum=PickTaskStatus.values),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses=PickTaskOutputSerializer(many=True),
    )
    def get(self, request):
        params = PickTaskFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        status = params.validated_data.get("status")
        system = _system(request)
        if system is not None:
            qs = tasking_selectors.automation_pick_tasks(system=system, status=status)
        else:
            qs = tasking_selectors.pick_task_list(actor=request.user, status=status)
        paginator = _OldestFirst()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(PickTaskOutputSerializer(page, many=True).data)


@extend_schema(tags=["automation"])
class AutomationPickTaskAckApi(APIView):
    """``POST``: the system has the task (DISPATCHED → IN_PROGRESS); repeatable."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("automation",)
    required_user_perms = ("tasking.change_picktask",)

    @extend_schema(
        operation_id="automation_pick_task_ack",
        request=PickTaskAckInputSerializer,
        responses={
            200: PickTaskOutputSerializer,
            404: OpenApiResponse(description="pick_task_not_found (not dispatched to you)"),
        },
    )
    @idempotent
    def post(self, request, task_id):
        system = _system(request)
        if system is None:
            raise PermissionDenied("Only the automation system a task went to acknowledges it.")
        payload = PickTaskAckInputSerializer(data=request.data or {})
        payload.is_valid(raise_exception=True)
        _visible_order_id(request, task_id)
        pick_task_ack(task_id=task_id, target=system.code)
        task = tasking_selectors.automation_pick_tasks(system=system).get(pk=task_id)
        return Response(PickTaskOutputSerializer(task).data)


@extend_schema(tags=["automation"])
class AutomationPickConfirmationCreateApi(APIView):
    """``POST``: a pick happened. Posts inventory exactly once per confirmation."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("automation",)
    required_user_perms = ("tasking.add_pickconfirmation",)

    @extend_schema(
        operation_id="automation_pick_confirmations_create",
        request=PickConfirmationInputSerializer,
        responses={
            200: PickConfirmationOutputSerializer,
            404: OpenApiResponse(description="pick_task_not_found"),
            409: OpenApiResponse(
                description="task_not_open (cancelled or finished), task_not_dispatched "
                "(dispatched elsewhere or taken back), idempotency_key_in_use"
            ),
            422: OpenApiResponse(
                description="over_pick (more than is open), wrong_scan (fromLocation is not "
                "the task's), idempotency_key_reused"
            ),
        },
    )
    @idempotent
    def post(self, request):
        payload = PickConfirmationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        system = _system(request)
        if system is not None:
            granted = request.user.warehouse_ids
        else:
            granted = warehouses_visible_to(request.user).values_list("pk", flat=True)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        result = pick_confirm(
            task_id=data["pickTaskId"],
            qty=data["qtyPicked"],
            request_key=f"{client_scope(request.user)}:{key}",
            actor=None if system is not None else request.user,
            system=system,
            source=ConfirmationSource.AUTOMATION if system else ConfirmationSource.MANUAL,
            location_code=data.get("fromLocation"),
            confirmed_at=data.get("confirmedAt"),
            external_correlation_id=data.get("correlationId", ""),
            note=_("Reported short by %(by)s") % {"by": system.code} if system else "",
            warehouse_ids=granted,
        )
        return Response(_confirmation_body(result), status=200)


_MILLI = Decimal("0.001")


def _confirmation_body(result) -> dict:
    """``PickConfirmationOutputSerializer``'s JSON (the documented schema), built
    directly: serializer fields are deep-copied on every instantiation, a cost
    this call pays on every pick."""
    case = result.exception_case
    return {
        "confirmationId": str(result.confirmation.pk),
        "pickTaskId": str(result.task.pk),
        "taskStatus": result.task.status,
        "qtyPicked": format(result.confirmation.qty_picked.quantize(_MILLI), "f"),
        "exceptionCaseId": case.pk if case is not None else None,
    }


def _visible_orders(request, order_ids) -> None:
    """404 unless every order is in a warehouse the caller was granted."""
    visible = set(
        outbound_selectors.order_list(actor=request.user)
        .filter(pk__in=list(order_ids))
        .values_list("pk", flat=True)
    )
    missing = [str(o) for o in order_ids if o not in visible]
    if missing:
        raise NotFoundError(
            _("No order %(id)s in your warehouses.") % {"id": missing[0]}, code="order_not_found"
        )


@extend_schema(tags=["automation"])
class AutomationPackConfirmationCreateApi(APIView):
    """``POST``: a packing line packed whole packages of an order (closed, weighed)."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("automation",)
    required_user_perms = ("tasking.change_packtask",)

    @extend_schema(
        operation_id="automation_pack_confirmations_create",
        request=PackConfirmationInputSerializer,
        responses={
            201: OpenApiResponse(
                description="{orderId, orderStatus, packages: [{id, sscc, labelUrl}]}"
            ),
            404: OpenApiResponse(description="order_not_found"),
            409: OpenApiResponse(description="order_not_packable, idempotency_key_in_use"),
            422: OpenApiResponse(
                description="over_pack, item_not_on_order, unknown_package_type, "
                "idempotency_key_reused"
            ),
        },
    )
    @idempotent
    def post(self, request):
        payload = PackConfirmationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        _visible_orders(request, [data["orderId"]])
        key = request.headers.get(IDEMPOTENCY_HEADER)
        order, packages = pack_confirm(
            order_id=data["orderId"],
            packages=[
                PackedPackage(
                    package_type=p["packageType"],
                    weight_kg=p["weightKg"],
                    lines=[(line["lineNumber"], line["qty"]) for line in p["lines"]],
                )
                for p in data["packages"]
            ],
            key=f"{client_scope(request.user)}:{key}",
            actor=None if _system(request) is not None else request.user,
        )
        body = {
            "orderId": str(order.pk),
            "orderStatus": order.status,
            "packages": [
                {"id": str(p.pk), "sscc": p.sscc, "labelUrl": _label_url(request, p)}
                for p in packages
            ],
        }
        return Response(body, status=201)


def _label_url(request, package) -> str:
    return request.build_absolute_uri(reverse("package-label", args=[package.pk]))


@extend_schema(tags=["automation"])
class AutomationShipmentConfirmationCreateApi(APIView):
    """``POST``: packed orders of one store left through a dock door."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("automation",)
    required_user_perms = ("outbound.add_shipment",)

    @extend_schema(
        operation_id="automation_shipment_confirmations_create",
        request=ShipmentConfirmationInputSerializer,
        responses={
            201: OpenApiResponse(description="{shipmentId, shipmentNumber, status}"),
            404: OpenApiResponse(description="order_not_found"),
            409: OpenApiResponse(description="order_not_packed, idempotency_key_in_use"),
            422: OpenApiResponse(
                description="unknown_dock_door, shipment_mixes_stores, idempotency_key_reused"
            ),
        },
    )
    @idempotent
    def post(self, request):
        payload = ShipmentConfirmationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        _visible_orders(request, data["orderIds"])
        shipment, _replayed = shipment_confirm(
            order_ids=data["orderIds"],
            dock_door_code=data["dockDoor"],
            carrier=data.get("carrier", ""),
            tracking_ref=data.get("trackingRef", ""),
            departed_at=data.get("departedAt"),
            actor=None if _system(request) is not None else request.user,
        )
        body = {
            "shipmentId": str(shipment.pk),
            "shipmentNumber": shipment.shipment_number,
            "status": shipment.status,
        }
        return Response(body, status=201)
