"""``GET /api/v1/reports/<report>`` (CONTRACT.md, Reports): JSON pages, CSV and XLSX files.

JSON is keyset-paginated (``limit``, the opaque ``cursor`` of ``next``): a page
of a million-row report costs what its first page does. ``Accept: text/csv``
or the XLSX media type (or ``?format=csv|xlsx``, the supervisor pages' download
buttons) streams every row as a file with constant memory (``wms.reporting``).
Bad filters are 400 problem details (``invalid_report_filter`` with the field,
``validation_failed`` for a value that does not parse); values at cost are empty
for whoever may not see them (``reports.actor_sees_values``).
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from wms.exceptions import BusinessValidationError
from wms.problems import PROBLEM_CONTENT_TYPE
from wms.reporting import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    csv_header,
    csv_stream,
    cursor_decode,
    cursor_encode,
    file_name,
    source_xlsx_stream,
    text_value,
    visible_row,
)

from .reports import REPORTS, ReportDefinition, actor_sees_values, report_source

PAGE_DEFAULT, PAGE_MAX = 100, 1000


class InvalidLimit(BusinessValidationError):
    status = 400
    code = "invalid_limit"
    title = "Invalid limit"


class _FileRenderer(BaseRenderer):
    """Negotiates a file type; files stream past the renderer, only problem details are
    rendered here, and they stay JSON (their content type says so)."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, "application/json", renderer_context)


class CsvRenderer(_FileRenderer):
    media_type = CSV_MEDIA_TYPE
    format = "csv"


class XlsxRenderer(_FileRenderer):
    media_type = XLSX_MEDIA_TYPE
    format = "xlsx"


def _limit(raw) -> int:
    if raw in (None, ""):
        return PAGE_DEFAULT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidLimit(
            f"limit must be a whole number from 1 to {PAGE_MAX}.",
            errors=[{"field": "limit", "code": "invalid_limit", "message": str(raw)}],
        )
    return limit


def report_file_response(report: ReportDefinition, source, *, file_format: str, hide: bool):
    """The whole report as a streamed CSV or XLSX download."""
    if file_format == "csv":
        copy = getattr(source, "copy_csv", None)
        if copy is not None:  # PostgreSQL formats the rows (wms.reporting.SqlSource)
            body = _prefixed(csv_header(report.columns), copy(hide_sensitive=hide))
        else:
            body = csv_stream(
                report.columns, source.stream(), key_len=source.key_len, hide_sensitive=hide
            )
        content_type = f"{CSV_MEDIA_TYPE}; charset=utf-8"
    else:
        body = source_xlsx_stream(
            report.columns, source, hide_sensitive=hide, sheet_title=str(report.title)
        )
        content_type = XLSX_MEDIA_TYPE
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="{file_name(report.slug, file_format)}"'
    )
    return response


def _prefixed(first: bytes, rest):
    yield first
    yield from rest


def report_page(report: ReportDefinition, source, *, after, limit: int, hide: bool):
    """One page: the rows as dicts by column key, and the cursor of the next (or None)."""
    rows = source.page(after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    keys = [c.key for c in report.columns]
    results = [
        dict(zip(keys, map(text_value, visible_row(r, report.columns, source.key_len, hide)),
                 strict=True))
        for r in rows
    ]  # fmt: skip
    next_cursor = cursor_encode(rows[-1][: source.key_len]) if more and rows else None
    return results, next_cursor


class ReportApi(APIView):
    """Any report of ``integrations.reports.REPORTS``, by its slug in the URL."""

    renderer_classes = [JSONRenderer, CsvRenderer, XlsxRenderer]
    report: ReportDefinition

    def get(self, request, *args, **kwargs):
        actor = request.user
        if actor is None or not getattr(actor, "is_authenticated", False):
            raise PermissionDenied()  # the authenticators answer 401 without credentials
        if not self.report.actor_may_read(actor):
            raise PermissionDenied(f"You may not read the {self.report.slug} report.")
        source, _filters = report_source(self.report, actor=actor, params=request.query_params)
        hide = not actor_sees_values(actor)
        file_format = request.accepted_renderer.format
        if file_format in ("csv", "xlsx"):
            return report_file_response(self.report, source, file_format=file_format, hide=hide)
        after = cursor_decode(request.query_params.get("cursor"))
        limit = _limit(request.query_params.get("limit"))
        results, next_cursor = report_page(self.report, source, after=after, limit=limit, hide=hide)
        next_url = None
        if next_cursor:
            query = request.query_params.copy()
            query["cursor"] = next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response({"next": next_url, "results": results})


def _schema(report: ReportDefinition):
    parameters = [
        OpenApiParameter(name, str, description=str(getattr(field, "help_text", "") or ""))
        for name, field in report.filters().fields.items()
    ] + [
        OpenApiParameter("limit", int, description=f"Rows per page, default {PAGE_DEFAULT}, "
                         f"at most {PAGE_MAX} (JSON only)."),
        OpenApiParameter("cursor", str, description="The `next` link's cursor (opaque)."),
    ]  # fmt: skip
    columns = ", ".join(c.key for c in report.columns)
    return extend_schema(
        tags=["reports"],
        operation_id=f"report_{report.slug.replace('-', '_')}",
        summary=str(report.title),
        parameters=parameters,
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=f"`{{next, results}}`; each result has: {columns}. With Accept: "
                "text/csv or the XLSX media type the same rows as a streamed file.",
            ),
            (200, CSV_MEDIA_TYPE): OpenApiTypes.STR,
            (200, XLSX_MEDIA_TYPE): OpenApiTypes.BINARY,
            (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                {"$ref": "#/components/schemas/Problem"},
                description="invalid_report_filter (unknown warehouse, zone, SKU or status; "
                "asOf in the future; an inverted period; a cursor this API did not give), "
                "validation_failed (a value that does not parse), invalid_limit",
            ),
        },
    )


def _view(report: ReportDefinition):
    """A view class per report, so each has its own schema (parameters, operation id)."""

    def get(self, request, *args, **kwargs):
        return ReportApi.get(self, request, *args, **kwargs)

    name = f"Report{report.slug.title().replace('-', '')}Api"
    view_class = type(name, (ReportApi,), {"report": report, "get": _schema(report)(get)})
    return view_class.as_view()


urlpatterns = [
    path(f"reports/{slug}", _view(report), name=f"report-{slug}")
    for slug, report in REPORTS.items()
]
