"""Loading a truck in a real browser: a loader on the handheld dock pages.

The orders are picked and packed through the real services (fixtures of
tests/tasking), so their packages carry real SSCCs; the loader scans the door,
the packages (one as a scanner reads the GS1-128 label: ``]C1`` + ``00`` + SSCC)
and confirms: the shipping service ships the order.
"""

# ruff: noqa: F811 (fixtures of tests/tasking imported by name, then requested as arguments)

import pytest

from inventory.models import InventoryLedgerEntry
from outbound.models import OrderStatus, PackageStatus, Shipment
from tests.browser.handheld import login, scan
from tests.tasking.conftest import (  # noqa: F401 (fixtures, see above)
    carton,
    layout,
    order_of,
    picker,
    release_order,
    store,
)
from tests.tasking.dock_support import doors, pack_for_store  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_dock_flow_door_wrong_package_two_packages_confirm(
    live_server, page, doors, pack_for_store
):
    """Scan door D02; load the first package of an S042 order; another store's package is
    refused (nothing loaded); load the second package; confirm with the carrier: one
    shipment through D02, the order and both packages SHIPPED; its packing list prints."""
    order, (first, second) = pack_for_store("S042", [[("SKU-A", 6)], [("SKU-A", 4), ("SKU-B", 5)]])
    other, (foreign,) = pack_for_store("S077", [[("SKU-B", 1)]])
    base = live_server.url
    login(page, base, "pablo", "/handheld/picking/dock/")
    ready = page.locator("[data-testid=ready-orders]").inner_text()
    assert order.external_order_id in ready and "S077" in ready

    scan(page, "D02")
    page.wait_for_url(f"{base}/handheld/picking/dock/load/")
    assert page.locator("[data-testid=door]").inner_text() == "D02"

    scan(page, first.sscc)
    success = page.locator("[data-testid=flash-success]")
    success.wait_for()
    assert f"Loaded package {first.sscc}" in success.inner_text()
    assert page.locator(f"[data-testid=loaded-count-{order.external_order_id}]").inner_text() == (
        "1 / 2"
    )

    scan(page, foreign.sscc)
    error = page.locator("[data-testid=flash-error]")
    error.wait_for()
    assert (
        f"{foreign.sscc} is for store S077, this load is for store S042; nothing was loaded."
        in error.inner_text()
    )
    assert page.locator("[data-testid=load-count]").inner_text() == "1 package"

    scan(page, f"]C100{second.sscc}")  # the label's GS1-128 as the scanner sends it
    page.locator("[data-testid=flash-success]").wait_for()
    assert page.locator(f"[data-testid=loaded-count-{order.external_order_id}]").inner_text() == (
        "2 / 2"
    )
    assert page.locator("[data-testid=load-store]").inner_text() == "S042"

    page.fill("#id_carrier", "DHL")
    page.fill("#id_tracking_ref", "TRK-42")
    page.click("[data-testid=confirm]")
    page.locator("[data-testid=shipment-number]").wait_for()
    shipment = Shipment.objects.get()
    assert page.locator("[data-testid=shipment-number]").inner_text() == shipment.shipment_number
    assert f"Shipment {shipment.shipment_number} confirmed" in (
        page.locator("[data-testid=flash-success]").inner_text()
    )
    assert (shipment.dock_door.code, shipment.carrier, shipment.tracking_ref) == (
        "D02",
        "DHL",
        "TRK-42",
    )
    assert order_of(order).status == OrderStatus.SHIPPED
    assert set(order.packages.values_list("status", flat=True)) == {PackageStatus.SHIPPED}
    assert order_of(other).status == OrderStatus.PACKED
    assert InventoryLedgerEntry.objects.filter(entry_type="ISSUE").count() == 2  # two lines

    # The packing list of what left (the page's link, with the loader's cookies).
    href = page.locator("[data-testid=packing-list]").get_attribute("href")
    pdf = page.context.request.get(f"{base}{href}")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")
