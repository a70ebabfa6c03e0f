"""Supervisor pages of the reports (issue 17): ``/reports/`` lists the reports a person
may read, ``/reports/<slug>/`` shows one with its filters, the first rows and the
download buttons (the API's CSV / XLSX, same filters).

A bad filter is a message on the page, never a 500 nor an empty report; a
report with more rows than the page shows says so and offers the download.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from wms.exceptions import DomainError
from wms.reporting import visible_row
from wms.scoping import warehouses_visible_to

from .reports import REPORTS, ReportDefinition, actor_sees_values, report_source

PAGE_ROWS = 200


def _inputs(report: ReportDefinition, params) -> list[dict]:
    """The filter form's fields, from the report's filter serializer."""
    inputs = []
    for name, field in report.filters().fields.items():
        kind = "text"
        choices = None
        if isinstance(field, serializers.DateTimeField):
            kind = "datetime-local"
        elif isinstance(field, serializers.ChoiceField):
            kind, choices = "select", list(field.choices.items())
        inputs.append(
            {"name": name, "kind": kind, "choices": choices, "value": params.get(name, "")}
        )
    return inputs


def _errors(exc) -> list[str]:
    if isinstance(exc, ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"": exc.detail}
        return [f"{field}: {' '.join(map(str, msgs))}" for field, msgs in detail.items()]
    return [str(exc.detail)]


def _readable(user) -> list[ReportDefinition]:
    return [r for r in REPORTS.values() if r.actor_may_read(user)]


@login_required
def report_index(request):
    return render(request, "reports/index.html", {"reports": _readable(request.user)})


@login_required
def report_page(request, slug: str):
    report = REPORTS.get(slug)
    if report is None or not report.actor_may_read(request.user):
        raise Http404
    params = {k: v for k, v in request.GET.items() if v}
    context = {
        "report": report,
        "reports": _readable(request.user),
        "inputs": _inputs(report, params),
        "columns": report.columns,
        "warehouses": list(warehouses_visible_to(request.user).values_list("code", flat=True)),
        "errors": [],
    }
    try:
        source, _filters = report_source(report, actor=request.user, params=params)
        rows = source.page(after=None, limit=PAGE_ROWS + 1)
    except (ValidationError, DomainError) as exc:
        context["errors"] = _errors(exc)
        return render(request, "reports/report.html", context, status=400)
    hide = not actor_sees_values(request.user)
    api = reverse(f"report-{slug}")
    context.update(
        rows=[visible_row(r, report.columns, source.key_len, hide) for r in rows[:PAGE_ROWS]],
        truncated=len(rows) > PAGE_ROWS,
        page_rows=PAGE_ROWS,
        csv_url=f"{api}?{urlencode({**params, 'format': 'csv'})}",
        xlsx_url=f"{api}?{urlencode({**params, 'format': 'xlsx'})}",
        values_hidden=hide and any(c.sensitive for c in report.columns),
    )
    if not context["rows"]:
        context["empty_message"] = _("No rows match these filters.")
    return render(request, "reports/report.html", context)


urlpatterns = [
    path("", report_index, name="reports-index"),
    path("<slug:slug>/", report_page, name="reports-page"),
]
