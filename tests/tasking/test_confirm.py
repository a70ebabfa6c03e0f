"""Pick confirmations through the service: stock, reservation, task, order line and
order change together, once per key; shorts open exceptions; refusals change nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest

from inventory.models import InventoryLedgerEntry, InventoryPosting, InventoryReservation
from tasking.exceptions import (
    ConfirmationKeyReused,
    OverPick,
    TaskNotOpen,
    TaskNotYours,
    WrongScan,
)
from tasking.models import ExceptionCase, PickConfirmation, PickTaskStatus
from tasking.services import (
    pick_confirm,
    pick_task_next_for_picker,
    pick_task_report_exception,
    pick_task_start,
)
from wms.models import OutboxEvent

from .conftest import balance, order_of

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def one_task(release_order, picker, layout):
    """Order of 10 SKU-A (from P-01), its task assigned to the picker and started."""
    order, tasks = release_order([("SKU-A", 10)])
    assert len(tasks) == 1
    task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    assert task.pk == tasks[0].pk
    pick_task_start(task_id=task.pk, picker=picker)
    return order, task


def test_pick_confirm_full_quantity_posts_once_and_closes_everything(one_task, picker, layout):
    """10 of 10: P-01 50→40 (reserved 10→0), STG-01 +10, task DONE, line picked 10,
    order PICKING, reservation consumed, one pick.confirmed event."""
    order, task = one_task
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("50"), D("10"))
    result = pick_confirm(
        task_id=task.pk,
        qty="10",
        request_key="user:1:form-1",
        actor=picker,
        location_code="LP01",
        item_code="8400000000011",
    )
    assert not result.replayed
    assert result.task.status == PickTaskStatus.DONE
    assert result.exception_case is None
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("40"), D("0"))
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("10"), D("0"))
    reservation = InventoryReservation.objects.get(pick_tasks=task)
    assert (reservation.state, reservation.qty_consumed) == ("CONSUMED", D("10"))
    line = order_of(order).lines.get()
    assert line.qty_picked == D("10")
    assert order_of(order).status == "PICKING"
    task.refresh_from_db()
    assert (task.qty_picked, task.to_location_id) == (D("10"), layout.staging.pk)
    events = OutboxEvent.objects.filter(event_type="pick.confirmed")
    assert events.count() == 1
    data = events.get().data
    assert (data["pickTaskId"], data["qtyPicked"], data["taskStatus"]) == (
        str(task.pk),
        "10.000",
        "DONE",
    )
    assert (data["fromLocation"], data["toLocation"], data["warehouse"]) == (
        "P-01",
        "STG-01",
        "MAD1",
    )
    assert task.history.first().history_change_reason.startswith("confirmed 10")


def test_pick_confirm_same_key_twice_has_one_effect(one_task, picker, layout):
    """A resubmitted form (same key) returns the first confirmation; one posting."""
    _order, task = one_task
    first = pick_confirm(task_id=task.pk, qty="10", request_key="user:1:k", actor=picker)
    again = pick_confirm(task_id=task.pk, qty="10", request_key="user:1:k", actor=picker)
    assert again.replayed and again.confirmation.pk == first.confirmation.pk
    assert PickConfirmation.objects.count() == 1
    assert InventoryPosting.objects.filter(posting_key__startswith="pick:").count() == 1
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("10"), D("0"))
    assert OutboxEvent.objects.filter(event_type="pick.confirmed").count() == 1


def test_pick_confirm_same_key_other_content_is_refused(one_task, picker):
    """The key of a confirmed pick with another quantity → confirmation_key_reused."""
    _order, task = one_task
    pick_confirm(task_id=task.pk, qty="10", request_key="user:1:k", actor=picker)
    with pytest.raises(ConfirmationKeyReused):
        pick_confirm(task_id=task.pk, qty="9", request_key="user:1:k", actor=picker)


def test_pick_confirm_new_key_on_done_task_is_task_not_open(one_task, picker, layout):
    """A second confirmation under another key finds the task DONE: 409, no posting."""
    _order, task = one_task
    pick_confirm(task_id=task.pk, qty="10", request_key="user:1:a", actor=picker)
    with pytest.raises(TaskNotOpen) as exc:
        pick_confirm(task_id=task.pk, qty="10", request_key="user:1:b", actor=picker)
    assert exc.value.status == 409
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("10"), D("0"))


def test_pick_confirm_over_pick_is_refused_and_changes_nothing(one_task, picker, layout):
    """11 of 10 → over_pick (422); balances, task and events untouched."""
    _order, task = one_task
    entries = InventoryLedgerEntry.objects.count()
    with pytest.raises(OverPick) as exc:
        pick_confirm(task_id=task.pk, qty="11", request_key="user:1:x", actor=picker)
    assert (exc.value.status, exc.value.code) == (422, "over_pick")
    task.refresh_from_db()
    assert (task.status, task.qty_picked) == (PickTaskStatus.IN_PROGRESS, D("0"))
    assert InventoryLedgerEntry.objects.count() == entries
    assert not PickConfirmation.objects.exists()
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("50"), D("10"))


@pytest.mark.parametrize(
    ("location", "item"),
    [("LP02", "8400000000011"), ("LP01", "8400000000028"), ("", "SKU-A")],
)
def test_pick_confirm_wrong_scan_is_refused(one_task, picker, layout, location, item):
    """A location or item that is not the task's → wrong_scan; nothing posted."""
    _order, task = one_task
    with pytest.raises(WrongScan):
        pick_confirm(
            task_id=task.pk,
            qty="10",
            request_key="user:1:w",
            actor=picker,
            location_code=location,
            item_code=item,
        )
    assert not PickConfirmation.objects.exists()
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("50"), D("10"))


