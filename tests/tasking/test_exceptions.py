"""Resolving picking exceptions: re-allocate, short the line, quarantine and count."""

from decimal import Decimal

import pytest

from inventory.models import InventoryReservation
from tasking.exceptions import ExceptionNotOpen, NoStockElsewhere
from tasking.models import CountRequest, PickTask, PickTaskStatus
from tasking.services import (
    ACTION_QUARANTINE,
    ACTION_REALLOCATE,
    ACTION_SHORT,
    exception_case_resolve,
    pick_confirm,
    pick_task_next_for_picker,
    pick_task_report_exception,
)
from wms.models import OutboxEvent

from .conftest import balance, order_of

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def short_case(release_order, picker, layout):
    """10 SKU-A asked at P-01, 6 picked: SHORT, 4 missing, case open."""
    order, _tasks = release_order([("SKU-A", 10)])
    task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    result = pick_confirm(task_id=task.pk, qty="6", request_key="user:1:s", actor=picker)
    return order, result.task, result.exception_case


def test_exception_case_resolve_short_releases_remainder(short_case, supervisor, layout):
    """SHORT: the 4 still reserved at P-01 are released; line allocated 10→6; order goes on."""
    order, task, case = short_case
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("44"), D("4"))
    resolved = exception_case_resolve(case_id=case.pk, action=ACTION_SHORT, actor=supervisor)
    assert (resolved.status, resolved.resolution) == ("RESOLVED", "SHORTED")
    assert resolved.resolved_by == supervisor
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("44"), D("0"))
    line = order_of(order).lines.get()
    assert (line.qty_allocated, line.qty_picked) == (D("6"), D("6"))
    assert order_of(order).status == "PICKING"
    assert InventoryReservation.objects.get(pick_tasks=task).state == "RELEASED"
    event = OutboxEvent.objects.filter(event_type="exception.resolved").get()
    assert (event.data["resolution"], event.data["exceptionCaseId"]) == ("SHORTED", case.pk)


def test_exception_case_resolve_reallocate_creates_task_elsewhere(short_case, supervisor, layout):
    """REALLOCATE: the 4 come from reserve R-01 in a new released task of the same wave."""
    order, task, case = short_case
    resolved = exception_case_resolve(case_id=case.pk, action=ACTION_REALLOCATE, actor=supervisor)
    assert resolved.resolution == "REALLOCATED"
    new = PickTask.objects.exclude(pk=task.pk).get(order=order)
    assert (new.from_location_id, new.qty_to_pick, new.status) == (
        layout.r1.pk,
        D("4"),
        PickTaskStatus.RELEASED,
    )
    assert (new.wave_id, new.order_line_id) == (task.wave_id, task.order_line_id)
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("44"), D("0"))
    assert balance(layout.sku_a, layout.r1, layout.available) == (D("100"), D("4"))
    line = order_of(order).lines.get()
    assert line.qty_allocated == D("10")
    assert new.reservations.get().qty == D("4")
    assert OutboxEvent.objects.get(event_type="exception.resolved").data["newPickTaskIds"] == [
        str(new.pk)
    ]


def test_exception_case_resolve_reallocate_without_stock_changes_nothing(
    release_order, picker, supervisor, layout
):
    """SKU-B has no other location: no_stock_elsewhere, the case stays open, 4 still held."""
    _order, _tasks = release_order([("SKU-B", 10)])
    task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    case = pick_confirm(
        task_id=task.pk, qty="6", request_key="user:1:b", actor=picker
    ).exception_case
    with pytest.raises(NoStockElsewhere):
        exception_case_resolve(case_id=case.pk, action=ACTION_REALLOCATE, actor=supervisor)
    case.refresh_from_db()
    assert case.status == "OPEN"
    assert balance(layout.sku_b, layout.p2, layout.available) == (D("34"), D("4"))


def test_exception_case_resolve_quarantine_moves_stock_and_requests_count(
    release_order, picker, supervisor, layout
):
    """Location empty at P-01: its available stock goes to QUARANTINED, a count request
    is raised, the 10 are re-allocated from R-01."""
    order, _tasks = release_order([("SKU-A", 10)])
    task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    case = pick_task_report_exception(
        task_id=task.pk, type="LOCATION_EMPTY", qty_picked="0", request_key="k", picker=picker
    ).exception_case
    resolved = exception_case_resolve(case_id=case.pk, action=ACTION_QUARANTINE, actor=supervisor)
    assert resolved.resolution == "QUARANTINED"
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("0"), D("0"))
    assert balance(layout.sku_a, layout.p1, layout.quarantined) == (D("50"), D("0"))
    request = CountRequest.objects.get()
    assert (request.location_id, request.exception_case_id, request.status) == (
        layout.p1.pk,
        case.pk,
        "OPEN",
    )
    new = PickTask.objects.exclude(pk=task.pk).get(order=order)
    assert (new.from_location_id, new.qty_to_pick) == (layout.r1.pk, D("10"))
    assert OutboxEvent.objects.filter(event_type="inventory.status_changed").exists()


def test_exception_case_resolve_twice_is_refused(short_case, supervisor, layout):
    """A resolved case refuses a second resolution; nothing is released twice."""
    _order, _task, case = short_case
    exception_case_resolve(case_id=case.pk, action=ACTION_SHORT, actor=supervisor)
    with pytest.raises(ExceptionNotOpen):
        exception_case_resolve(case_id=case.pk, action=ACTION_REALLOCATE, actor=supervisor)
    assert balance(layout.sku_a, layout.r1, layout.available) == (D("100"), D("0"))
