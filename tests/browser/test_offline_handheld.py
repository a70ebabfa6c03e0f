"""Disconnected operations (issue 16) in a real browser: the service worker, the
IndexedDB queue, work downloaded ahead, the sync on reconnect, conflicts, and a
network that keeps dropping during a sync.

"Offline" is the browser context's offline mode plus a route that cuts every
request the service worker makes (Playwright's offline mode alone does not reach
a service worker's own fetches: microsoft/playwright#2311), so a page that opens
comes from the worker's cache, not from the server.
"""

# ruff: noqa: F811 (fixtures of tests/tasking imported by name, then requested as arguments)

import os
from decimal import Decimal

import pytest

from tasking.models import PickConfirmation, PickTask, PickTaskStatus, SyncEntry
from tasking.services import pick_task_reassign
from tests.tasking.conftest import (  # noqa: F401 (fixtures, see above)
    balance,
    layout,
    order_of,
    picker,
    picker2,
    release_order,
    store,
    supervisor,
)

# Service-worker requests show up in the context's routes (read when the browser
# fixture starts Playwright: browser tests run after every other test).
os.environ.setdefault("PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS", "1")

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


def _cut(route):
    route.abort("internetdisconnected")


def _offline(context):
    context.set_offline(True)
    context.route("**/*", _cut)


def _online(context):
    context.unroute("**/*", _cut)
    context.set_offline(False)


