"""Put-away without network (issue 16) in a real browser: the open put-aways kept on
the device, the destination scan checked on the device, the confirmation queued in
IndexedDB and applied once when the network is back."""

# ruff: noqa: F811 (fixtures of tests/inbound imported by name, then requested as arguments)

from decimal import Decimal

import pytest

from inbound.models import PutAwayTaskStatus
from inbound.services import ReceiptLineSpec, receipt_post
from inventory.models import InventoryPosting
from tests.browser.test_offline_handheld import _login, _offline, _online, _ready_offline, _scan
from tests.inbound.conftest import (  # noqa: F401
    available,
    case,
    damaged,
    each,
    inbound_settings,
    layout,
    make_asn,
    receiver,
    strategy,
    supervisor,
)

pytestmark = pytest.mark.browser
D = Decimal


@pytest.fixture(autouse=True)
def _count_reason_not_seeded(transactional_db):
    """The layout fixture creates COUNT_DIFF, which counting's migration now seeds too."""
    from inventory.models import ReasonCode

    ReasonCode.objects.filter(code="COUNT_DIFF").delete()


@pytest.mark.django_db(transaction=True)
def test_offline_putaway_scanned_on_the_device_and_synced_once(
    live_server, page, layout, inbound_settings, strategy, make_asn, receiver
):
    """Offline: a wrong destination is refused on the device, the right one is kept;
    back online the goods move once and the task is done."""
    asn = make_asn(lines=[(1, "SKU-A", "24", "EA")])
    [task] = receipt_post(
        shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("24"))], actor=None
    ).tasks
    base = live_server.url
    _login(page, base, "rita", "/handheld/offline/")
    page.locator("[data-testid=work-task-putaway]").wait_for()
    _ready_offline(page, base)
    _offline(page.context)
    page.reload()
    page.click(f"[data-task='{task.pk}']")
    _scan(page, "LA-02")
    error = page.locator("[data-testid=flash-error]")
    error.wait_for()
    assert f"the task is at {task.to_location.code}" in error.inner_text()
    _scan(page, task.to_location.barcode)
    page.locator("[data-testid=saved]").wait_for()
    assert (
        "1 action saved on this device"
        in page.locator("[data-testid=offline-pending]").inner_text()
    )
    task.refresh_from_db()
    assert task.status == PutAwayTaskStatus.OPEN

    _online(page.context)
    page.evaluate("WmsOffline.sync()")
    page.locator("[data-testid=sync-sent]").wait_for()
    task.refresh_from_db()
    assert (task.status, task.confirmed_location_id) == (
        PutAwayTaskStatus.DONE,
        task.to_location_id,
    )
    assert InventoryPosting.objects.filter(posting_key=task.posting_key).count() == 1
    page.evaluate("WmsOffline.sync()")
    assert InventoryPosting.objects.filter(posting_key=task.posting_key).count() == 1
