"""Picking in a real browser: a picker on the handheld pages, a supervisor in the admin.

Orders go through the real intake → planning → wave release (fixtures of
tests/tasking), so the tasks hold real reservations and every check below is
on balances, reservations, tasks and orders in the database.
"""

# ruff: noqa: F811 (fixtures of tests/tasking imported by name, then requested as arguments)

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from inventory.models import InventoryReservation
from tasking.models import ExceptionCase, PickConfirmation, PickTask, PickTaskStatus
from tests.tasking.conftest import (  # noqa: F401 (fixtures, see above)
    balance,
    layout,
    order_of,
    picker,
    release_order,
    store,
    supervisor,
)

pytestmark = pytest.mark.browser
D = Decimal
PASSWORD = "pw-for-tests-1"


def _login(page, base, username, next_url):
    page.goto(f"{base}{next_url}")
    page.wait_for_url("**/login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url(f"{base}{next_url}")


def _scan(page, value):
    """A scanner types into the focused field and sends Enter."""
    field = page.locator("[data-scan]")
    assert field.evaluate("el => el === document.activeElement"), "scan field not focused"
    field.fill(value)
    field.press("Enter")


def _open_next_task(page) -> PickTask:
    page.click("[data-testid=next-task]")
    page.wait_for_url("**/handheld/picking/task/**")
    task_id = page.url.rstrip("/").split("/")[-1]
    return PickTask.objects.get(pk=task_id)


@pytest.mark.django_db(transaction=True)
def test_picking_handheld_full_flow(live_server, page, layout, release_order, picker):
    """Log in, take the next task, a wrong location is refused, right location and item,
    confirm: P-01 loses 5 (and its reservation), staging gains 5, task DONE, line picked."""
    order, _tasks = release_order([("SKU-A", 5)])
    base = live_server.url
    _login(page, base, "pablo", "/handheld/picking/")
    assert page.locator("[data-testid=waiting]").inner_text() == "1 task waiting"

    task = _open_next_task(page)
    assert page.locator("[data-testid=task-location]").inner_text() == "P-01"
    assert page.locator("[data-testid=task-qty]").inner_text() == "5 EA"

    _scan(page, "LP02")
    error = page.locator("[data-testid=flash-error]")
    error.wait_for()
    assert "Wrong location: you scanned LP02, the task is at P-01." in error.inner_text()
    task.refresh_from_db()
    assert task.status == PickTaskStatus.ASSIGNED

    _scan(page, "LP01")
    page.locator("[data-testid=location-ok]").wait_for()
    _scan(page, "8400000000011")
    qty = page.locator("input[name=qty]")
    qty.wait_for()
    assert qty.input_value() == "5"
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("50"), D("5"))
    _scan(page, "5")  # Enter on the quantity confirms
    page.wait_for_url(f"{base}/handheld/picking/")
    success = page.locator("[data-testid=flash-success]")
    assert "Picked 5 EA of SKU-A from P-01 → STG-01." in success.inner_text()

    task.refresh_from_db()
    assert (task.status, task.qty_picked) == (PickTaskStatus.DONE, D("5"))
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("45"), D("0"))
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("5"), D("0"))
    reservation = InventoryReservation.objects.get(pick_tasks=task)
    assert (reservation.state, reservation.qty_consumed) == ("CONSUMED", D("5"))
    assert order_of(order).lines.get().qty_picked == D("5")
    assert order_of(order).status == "PICKING"
    assert PickConfirmation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_picking_short_pick_exception_resolved_by_supervisor(
    live_server,
    page,
    browser,
    layout,
    release_order,
    picker,
    supervisor,
):
    """The picker finds 3 of 5 and short-picks; the supervisor re-allocates the 2 from
    reserve in the admin; the picker picks them there: the line is complete."""
    order, _tasks = release_order([("SKU-A", 5)])
    base = live_server.url
    _login(page, base, "pablo", "/handheld/picking/")
    task = _open_next_task(page)
    _scan(page, "LP01")
    page.locator("[data-testid=location-ok]").wait_for()
    _scan(page, "SKU-A")
    page.locator("input[name=qty]").fill("3")
    page.click("[data-testid=short]")
    page.wait_for_url(f"{base}/handheld/picking/")
    warning = page.locator("[data-testid=flash-warning]").inner_text()
    case = ExceptionCase.objects.get()
    assert f"Short pick: 2 missing. Exception {case.label} opened" in warning
    task.refresh_from_db()
    assert task.status == PickTaskStatus.SHORT
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("47"), D("2"))

    admin_context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    admin = admin_context.new_page()
    try:
        admin.goto(f"{base}/admin/")
        admin.fill("#id_username", "sara")
        admin.fill("#id_password", PASSWORD)
        admin.click("input[type=submit]")
        admin.wait_for_url(f"{base}/admin/")
        admin.goto(f"{base}/admin/tasking/exceptioncase/?status__exact=OPEN")
        assert case.label in admin.locator("#result_list").inner_text()
        admin.check(f"input.action-select[value='{case.pk}']")
        admin.select_option("select[name=action]", "resolve_reallocate")
        admin.click("button[name=index]")
        admin.wait_for_load_state()
        notice = admin.locator(".messagelist").inner_text()
        assert "1 exception(s) resolved: re-allocated." in notice
    finally:
        admin_context.close()

    case.refresh_from_db()
    assert (case.status, case.resolution, case.resolved_by.username) == (
        "RESOLVED",
        "REALLOCATED",
        "sara",
    )
    new = PickTask.objects.exclude(pk=task.pk).get(order=order)
    assert (new.from_location_id, new.qty_to_pick, new.status) == (
        layout.r1.pk,
        D("2"),
        PickTaskStatus.RELEASED,
    )
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("47"), D("0"))
    assert balance(layout.sku_a, layout.r1, layout.available) == (D("100"), D("2"))

    # The picker's queue is still open: the server pushes the resolution and the page
    # reloads by itself (a goto here would race that reload).
    expect(page.locator("[data-testid=waiting]")).to_have_text("1 task waiting", timeout=20_000)
    assert _open_next_task(page).pk == new.pk
    _scan(page, "LR01")
    page.locator("[data-testid=location-ok]").wait_for()
    _scan(page, "8400000000011")
    page.locator("input[name=qty]").wait_for()
    page.click("[data-testid=confirm]")
    page.wait_for_url(f"{base}/handheld/picking/")
    line = order_of(order).lines.get()
    assert (line.qty_picked, line.qty_allocated) == (D("5"), D("5"))
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("5"), D("0"))


