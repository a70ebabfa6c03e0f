"""A receiver on a phone-sized screen: logs in, receives against an ASN (a wrong scan is
refused), puts the goods away (a wrong location is refused), and switches to Spanish."""

import re
from decimal import Decimal

import pytest

# The inbound fixtures (warehouse layout, strategy, users, ASN factory) are reused as is.
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
from tests.inventory.helpers import balance_of

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def _scan(page, value: str) -> None:
    """What a scanner does: type into the focused field, then Enter."""
    page.keyboard.type(value)
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.mark.django_db(transaction=True)
def test_inbound_handheld_receive_and_put_away(
    live_server,
    page,
    layout,  # noqa: F811 (fixtures imported above)
    inbound_settings,  # noqa: F811
    strategy,  # noqa: F811
    receiver,  # noqa: F811
    make_asn,  # noqa: F811
):
    """Receive 2 cases and 3 damaged by scanning; put away with a refused wrong location."""
    asn = make_asn(ref="ASN-1", lines=[(1, "SKU-A", "24", "EA"), (2, "SKU-B", "10", "EA")])
    page.set_viewport_size(PHONE)

    # Log in (the user field has the focus; Enter in the password field submits).
    page.goto(f"{live_server.url}/handheld/")
    assert "/handheld/login/" in page.url
    assert _focused_id(page) == "id_username"
    page.keyboard.type("rita")
    page.fill("#id_password", "pw-for-tests-1")
    with page.expect_navigation():
        page.press("#id_password", "Enter")
    assert page.url == f"{live_server.url}/handheld/"
    page.click("[data-menu='inbound.receive']")

    # Scan the ASN: its page opens with the item scan field focused.
    assert _focused_id(page) == "id_code"
    _scan(page, "ASN-1")
    assert page.url.endswith(f"/handheld/inbound/receive/{asn.pk}/")
    assert _focused_id(page) == "id_code"

    # A wrong item is refused on the spot; nothing was received.
    _scan(page, "SKU-C")
    error = page.locator("[data-testid=flash-error]")
    assert error.inner_text() == "SKU-C is not on ASN ASN-1. Nothing was received."
    assert page.locator("[data-testid=received-1]").inner_text() == "0"
    assert _focused_id(page) == "id_code"  # ready for the next scan

    # The right item: quantity focused, receive 2 cases (= 24 each).
    _scan(page, "8400000000011")
    assert page.locator("[data-testid=scanned-item] .big").inner_text() == "SKU-A"
    assert _focused_id(page) == "id_qty"
    page.select_option("#id_uom", "CS")
    page.fill("#id_qty", "2")
    with page.expect_navigation():
        page.press("#id_qty", "Enter")
    success = page.locator("[data-testid=flash-success]").inner_text()
    assert success == "Received 2 CS of SKU-A (24 EA, AVAILABLE)."
    assert "take it to A-01" in page.locator("[data-testid=flash-info]").inner_text()
    assert page.locator("[data-testid=received-1]").inner_text() == "24"

    # Three damaged SKU-B: received into DAMAGED, the supervisor is told.
    _scan(page, "SKU-B")
    page.check("input[name=condition][value=DAMAGED]")
    page.fill("#id_qty", "3")
    with page.expect_navigation():
        page.click("[data-testid=qty-form] button[type=submit]")
    assert "(3 EA, DAMAGED)" in page.locator("[data-testid=flash-success]").inner_text()
    assert "Damaged goods received" in page.locator("[data-testid=flash-warning]").inner_text()
    assert balance_of(layout.sku_b, layout.rcv, layout.damaged)[0] == Decimal("3")

    # Put away: scan the item, the task shows its destination.
    page.goto(f"{live_server.url}/handheld/")
    page.click("[data-menu='inbound.putaway']")
    assert page.locator("[data-testid=tasks] li").count() == 2
    _scan(page, "SKU-A")
    assert page.locator("[data-testid=task-to]").inner_text() == "A-01"
    assert _focused_id(page) == "id_location"

    # A wrong location is refused: nothing moves, a reason is offered.
    _scan(page, "LA-02")
    assert (
        page.locator("[data-testid=flash-error]")
        .inner_text()
        .startswith("Wrong location: scanned A-02, expected A-01. Nothing was moved.")
    )
    assert page.locator("#id_reason").is_visible()
    assert balance_of(layout.sku_a, layout.a2, layout.available)[0] == Decimal("0")
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == Decimal("24")

    # The right location confirms the task and posts the move.
    page.fill("#id_location", "LA-01")
    with page.expect_navigation():
        page.press("#id_location", "Enter")
    assert (
        page.locator("[data-testid=flash-success]").inner_text()
        == "Put away 24 EA of SKU-A at A-01."
    )
    assert page.locator("[data-testid=tasks] li").count() == 1
    assert balance_of(layout.sku_a, layout.a1, layout.available)[0] == Decimal("24")
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == Decimal("0")

    # The shell speaks Spanish.
    with page.expect_navigation():
        page.select_option("#language-select", "es")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("h1").inner_text() == "Ubicar"
    _scan(page, "NADA")
    assert re.match(
        "No hay ninguna ubicación pendiente", page.locator("[data-testid=flash-error]").inner_text()
    )
    page.screenshot(path="/tmp/wms-handheld-putaway-es.png")
