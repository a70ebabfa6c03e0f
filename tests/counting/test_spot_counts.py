"""Spot counts from pick exceptions: "quarantine and request a count" opens a real count."""

import pytest

from counting.models import CountLine, CountStatus, CountType, InventoryCount
from tasking.models import CountRequest
from tasking.services import pick_task_next_for_picker, pick_task_report_exception
from tasking.services.exceptions import ACTION_QUARANTINE, exception_case_resolve
from tests.tasking.conftest import (  # noqa: F401 (fixtures of the picking floor)
    layout,
    picker,
    release_order,
    robot,
    store,
    supervisor,
)

pytestmark = pytest.mark.django_db


def test_exception_case_resolve_quarantine_opens_a_spot_count(
    release_order,  # noqa: F811
    picker,  # noqa: F811
    supervisor,  # noqa: F811
    layout,  # noqa: F811
):
    """Quarantining a location after "location empty" opens a blind SPOT count of it,
    linked to the count request, covering the stock now quarantined there."""
    release_order([("SKU-A", 10)])
    task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    case = pick_task_report_exception(
        task_id=task.pk, type="LOCATION_EMPTY", qty_picked="0", request_key="k", picker=picker
    ).exception_case
    resolved = exception_case_resolve(case_id=case.pk, action=ACTION_QUARANTINE, actor=supervisor)
    request = CountRequest.objects.get()
    count = InventoryCount.objects.get(source_ref=f"CountRequest:{request.pk}")
    assert (count.type, count.status, count.blind) == (CountType.SPOT, CountStatus.OPEN, True)
    assert count.count_number in resolved.resolution_note
    lines = CountLine.objects.filter(count=count)
    assert {line.location_id for line in lines} == {layout.p1.pk}
    assert lines.filter(item=layout.sku_a, status=layout.quarantined).exists()


def test_count_close_of_a_spot_count_closes_its_count_request(
    release_order,  # noqa: F811
    picker,  # noqa: F811
    supervisor,  # noqa: F811
    layout,  # noqa: F811
):
    """Closing the spot count marks the count request it came from done."""
    from counting.services import count_close

    release_order([("SKU-A", 10)])
    task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    case = pick_task_report_exception(
        task_id=task.pk, type="LOCATION_EMPTY", qty_picked="0", request_key="k", picker=picker
    ).exception_case
    exception_case_resolve(case_id=case.pk, action=ACTION_QUARANTINE, actor=supervisor)
    request = CountRequest.objects.get()
    count = InventoryCount.objects.get(source_ref=f"CountRequest:{request.pk}")
    count_close(count=count, actor=supervisor)
    request.refresh_from_db()
    assert request.status == "DONE" and request.closed_at is not None
