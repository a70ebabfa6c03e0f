"""Packing in a real browser: a packer on the handheld pack pages, then the label.

The order is picked through the real intake → planning → wave release → pick
confirmation (fixtures of tests/tasking), so its pack task and quantities are
the ones the pick wrote. The label PDF is downloaded through the page's link and
its barcode decoded from pixels (``tests.barcodes``): it must read as the SSCC.
"""

# ruff: noqa: F811 (fixtures of tests/tasking imported by name, then requested as arguments)

from decimal import Decimal

import pytest

from outbound.models import OrderStatus, PackageStatus
from tasking.models import PackTask, PackTaskStatus
from tests.barcodes import decode_pdf_barcodes
from tests.tasking.conftest import (  # noqa: F401 (fixtures, see above)
    carton,
    layout,
    order_of,
    picked_order,
    picker,
    release_order,
    store,
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


def _pack(page, code, qty):
    """Set the quantity, then scan the item into the focused field (Enter packs)."""
    field = page.locator("[data-scan]")
    assert field.get_attribute("name") == "code"
    assert field.evaluate("el => el === document.activeElement"), "item field not focused"
    page.fill("#id_qty", str(qty))
    field.fill(code)
    field.press("Enter")
    page.wait_for_load_state()


def _packed(order) -> list[Decimal]:
    return [line.qty_packed for line in order_of(order).lines.order_by("line_number")]


@pytest.mark.django_db(transaction=True)
def test_pack_flow_two_packages_and_the_label(live_server, page, layout, picked_order, carton):
    """Scan the order; a wrong item is refused (nothing packed); pack 6 SKU-A, close the
    carton at 3.1 kg; pack 4 SKU-A and 5 SKU-B into a second one and close it: the order
    is PACKED; the first carton's "Print label" opens its PDF, whose GS1-128 reads
    (00) + SSCC."""
    order = picked_order
    base = live_server.url
    _login(page, base, "pablo", "/handheld/picking/pack/")
    assert order.external_order_id in page.locator("[data-testid=waiting-orders]").inner_text()

    _scan(page, order.external_order_id)
    page.wait_for_url(f"{base}/handheld/picking/pack/{order.pk}/")
    assert page.locator("[data-testid=left-SKU-A]").inner_text() == "10"
    assert page.locator("[data-testid=left-SKU-B]").inner_text() == "5"

    _pack(page, layout.sku_r.gtin, 1)  # SKU-R is in the warehouse, not on the order
    error = page.locator("[data-testid=flash-error]")
    error.wait_for()
    assert "This item is not on the order; nothing was packed." in error.inner_text()
    assert _packed(order) == [D("0"), D("0")] and not order.packages.exists()

    _pack(page, "8400000000011", 6)
    success = page.locator("[data-testid=flash-success]")
    success.wait_for()
    first = order.packages.get()
    assert f"Packed 6 EA of SKU-A into package {first.sscc}." in success.inner_text()
    assert page.locator("[data-testid=open-sscc]").inner_text() == first.sscc
    assert page.locator("[data-testid=left-SKU-A]").inner_text() == "4"

    page.fill("#id_weight_kg", "3.1")
    page.click("[data-testid=close]")
    page.locator(f"[data-testid=package-{first.sscc}]").wait_for()
    assert "print its label" in page.locator("[data-testid=flash-success]").inner_text()
    first.refresh_from_db()
    assert (first.status, first.weight_kg) == (PackageStatus.CLOSED, D("3.1"))

    _pack(page, "SKU-A", 4)  # a new carton opens (the type chooser remembers CARTON-M)
    second = order.packages.get(status=PackageStatus.OPEN)
    assert second.pk != first.pk and second.package_type.code == "CARTON-M"
    assert page.locator("[data-testid=open-sscc]").inner_text() == second.sscc
    _pack(page, "8400000000028", 5)
    assert _packed(order) == [D("10"), D("5")]

    # Nothing is left to scan: the weight field has the focus; Enter closes.
    _scan(page, "4.2")
    page.locator("[data-testid=order-packed]").wait_for()
    flashes = page.locator("[data-testid=flash-success]").all_inner_texts()
    assert f"Order {order.external_order_id} is packed." in flashes
    assert order_of(order).status == OrderStatus.PACKED
    assert PackTask.objects.get(order=order).status == PackTaskStatus.DONE
    assert page.locator("[data-scan]").get_attribute("id") == "id_next_code"

    # "Print label" opens the PDF in the browser (inline, for its print dialog).
    label = page.locator(f"[data-testid=package-{first.sscc}] [data-testid=label]")
    href = label.get_attribute("href")
    with page.expect_response(lambda r: r.url == f"{base}{href}") as answer:
        label.click()
    response = answer.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    page.wait_for_url(f"{base}{href}")
    # Chromium hands the navigation to its PDF viewer (the body seen here is the
    # viewer's shell): the bytes come from the same URL with the page's cookies.
    pdf = page.context.request.get(f"{base}{href}").body()
    assert pdf.startswith(b"%PDF-")
    assert decode_pdf_barcodes(pdf) == [f"00{first.sscc}"]
