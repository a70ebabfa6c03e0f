"""Outbound reports (issue 17): open orders and backorders by store with their age,
and order cycle time (accepted → shipped) percentiles. Selectors only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, F, FloatField, Func, Max, Min, Q, Sum
from django.db.models.aggregates import Aggregate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wms.reporting import Column, ListSource

from .models import (
    LineStatus,
    OrderStatus,
    PlanningJob,
    PlanningJobStatus,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
)

#: Accepted and not yet shipped, cancelled or rejected.
OPEN_STATUSES = (
    OrderStatus.ACCEPTED,
    OrderStatus.PLANNED,
    OrderStatus.BACKORDERED,
    OrderStatus.RELEASED,
    OrderStatus.PICKING,
    OrderStatus.PACKED,
)

OPEN_ORDER_COLUMNS = [
    Column("warehouse", _("Warehouse")),
    Column("store", _("Store")),
    Column("openOrders", _("Open orders"), "int"),
    Column("backorderedOrders", _("Backordered orders"), "int"),
    Column("backorderedLines", _("Backordered lines"), "int"),
    Column("backorderedQty", _("Backordered quantity"), "decimal"),
    Column("oldestAcceptedAt", _("Oldest accepted at"), "datetime"),
    Column("oldestAgeHours", _("Oldest age (h)"), "decimal"),
    Column("ageUnder24h", _("Under 24 h"), "int"),
    Column("age24To72h", _("24 to 72 h"), "int"),
    Column("ageOver72h", _("Over 72 h"), "int"),
]

CYCLE_TIME_COLUMNS = [
    Column("warehouse", _("Warehouse")),
    Column("store", _("Store")),
    Column("shippedOrders", _("Shipped orders"), "int"),
    Column("p50Hours", _("Median (h)"), "decimal"),
    Column("p90Hours", _("90th percentile (h)"), "decimal"),
    Column("p95Hours", _("95th percentile (h)"), "decimal"),
    Column("maxHours", _("Longest (h)"), "decimal"),
]


def _hours(seconds) -> Decimal | None:
    return None if seconds is None else Decimal(seconds / 3600).quantize(Decimal("0.01"))


def open_orders_by_store(*, warehouse_ids: list[int], store: str | None = None) -> ListSource:
    """Per warehouse and store: open orders, how many wait for stock (backordered
    orders, lines and base units) and how old they are (since accepted)."""
    now = timezone.now()
    orders = ReplenishmentOrder.objects.filter(
        warehouse_id__in=warehouse_ids, status__in=OPEN_STATUSES
    )
    if store:
        orders = orders.filter(store_code=store)
    day, three_days = now - dt.timedelta(hours=24), now - dt.timedelta(hours=72)
    per_store = (
        orders.values("warehouse__code", "store_code")
        .annotate(
            open_orders=Count("pk"),
            backordered=Count("pk", filter=Q(status=OrderStatus.BACKORDERED)),
            oldest=Min("accepted_at"),
            under_1d=Count("pk", filter=Q(accepted_at__gt=day)),
            d1_3=Count("pk", filter=Q(accepted_at__lte=day, accepted_at__gt=three_days)),
            over_3d=Count("pk", filter=Q(accepted_at__lte=three_days)),
        )
        .order_by("warehouse__code", "store_code")
    )
    backorders = {
        (row["order__warehouse__code"], row["order__store_code"]): row
        for row in ReplenishmentOrderLine.objects.filter(
            order__in=orders, status=LineStatus.BACKORDERED
        )
        .values("order__warehouse__code", "order__store_code")
        .annotate(lines=Count("pk"), qty=Sum(F("qty_requested_base") - F("qty_allocated")))
        .order_by()
    }
    rows = []
    for row in per_store:
        key = (row["warehouse__code"], row["store_code"])
        back = backorders.get(key, {"lines": 0, "qty": 0})
        age = (now - row["oldest"]).total_seconds()
        rows.append(
            (
                *key,
                *key,
                row["open_orders"],
                row["backordered"],
                back["lines"],
                back["qty"],
                row["oldest"],
                _hours(age),
                row["under_1d"],
                row["d1_3"],
                row["over_3d"],
            )
        )
    return ListSource(rows=rows, key_len=2)


class _Percentile(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _seconds_between(start: str, end: str) -> Func:
    return Func(
        F(end) - F(start), template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField()
    )


def order_cycle_time(
    *,
    warehouse_ids: list[int],
    since: dt.datetime,
    until: dt.datetime,
    store: str | None = None,
) -> ListSource:
    """Per warehouse and store, of the orders shipped in ``[since, until)``: how long
    from accepted to shipped (median, 90th and 95th percentile, longest)."""
    orders = ReplenishmentOrder.objects.filter(
        warehouse_id__in=warehouse_ids,
        status=OrderStatus.SHIPPED,
        shipped_at__gte=since,
        shipped_at__lt=until,
    )
    if store:
        orders = orders.filter(store_code=store)
    seconds = _seconds_between("accepted_at", "shipped_at")
    per_store = (
        orders.values("warehouse__code", "store_code")
        .annotate(
            shipped=Count("pk"),
            p50=_Percentile(seconds, fraction=0.5),
            p90=_Percentile(seconds, fraction=0.9),
            p95=_Percentile(seconds, fraction=0.95),
            longest=Max(seconds),
        )
        .order_by("warehouse__code", "store_code")
    )
    rows = [
        (
            row["warehouse__code"],
            row["store_code"],
            row["warehouse__code"],
            row["store_code"],
            row["shipped"],
            _hours(row["p50"]),
            _hours(row["p90"]),
            _hours(row["p95"]),
            _hours(row["longest"]),
        )
        for row in per_store
    ]
    return ListSource(rows=rows, key_len=2)


def orders_by_status_since(*, warehouse_ids: list[int], since: dt.datetime) -> dict[str, int]:
    """Orders accepted since ``since`` per status (the dashboard's "today")."""
    counts = (
        ReplenishmentOrder.objects.filter(warehouse_id__in=warehouse_ids, accepted_at__gte=since)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {status: n for status, n in counts}


def unplanned_backlog(*, warehouse_ids: list[int]) -> dict[int, tuple[int, dt.datetime | None]]:
    """Per warehouse: orders accepted and not yet planned, and the oldest's accepted time."""
    rows = (
        ReplenishmentOrder.objects.filter(
            warehouse_id__in=warehouse_ids, status=OrderStatus.ACCEPTED
        )
        .values_list("warehouse_id")
        .annotate(n=Count("pk"), oldest=Min("accepted_at"))
        .order_by()
    )
    return {warehouse_id: (n, oldest) for warehouse_id, n, oldest in rows}


def planning_jobs_failed(*, warehouse_id: int, since: dt.datetime) -> list[dict]:
    """Planning jobs of a warehouse that failed or lost their worker since ``since``."""
    return list(
        PlanningJob.objects.filter(
            warehouse_id=warehouse_id,
            status__in=[PlanningJobStatus.FAILED, PlanningJobStatus.ABANDONED],
            created_at__gte=since,
        ).values("id", "status", "planning_group", "last_error", "finished_at")
    )
