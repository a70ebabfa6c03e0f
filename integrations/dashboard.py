"""The supervisor's wall-screen dashboard (issue 17): orders by status today, lines
picked per hour (chart), wave progress, open counts (lines counted / in total), open
exceptions with their age, the day's dock appointments and open alerts.

``/dashboard/`` renders the page with the numbers of the moment; the page then
polls ``/dashboard/data.json`` (the same figures as JSON, a handful of grouped
queries) and redraws without a reload. The chart is drawn by Chart.js, vendored
under ``integrations/static/integrations/vendor/chartjs`` (no CDN: a warehouse
may have no internet). "Today" starts at midnight in the instance's time zone.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from counting import reports as counting_reports
from inbound import reports as inbound_reports
from outbound import reports as outbound_reports
from outbound.models import OrderStatus
from tasking import reports as tasking_reports
from wms.alerts import alert_age_minutes, open_alerts
from wms.problems import PROBLEM_CONTENT_TYPE, problem_body
from wms.reporting import ReportFilterInvalid, text_value

from .reports import report_warehouse_ids

#: Who sees the dashboard: supervisors (and administrators, superusers).
DASHBOARD_PERMISSION = "wms.view_alert"
POLL_SECONDS = 15


def _today_start(now: dt.datetime) -> dt.datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def dashboard_data(*, actor, warehouse: str | None = None) -> dict:
    """Every figure of the dashboard for the warehouses ``actor`` sees (or one)."""
    ids = report_warehouse_ids(actor, warehouse)
    now = timezone.now()
    today = _today_start(now)
    by_status = outbound_reports.orders_by_status_since(warehouse_ids=ids, since=today)
    per_hour = tasking_reports.lines_picked_per_hour(warehouse_ids=ids, since=today)
    exceptions = [
        {**e, "source": "picking"} for e in tasking_reports.open_exceptions(warehouse_ids=ids)
    ] + [
        {**e, "source": "receiving"}
        for e in inbound_reports.open_receiving_exceptions(warehouse_ids=ids)
    ]
    exceptions.sort(key=lambda e: e["opened_at"])
    return {
        "generatedAt": text_value(now),
        "ordersByStatus": [
            {"status": s.value, "label": str(s.label), "count": by_status.get(s.value, 0)}
            for s in OrderStatus
        ],
        "linesPerHour": [
            {
                "hour": f"{timezone.localtime(hour):%H:00}",
                "lines": lines,
                "units": text_value(units),
            }
            for hour, lines, units in per_hour
        ],
        "waves": [
            {
                "wave": str(w["wave_id"])[-8:],
                "warehouse": w["warehouse__code"],
                "tasks": w["tasks"],
                "finished": w["finished"],
                "percent": round(100 * w["finished"] / w["tasks"]) if w["tasks"] else 100,
            }
            for w in tasking_reports.wave_progress(warehouse_ids=ids, since=today)
        ],
        "counts": [
            {
                "count": c["count_number"],
                "type": c["type"],
                "warehouse": c["warehouse__code"],
                "counted": c["counted"],
                "total": c["total"],
                "percent": round(100 * c["counted"] / c["total"]) if c["total"] else 0,
            }
            for c in counting_reports.open_count_progress(warehouse_ids=ids)
        ],
        "exceptions": [
            {
                "source": e["source"],
                "id": e["id"],
                "type": e["type"],
                "warehouse": e["warehouse__code"],
                "sku": e.get("item__sku") or "",
                "ageMinutes": alert_age_minutes(e["opened_at"], now),
            }
            for e in exceptions[:20]
        ],
        "dockAppointments": [
            {
                "door": d["dock_door__code"],
                "direction": d["direction"],
                "status": d["status"],
                "startsAt": f"{timezone.localtime(d['starts_at']):%H:%M}",
                "endsAt": f"{timezone.localtime(d['ends_at']):%H:%M}",
                "reference": d["inbound_shipment__external_ref"] or d["outbound_ref"],
            }
            for d in inbound_reports.dock_appointments(
                warehouse_ids=ids, since=today, until=today + dt.timedelta(days=1)
            )
        ],
        "alerts": [
            {
                "id": a["id"],
                "rule": a["rule__name"],
                "kind": a["rule__kind"],
                "message": a["message"],
                "ageMinutes": alert_age_minutes(a["opened_at"], now),
            }
            for a in open_alerts(warehouse_ids=ids)
        ],
    }


def _allowed(user) -> None:
    if not (user.is_superuser or user.has_perm(DASHBOARD_PERMISSION)):
        raise PermissionDenied


@login_required
def dashboard_page(request):
    _allowed(request.user)
    warehouse = request.GET.get("warehouse") or None
    try:
        data = dashboard_data(actor=request.user, warehouse=warehouse)
    except ReportFilterInvalid as exc:  # an unknown warehouse: said on the page
        return render(
            request, "reports/dashboard.html", {"error": str(exc), "poll": POLL_SECONDS}, status=400
        )
    return render(
        request,
        "reports/dashboard.html",
        {
            "data": data,
            "warehouse": warehouse or "",
            "poll": POLL_SECONDS,
            "title": _("Dashboard"),
        },
    )


@login_required
def dashboard_data_view(request):
    _allowed(request.user)
    try:
        data = dashboard_data(actor=request.user, warehouse=request.GET.get("warehouse") or None)
    except ReportFilterInvalid as exc:
        body = problem_body(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
        )
        return JsonResponse(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)
    return JsonResponse(data)


urlpatterns = [
    path("", dashboard_page, name="dashboard"),
    path("data.json", dashboard_data_view, name="dashboard-data"),
]