def _ready_offline(page, base):
    """The worker controls the page and has kept the shell (reload once online)."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    # The pages a handheld needs without network are in the cache.
    page.wait_for_function(
        """caches.open('wms-handheld-pages').then(c => c.keys()).then(
             keys => keys.some(k => k.url.endsWith('/handheld/offline/')))"""
    )


def _scan(page, value):
    field = page.locator("#wt-code")
    field.fill(value)
    field.press("Enter")


def _pick_on_device(page, task_id, location, item, qty=None, short=False):
    page.click(f"[data-task='{task_id}']")
    _scan(page, location)
    _scan(page, item)
    if qty is not None:
        page.fill("#wt-qty-input", str(qty))
    page.click("[data-testid=wt-short]" if short else "[data-testid=wt-confirm]")
    page.locator("[data-testid=saved]").wait_for()


def _pending(page) -> int:
    return page.evaluate("WmsOffline.pending().then(rows => rows.length)")


@pytest.mark.django_db(transaction=True)
def test_offline_picker_reloads_without_network_and_syncs_once(
    live_server, page, layout, release_order, picker
):
    """Download work, go offline, reload: the page and the tasks are still there; a
    wrong scan is refused on the device; 5 picks and a short pick are kept; back
    online they arrive once, balances and tasks as expected, inventory clean."""
    orders = [release_order([("SKU-A", 2), ("SKU-B", 3)])[0] for _ in range(3)]
    base = live_server.url
    _login(page, base, "pablo", "/handheld/offline/")
    page.click("[data-testid=download]")
    page.locator("[data-testid=downloaded]").wait_for()
    assert page.locator("[data-testid=work-task-pick]").count() == 6
    _ready_offline(page, base)

    _offline(page.context)
    page.reload()
    assert page.locator("h1").inner_text() == "Work on this device"
    assert page.locator("[data-testid=work-task-pick]").count() == 6

    tasks = list(PickTask.objects.order_by("pick_sequence", "id"))
    first = tasks[0]
    page.click(f"[data-task='{first.pk}']")
    _scan(page, "LR01")
    error = page.locator("[data-testid=flash-error]")
    error.wait_for()
    assert error.inner_text() == (
        f"Wrong location: you scanned LR01, the task is at {first.from_location.code}."
    )
    _scan(page, first.from_location.barcode)
    _scan(page, "8400000000099")
    assert "Wrong item: you scanned 8400000000099" in error.inner_text()
    page.click("[data-testid=wt-back]")

    for task in tasks[:5]:
        _pick_on_device(page, task.pk, task.from_location.barcode, task.item.gtin)
    short = tasks[5]
    _pick_on_device(page, short.pk, short.from_location.code, short.item.sku, qty=1, short=True)
    banner = page.locator("[data-testid=offline-pending]")
    assert "6 actions saved on this device" in banner.inner_text()
    assert page.locator("[data-testid=work-task-pick]").count() == 0

    # Restarted without network: the queue page and the pending actions are still there.
    page.goto(f"{base}/handheld/picking/")
    assert page.locator("h1").inner_text() == "My picking queue"
    banner.wait_for()
    assert "6 actions saved on this device" in banner.inner_text()
    assert not PickConfirmation.objects.exists()

    _online(page.context)
    page.evaluate("WmsOffline.sync()")
    page.locator("[data-testid=sync-sent]").wait_for()
    assert page.locator("[data-testid=sync-sent]").inner_text() == "Sent: 6 actions arrived."
    assert _pending(page) == 0
    assert PickConfirmation.objects.count() == 6
    statuses = sorted(PickTask.objects.values_list("status", flat=True))
    assert statuses == [PickTaskStatus.DONE] * 5 + [PickTaskStatus.SHORT]
    staged = [balance(i, layout.staging, layout.available)[0] for i in (layout.sku_a, layout.sku_b)]
    assert sum(staged) == D("15") - (short.qty_to_pick - 1)  # 3 x (2 + 3), one short by the rest
    assert {order_of(o).status for o in orders} == {"PICKING"}
    page.evaluate("WmsOffline.sync()")  # nothing left: nothing sent twice
    assert SyncEntry.objects.count() == 6
    from django.core.management import call_command

    call_command("verify_inventory")


@pytest.mark.django_db(transaction=True)
def test_offline_two_devices_and_a_reassigned_task(
    live_server, browser, page, layout, release_order, picker, picker2, supervisor
):
    """Two devices of one picker pick the same task offline, and a supervisor
    reassigns another meanwhile: the first pick applies, the late ones are refused
    with a reason on the device and open conflict cases; nothing twice."""
    release_order([("SKU-A", 2), ("SKU-B", 3)])
    base = live_server.url
    other = browser.new_context(locale="en-US").new_page()
    devices = [page, other]
    for device in devices:
        _login(device, base, "pablo", "/handheld/offline/")
        device.click("[data-testid=download]")
        device.locator("[data-testid=downloaded]").wait_for()
        _ready_offline(device, base)
        _offline(device.context)
    t1, t2 = PickTask.objects.order_by("pick_sequence", "id")
    pick_task_reassign(task_id=t2.pk, picker=picker2, actor=supervisor)

    for device in devices:
        _pick_on_device(device, t1.pk, t1.from_location.barcode, t1.item.gtin)
    _pick_on_device(page, t2.pk, t2.from_location.barcode, t2.item.gtin)

    for device in devices:
        _online(device.context)
        device.evaluate("WmsOffline.sync()")
        device.locator("[data-testid=sync-sent], [data-testid=sync-refused]").first.wait_for()
    page.locator("[data-testid=sync-sent]").wait_for()
    refused = page.locator("[data-testid=sync-refused-entry]")
    assert refused.count() == 1
    assert "This task is not assigned to you." in refused.inner_text()
    assert "Your supervisor was told." in refused.inner_text()
    late = other.locator("[data-testid=sync-refused-entry]")
    late.wait_for()
    assert "takes no more confirmations" in late.inner_text()

    assert PickConfirmation.objects.count() == 1
    t1.refresh_from_db()
    t2.refresh_from_db()
    assert (t1.status, t2.status, t2.assigned_to_id) == ("DONE", "ASSIGNED", picker2.pk)
    conflicts = SyncEntry.objects.filter(conflict_status="OPEN")
    assert sorted(conflicts.values_list("reason_code", flat=True)) == [
        "task_not_assigned_to_you",
        "task_not_open",
    ]
    assert conflicts.values("device").distinct().count() == 2
    other.context.close()


@pytest.mark.django_db(transaction=True)
def test_offline_sync_network_drops_20_times(live_server, page, layout, release_order, picker):
    """The connection is cut 20 times during a sync (before the server has the
    batch, or after it applied it and before the device hears back): the device
    keeps sending what was not answered; each action is applied exactly once."""
    for _ in range(4):
        release_order([("SKU-A", 1), ("SKU-B", 1)])
    base = live_server.url
    _login(page, base, "pablo", "/handheld/offline/")
    page.click("[data-testid=download]")
    page.locator("[data-testid=downloaded]").wait_for()
    tasks = list(PickTask.objects.order_by("pick_sequence", "id"))
    assert len(tasks) == 8
    for task in tasks:
        page.evaluate(
            "([id, loc, item]) => WmsOffline.enqueue('pick.confirm', "
            "{taskId: id, location: loc, item: item, qty: '1'})",
            [str(task.pk), task.from_location.barcode, task.item.gtin],
        )
    assert _pending(page) == 8

    drops = {"n": 0}

    def flaky(route):
        if drops["n"] >= 20:
            route.continue_()
            return
        drops["n"] += 1
        if drops["n"] % 2:
            route.abort("connectionreset")  # cut before the server had it
        else:
            route.fetch()  # the server applies the batch ...
            route.abort("connectionreset")  # ... and its answer is lost

    page.context.route("**/handheld/offline/sync/", flaky)
    page.evaluate("window.WMS_SYNC_BATCH = 3")
    for _ in range(40):
        page.evaluate("WmsOffline.sync()")
        if _pending(page) == 0:
            break
    assert drops["n"] == 20
    assert _pending(page) == 0
    assert PickConfirmation.objects.count() == 8
    assert SyncEntry.objects.count() == 8
    assert set(PickTask.objects.values_list("status", flat=True)) == {PickTaskStatus.DONE}
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("4"), D("0"))
    from django.core.management import call_command

    call_command("verify_inventory")


@pytest.mark.django_db(transaction=True)
def test_push_wave_released_appears_on_an_open_queue_page(
    live_server, page, layout, release_order, picker
):
    """A wave released while the picker's queue page is open shows on it within 2 s,
    without a reload by hand (server-sent events fed from the outbox)."""
    import time

    from playwright.sync_api import expect

    base = live_server.url
    _login(page, base, "pablo", "/handheld/picking/")
    waiting = page.locator("[data-testid=waiting]")
    assert waiting.inner_text() == "0 tasks waiting"
    expect(page.locator("body")).to_have_attribute("data-live", "open")
    release_order([("SKU-A", 5)])  # committed: wave.released is in the outbox
    released = time.monotonic()
    expect(waiting).to_have_text("1 task waiting", timeout=5_000)
    assert time.monotonic() - released < 2.0
    # Close the stream before the database is flushed (the server notices at its
    # next keep-alive).
    page.goto("about:blank")
    time.sleep(1.5)


@pytest.mark.django_db(transaction=True)
def test_push_supervisor_task_list_follows_a_wave_release(
    live_server, page, layout, release_order, supervisor
):
    """The supervisor's pick task list (admin) shows the tasks of a wave released
    meanwhile within 2 s, without a reload by hand."""
    import time

    from playwright.sync_api import expect

    base = live_server.url
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "sara")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    page.goto(f"{base}/admin/tasking/picktask/")
    expect(page.locator("html")).to_have_attribute("data-live", "open")
    _order, [task] = release_order([("SKU-A", 5)])
    released = time.monotonic()
    expect(page.locator("#result_list")).to_contain_text(task.label, timeout=5_000)
    assert time.monotonic() - released < 2.0
    page.goto("about:blank")
    time.sleep(1.5)
