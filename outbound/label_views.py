"""Documents over HTTP: a package's label (PDF or ZPL) and a shipment's packing list.

Thin views: who may ask and which format, then ``outbound.labels`` renders.
The format is negotiated by DRF from the renderers below: ``Accept:
application/pdf`` (and anything a browser sends) → PDF; ``application/zpl``,
``text/plain`` or ``?format=zpl`` → ZPL. Errors stay problem details whatever
was accepted (the renderers write JSON for anything that is not a document).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from wms.exceptions import NotFoundError
from wms.permissions import ActorPermission

from . import labels


class _DocumentRenderer(BaseRenderer):
    """Passes a rendered document through; anything else is an error's problem
    body (its response already carries ``application/problem+json``)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return JSONRenderer().render(data)


class PdfRenderer(_DocumentRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"


class ZplRenderer(_DocumentRenderer):
    media_type = "application/zpl"
    format = "zpl"
    charset = "utf-8"


class ZplTextRenderer(ZplRenderer):
    """ZPL as text/plain: what print servers and ``curl | nc printer 9100`` expect."""

    media_type = "text/plain"


def _calling_store(request):
    system = getattr(request.user, "system", None)
    return system if system is not None and system.type == "store" else None


def _document(body, *, media_type: str, filename: str) -> Response:
    response = Response(body, content_type=media_type)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    # A label is reprinted after a reopen with other contents: never cached.
    response["Cache-Control"] = "no-store"
    return response


_FORMAT_PARAM = OpenApiParameter(
    "format", str, enum=["pdf", "zpl"], description="Overrides the Accept header."
)


class PackageLabelApi(APIView):
    """``GET`` the label of one package, identified on it by its SSCC."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("automation",)
    required_user_perms = ("outbound.view_package",)
    renderer_classes = [PdfRenderer, ZplRenderer, ZplTextRenderer]

    @extend_schema(
        tags=["packing"],
        operation_id="package_label",
        parameters=[_FORMAT_PARAM],
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "application/zpl"): OpenApiTypes.STR,
            (200, "text/plain"): OpenApiTypes.STR,
            404: OpenApiResponse(description="No such package in your warehouses"),
        },
    )
    def get(self, request, pk):
        package = labels.package_for_label(actor=request.user, package_id=pk)
        if package is None:
            raise NotFoundError("No such package.", code="package_not_found")
        label = labels.package_label_data(package)
        if request.accepted_renderer.format == "zpl":
            return _document(
                labels.package_label_zpl(label),
                media_type=request.accepted_media_type,
                filename=f"{package.sscc}.zpl",
            )
        return _document(
            labels.package_label_pdf(label),
            media_type=PdfRenderer.media_type,
            filename=f"{package.sscc}.pdf",
        )


class ShipmentPackingListApi(APIView):
    """``GET`` the packing list of a confirmed shipment (PDF): what is on the truck."""

    permission_classes = [ActorPermission]
    allowed_system_types = ("automation", "store")
    required_user_perms = ("outbound.view_shipment",)
    renderer_classes = [PdfRenderer]

    @extend_schema(
        tags=["packing"],
        operation_id="shipment_packing_list",
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such shipment in your warehouses"),
        },
    )
    def get(self, request, pk):
        shipment = labels.shipment_for_packing_list(actor=request.user, shipment_id=pk)
        if shipment is None:
            raise NotFoundError("No such shipment.", code="shipment_not_found")
        store = _calling_store(request)
        if store is not None and store.code != shipment.store_code:
            # As for orders (outbound.api): a store is told it is not its own.
            raise PermissionDenied(f"Store '{store.code}' may only read its own shipments.")
        return _document(
            labels.shipment_packing_list_pdf(shipment),
            media_type=PdfRenderer.media_type,
            filename=f"{shipment.shipment_number}.pdf",
        )