@pytest.mark.django_db(transaction=True)
def test_picking_confirm_while_offline_is_replayed_once_back_online(
    live_server,
    page,
    layout,
    release_order,
    picker,
):
    """The Wi-Fi drops at "confirm": the pick waits in the device's queue (IndexedDB),
    nothing is posted; back online it is sent once, with the form's own key."""
    release_order([("SKU-A", 4)])
    base = live_server.url
    _login(page, base, "pablo", "/handheld/picking/")
    task = _open_next_task(page)
    _scan(page, "LP01")
    page.locator("[data-testid=location-ok]").wait_for()
    _scan(page, "8400000000011")
    page.locator("input[name=qty]").wait_for()

    page.context.set_offline(True)
    page.click("[data-testid=confirm]")
    pending = page.locator("[data-testid=offline-pending]")
    pending.wait_for()
    assert "1 action saved on this device" in pending.inner_text()
    stored = page.evaluate("WmsOffline.pending()")
    client_key = page.locator("input[name=client_key]").input_value()
    assert [(e["kind"], e["key"]) for e in stored] == [("pick.confirm", client_key)]
    assert not PickConfirmation.objects.exists()

    page.context.set_offline(False)
    page.wait_for_url(f"{base}/handheld/picking/")
    assert PickConfirmation.objects.count() == 1
    task.refresh_from_db()
    assert task.status == PickTaskStatus.DONE
    assert page.evaluate("WmsOffline.pending()") == []
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("4"), D("0"))