def test_pick_confirm_by_another_picker_is_refused(one_task, picker2):
    """Only the picker the task is assigned to may confirm it."""
    _order, task = one_task
    with pytest.raises(TaskNotYours):
        pick_confirm(task_id=task.pk, qty="10", request_key="user:2:k", actor=picker2)


def test_pick_confirm_short_posts_what_was_picked_and_opens_exception(one_task, picker, layout):
    """7 of 10: 7 posted, 3 stay reserved, task SHORT, SHORT_PICK case, both events."""
    order, task = one_task
    result = pick_confirm(task_id=task.pk, qty="7", request_key="user:1:s", actor=picker)
    assert result.task.status == PickTaskStatus.SHORT
    case = result.exception_case
    assert (case.type, case.status, case.qty_missing) == ("SHORT_PICK", "OPEN", D("3"))
    assert (case.location_id, case.order_line_id) == (layout.p1.pk, task.order_line_id)
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("43"), D("3"))
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("7"), D("0"))
    assert order_of(order).lines.get().qty_picked == D("7")
    types = list(OutboxEvent.objects.order_by("id").values_list("event_type", flat=True))
    assert types[-3:] == ["exception.opened", "pick.confirmed", "reservation.consumed"]


def test_pick_task_report_exception_location_empty_posts_nothing(one_task, picker, layout):
    """Location empty, nothing picked: task EXCEPTION, case LOCATION_EMPTY, 10 still held."""
    _order, task = one_task
    result = pick_task_report_exception(
        task_id=task.pk,
        type="LOCATION_EMPTY",
        qty_picked="0",
        request_key="user:1:e",
        picker=picker,
    )
    assert result.task.status == PickTaskStatus.EXCEPTION
    assert result.exception_case.type == "LOCATION_EMPTY"
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("50"), D("10"))
    assert not InventoryPosting.objects.filter(posting_key__startswith="pick:").exists()
    assert ExceptionCase.objects.filter(status="OPEN").count() == 1


def test_pick_confirm_history_record_is_the_task_after_the_change(one_task, picker):
    """The confirmation's history record holds every tracked field of the task as
    saved, with type "~", the reason and the picker (as simple-history writes it)."""
    order, task = one_task
    before = task.history.count()
    result = pick_confirm(task_id=task.pk, qty="7", request_key="user:1:h", actor=picker)
    assert task.history.count() == before + 1
    record = task.history.first()
    task.refresh_from_db()
    for field in record.instance_type._meta.concrete_fields:
        if field.attname != "updated_at":
            assert getattr(record, field.attname) == getattr(task, field.attname), field.name
    assert (record.history_type, record.history_change_reason) == ("~", "confirmed 7.000 (MANUAL)")
    assert record.history_user_id == picker.pk
    assert abs(record.history_date - task.finished_at) < timedelta(seconds=5)
    assert (result.task.status, result.task.qty_picked) == (task.status, task.qty_picked)
    confirmation = PickConfirmation.objects.get()
    assert confirmation.pk == result.confirmation.pk
    assert (confirmation.task_status, confirmation.qty_picked, confirmation.to_location_id) == (
        "SHORT",
        D("7"),
        task.to_location_id,
    )
    assert abs(confirmation.recorded_at - task.finished_at) < timedelta(seconds=5)
    line = order_of(order).lines.get()
    line_record = line.history.first()
    assert (line_record.qty_picked, line_record.history_type) == (D("7"), "~")
    assert (line_record.history_change_reason, line_record.history_user_id) == ("picked", picker.pk)
    assert order_of(order).history.filter(status="PICKING").count() == 1  # moved when started
    assert list(line.allocations.values_list("status", flat=True)) == ["ACTIVE"]


def test_pick_confirm_key_of_another_task_is_refused_and_changes_nothing(
    release_order, picker, picker2, layout
):
    """A key that already confirmed one task, sent for another open task, is caught by
    the unique key: confirmation_key_reused, the second task and stock untouched."""
    _order, _tasks = release_order([("SKU-A", 4), ("SKU-B", 3)])
    first = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    second = pick_task_next_for_picker(picker=picker2, warehouse=layout.warehouse)
    pick_confirm(task_id=first.pk, qty=first.qty_to_pick, request_key="user:1:k", actor=picker)
    assert list(first.order_line.allocations.values_list("status", flat=True)) == ["CONSUMED"]
    postings = InventoryPosting.objects.count()
    events = OutboxEvent.objects.count()
    with pytest.raises(ConfirmationKeyReused):
        pick_confirm(
            task_id=second.pk, qty=second.qty_to_pick, request_key="user:1:k", actor=picker2
        )
    second.refresh_from_db()
    assert (second.status, second.qty_picked) == (PickTaskStatus.ASSIGNED, D("0"))
    assert not second.history.filter(history_change_reason__startswith="confirmed").exists()
    assert PickConfirmation.objects.count() == 1
    assert (InventoryPosting.objects.count(), OutboxEvent.objects.count()) == (postings, events)
