"""Tasking reports (issue 17): pick productivity per picker and hour, picking
exceptions by type and age, and the dashboard's picking figures. Selectors only."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wms.reporting import Column, ListSource, counts_by_type_and_age

from .models import ExceptionCase, ExceptionStatus, PickConfirmation, PickTask, PickTaskStatus

PRODUCTIVITY_COLUMNS = [
    Column("hour", _("Hour"), "datetime"),
    Column("warehouse", _("Warehouse")),
    Column("picker", _("Picker")),
    Column("source", _("Source")),
    Column("lines", _("Lines picked"), "int"),
    Column("tasks", _("Tasks"), "int"),
    Column("units", _("Units picked"), "decimal"),
]

#: Tasks that still count for a wave's progress (cancelled ones do not).
_LIVE_TASK = ~Q(status=PickTaskStatus.CANCELLED)
_FINISHED_TASK = Q(status__in=[PickTaskStatus.DONE, PickTaskStatus.SHORT])


def pick_productivity(
    *,
    warehouse_ids: list[int],
    since: dt.datetime,
    until: dt.datetime,
    picker: str | None = None,
) -> ListSource:
    """Per hour (in the instance's time zone), warehouse and picker (or automation
    system): confirmations, distinct tasks and units picked in ``[since, until)``."""
    confirmations = PickConfirmation.objects.filter(
        warehouse_id__in=warehouse_ids, confirmed_at__gte=since, confirmed_at__lt=until
    )
    if picker:
        confirmations = confirmations.filter(actor_label=picker)
    hour = TruncHour("confirmed_at", tzinfo=timezone.get_current_timezone())
    per_hour = (
        confirmations.annotate(hour=hour)
        .values("hour", "warehouse__code", "actor_label", "source")
        .annotate(
            lines=Count("pk"), tasks=Count("pick_task", distinct=True), units=Sum("qty_picked")
        )
        .order_by("hour", "warehouse__code", "actor_label", "source")
    )
    rows = [
        (
            row["hour"],
            row["warehouse__code"],
            row["actor_label"],
            row["source"],
            row["hour"],
            row["warehouse__code"],
            row["actor_label"],
            row["source"],
            row["lines"],
            row["tasks"],
            row["units"],
        )
        for row in per_hour
    ]
    return ListSource(rows=rows, key_len=4)


def exceptions_by_type(
    *, warehouse_ids: list[int], status: str | None = ExceptionStatus.OPEN
) -> list[tuple]:
    """Picking exceptions per warehouse and type: count, oldest opened, count per age
    bucket (``wms.reporting.AGE_BUCKETS``); ``(warehouse, type, count, oldest, *buckets)``."""
    cases = ExceptionCase.objects.filter(warehouse_id__in=warehouse_ids)
    if status:
        cases = cases.filter(status=status)
    return counts_by_type_and_age(cases)


def open_exceptions(*, warehouse_ids: list[int], limit: int = 20) -> list[dict]:
    """The oldest open picking exceptions (the dashboard's list)."""
    return list(
        ExceptionCase.objects.filter(warehouse_id__in=warehouse_ids, status=ExceptionStatus.OPEN)
        .order_by("opened_at")
        .values("id", "type", "opened_at", "warehouse__code", "item__sku", "location__code")[:limit]
    )


def exceptions_older_than(*, warehouse_id: int, opened_before: dt.datetime) -> list[dict]:
    """Open picking exceptions of a warehouse opened before ``opened_before`` (alerts)."""
    return list(
        ExceptionCase.objects.filter(
            warehouse_id=warehouse_id, status=ExceptionStatus.OPEN, opened_at__lt=opened_before
        ).values("id", "type", "opened_at")
    )


def lines_picked_per_hour(*, warehouse_ids: list[int], since: dt.datetime) -> list[tuple]:
    """``(hour, lines, units)`` since ``since`` in the instance's time zone (the chart)."""
    return list(
        PickConfirmation.objects.filter(warehouse_id__in=warehouse_ids, confirmed_at__gte=since)
        .annotate(hour=TruncHour("confirmed_at", tzinfo=timezone.get_current_timezone()))
        .values_list("hour")
        .annotate(lines=Count("pk"), units=Sum("qty_picked"))
        .order_by("hour")
    )


def wave_progress(*, warehouse_ids: list[int], since: dt.datetime) -> list[dict]:
    """Waves with pick tasks released since ``since``: tasks done of all, per wave."""
    return list(
        PickTask.objects.filter(
            warehouse_id__in=warehouse_ids, released_at__gte=since, wave__isnull=False
        )
        .values("wave_id", "warehouse__code")
        .annotate(
            tasks=Count("pk", filter=_LIVE_TASK),
            finished=Count("pk", filter=_FINISHED_TASK),
            released=Min("released_at"),
        )
        .order_by("released")
    )
