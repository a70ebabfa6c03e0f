"""A supervisor ships packed orders from the admin in a real browser: the orders' ship
action, its door/carrier form, the shipment's page."""

# ruff: noqa: F811 (fixtures of tests/tasking imported by name, then requested as arguments)

import pytest
from django.contrib.auth.models import Group

from outbound.models import OrderStatus, Shipment
from tests.browser.handheld import PASSWORD
from tests.factories import UserFactory
from tests.tasking.conftest import (  # noqa: F401 (fixtures)
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
def test_admin_ship_action_in_the_browser(live_server, page, layout, doors, pack_for_store):
    """Packed orders filtered, two ticked, "Ship selected packed orders at a dock door…",
    D02 and a carrier chosen, confirmed: the shipment's page opens with the message and
    both orders are SHIPPED."""
    first, _ = pack_for_store("S042", [[("SKU-A", 2)], [("SKU-B", 1)]])
    second, _ = pack_for_store("S042", [[("SKU-A", 1)]])
    sara = UserFactory(username="sara", warehouses=[layout.warehouse])
    sara.groups.add(Group.objects.get(name="supervisor"))
    base = live_server.url
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "sara")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")

    page.goto(f"{base}/admin/outbound/replenishmentorder/?status__exact=PACKED")
    for order in (first, second):
        page.check(f"input[name=_selected_action][value='{order.pk}']")
    page.select_option("select[name=action]", "ship_orders")
    page.click("button[name=index]")
    page.locator("#ship-orders").wait_for()
    assert page.locator("#id_dock_door option").all_inner_texts() == ["D02"]
    page.fill("#id_carrier", "SEUR")
    page.fill("#id_tracking_ref", "SEUR-1")
    page.click("input[type=submit][value='Confirm shipment']")
    page.wait_for_url("**/admin/outbound/shipment/*/change/")
    shipment = Shipment.objects.get()
    assert (
        f"Shipment {shipment.shipment_number} confirmed: 2 order(s) shipped."
        in page.locator(".messagelist").inner_text()
    )
    assert (shipment.carrier, shipment.tracking_ref, shipment.dock_door.code) == (
        "SEUR",
        "SEUR-1",
        "D02",
    )
    assert {order_of(first).status, order_of(second).status} == {OrderStatus.SHIPPED}
