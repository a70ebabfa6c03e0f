"""Counting without network (issue 16) in a real browser: a count page opened online
keeps its quantity and "location empty" results in the handheld's IndexedDB queue
while offline; back online they are recorded once through the sync endpoint."""

# ruff: noqa: F811 (fixtures of tests/counting imported by name, then requested as arguments)

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from counting.models import CountLine, CountType
from counting.services import count_open
from inventory.models import Location
from tasking.models import SyncEntry, SyncOutcome
from tests.browser.test_offline_handheld import _login, _offline, _online
from tests.counting.conftest import (  # noqa: F401 (fixtures, see above)
    available,
    bins,
    controller,
    items,
    receive,
    stocked,
    zone_a,
)
from tests.factories import UserFactory
from wms.roles import COUNTER

pytestmark = pytest.mark.browser


def _scan(page, value):
    field = page.locator("[data-scan]")
    field.fill(value)
    field.press("Enter")


def _counted(count):
    return dict(CountLine.objects.filter(count=count).values_list("location__code", "qty_counted"))


@pytest.mark.django_db(transaction=True)
def test_offline_count_results_kept_on_the_device_and_synced_once(
    live_server, page, warehouse, stocked, controller
):
    """Offline: 8 of SKU-1 at A-01 and "A-03 empty" are kept on the device, nothing
    reaches the server; back online both are recorded once (a second sync changes
    nothing)."""
    counter = UserFactory(username="pat", warehouses=[warehouse], is_staff=False)
    counter.groups.add(Group.objects.get(name=COUNTER))
    count = count_open(
        warehouse=warehouse, type=CountType.CYCLE, locations=["A-01", "A-03"], actor=controller
    )
    base = live_server.url
    _login(page, base, "pat", f"/handheld/counting/{count.pk}/")
    _scan(page, "LOC-A-01")
    page.locator("[data-testid=location]").wait_for()
    _scan(page, "SKU-1")
    page.locator("[data-testid=qty-form]").wait_for()
    # A second page of the same handheld, at A-03 (still online).
    other = page.context.new_page()
    a03 = Location.objects.get(warehouse=warehouse, code="A-03")
    other.goto(f"{base}/handheld/counting/{count.pk}/location/{a03.pk}/")
    other.locator("[data-testid=empty-form]").wait_for()

    keys = {
        page.locator("[data-testid=qty-form] [name=client_key]").input_value(),
        other.locator("[data-testid=empty-form] [name=client_key]").input_value(),
    }

    _offline(page.context)
    _scan(page, "8")
    banner = page.locator("[data-testid=offline-pending]")
    banner.wait_for()
    assert "1 action saved on this device" in banner.inner_text()
    assert page.locator("[data-testid=save-qty]").is_disabled()
    other.click("[data-testid=empty]")
    other.locator("[data-testid=offline-pending]").wait_for()
    assert (
        "2 actions saved on this device"
        in other.locator("[data-testid=offline-pending]").inner_text()
    )
    other.close()
    assert _counted(count) == {"A-01": None, "A-03": None}
    assert SyncEntry.objects.count() == 0

    _online(page.context)  # the page syncs on the "online" event
    page.locator("[data-testid=sync-sent]").wait_for()
    assert "2" in page.locator("[data-testid=sync-sent]").inner_text()
    assert page.evaluate("WmsOffline.pending().then(rows => rows.length)") == 0
    assert _counted(count) == {"A-01": Decimal("8"), "A-03": Decimal("0")}
    line = CountLine.objects.get(count=count, location__code="A-01", item__sku="SKU-1")
    assert line.counted_by == counter
    # Each entry under its form's own key: the same key the online post would use.
    assert sorted(SyncEntry.objects.values_list("key", "kind", "outcome")) == sorted(
        (key, "count.result", SyncOutcome.APPLIED) for key in keys
    )

    page.evaluate("WmsOffline.sync()")  # nothing left to send: nothing counted twice
    assert SyncEntry.objects.count() == 2
    assert _counted(count) == {"A-01": Decimal("8"), "A-03": Decimal("0")}
