"""Tasking's reports (issue 17) on a picked order: pick productivity per picker and hour,
the dashboard's lines per hour and wave progress."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from tasking import reports
from tasking.models import PickConfirmation

pytestmark = pytest.mark.django_db


def test_pick_productivity_counts_lines_tasks_units(picked_order, layout):
    """Two tasks of 10 and 5 units picked by pablo: one row, 2 lines, 2 tasks, 15 units."""
    ids = [layout.warehouse.pk]
    start = timezone.now() - dt.timedelta(hours=2)
    source = reports.pick_productivity(
        warehouse_ids=ids, since=start, until=timezone.now() + dt.timedelta(hours=1)
    )
    rows = [row[4:] for row in source.stream()]
    hour = timezone.localtime(PickConfirmation.objects.first().confirmed_at).replace(
        minute=0, second=0, microsecond=0
    )
    assert rows == [(hour, layout.warehouse.code, "pablo", "MANUAL", 2, 2, Decimal("15.000"))]
    assert reports.lines_picked_per_hour(warehouse_ids=ids, since=start) == [
        (hour, 2, Decimal("15.000"))
    ]
    [wave] = reports.wave_progress(warehouse_ids=ids, since=start)
    assert (wave["tasks"], wave["finished"]) == (2, 2)
