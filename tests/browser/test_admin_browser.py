"""A supervisor uses the admin in a real browser: logs in, finds the demo warehouse,
switches to Spanish."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo", verbosity=0, stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.mark.django_db(transaction=True)
def test_admin_supervisor_logs_in_sees_warehouse_and_switches_to_spanish(live_server, page, demo):
    """Login as the demo supervisor, open warehouses, switch language, read Spanish."""
    page.goto(f"{live_server.url}/admin/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.fill("#id_username", "supervisor")
    page.fill("#id_password", "wms-demo")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.locator("#site-name").inner_text() == "WMS administration"

    page.click("text=Warehouses")
    page.wait_for_url("**/admin/inventory/warehouse/")
    assert page.locator("#result_list").inner_text().count("MAD1") == 1
    assert "Madrid distribution centre" in page.locator("#result_list").inner_text()

    with page.expect_navigation():
        page.select_option("#language-select", "es")
    page.wait_for_url("**/admin/inventory/warehouse/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("#site-name").inner_text() == "Administración del SGA"
    assert page.locator("h1").inner_text() == "Seleccione almacén a modificar"
    assert "MAD1" in page.locator("#result_list").inner_text()

    page.goto(f"{live_server.url}/admin/inventory/item/")
    assert "Agua mineral sin gas 1,5 L" in page.locator("#result_list tbody").inner_text()
    headers = page.locator("#result_list thead").text_content()  # DOM text, not upper-cased
    assert "Código de barras / GTIN" in headers
    page.screenshot(path="/tmp/wms-admin-es.png", full_page=False)
