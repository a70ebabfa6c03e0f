"""A supervisor's reports and dashboard in a real browser (issue 17): the dashboard
refreshes without a reload, a report downloads as an XLSX that openpyxl reads."""

from decimal import Decimal

import openpyxl
import pytest
from guardian.shortcuts import assign_perm

from inventory.services.stock import stock_receive
from tests.factories import (
    InventoryStatusFactory,
    ItemFactory,
    LocationFactory,
    UserFactory,
    WarehouseFactory,
)
from wms.models import Alert, AlertKind, AlertRule

pytestmark = pytest.mark.browser


@pytest.fixture
def floor(transactional_db):
    """MAD1 with 4 and 6 units of SKU-X (cost 2.5) and a finance-role supervisor."""
    warehouse = WarehouseFactory(code="MAD1")
    available = InventoryStatusFactory(code="AVAILABLE")
    item = ItemFactory(warehouse=warehouse, sku="SKU-X", unit_cost=Decimal("2.50"))
    for n, qty in enumerate((4, 6)):
        location = LocationFactory(warehouse=warehouse, code=f"X-0{n}")
        stock_receive(item=item, location=location, status=available, qty=qty,
                      posting_key=f"x{n}", source_ref="X")  # fmt: skip
    user = UserFactory(username="boss", warehouses=[warehouse])
    for perm in (
        "wms.view_alert",
        "inventory.view_inventorybalance",
        "inventory.view_financeevent",
    ):
        assign_perm(perm, user)
    return {"warehouse": warehouse}


def _login(page, live_server):
    page.goto(f"{live_server.url}/admin/login/?next=/dashboard/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-for-tests-1")
    page.click("input[type=submit]")
    page.wait_for_url("**/dashboard/")


@pytest.mark.django_db(transaction=True)
def test_dashboard_refreshes_alerts_without_reload(live_server, page, floor):
    """An alert opened after the page loaded shows up on the next poll, same page."""
    _login(page, live_server)
    assert page.locator("#orders .tile").count() >= 8
    assert page.evaluate("typeof window.wmsDashboardChart.update") == "function"
    page.evaluate("window.__loadedOnce = true")
    rule = AlertRule.objects.create(
        warehouse=floor["warehouse"], name="R", kind=AlertKind.LOW_STOCK
    )
    Alert.objects.create(rule=rule, warehouse=floor["warehouse"], subject="s",
                         message="SKU-X at X-00: 4 on hand, minimum 5")  # fmt: skip
    page.evaluate("window.wmsDashboardRefresh()")
    page.locator("#alerts").get_by_text("SKU-X at X-00").wait_for()
    assert page.evaluate("window.__loadedOnce") is True  # no reload happened


@pytest.mark.django_db(transaction=True)
def test_stock_report_xlsx_download_opens_with_rows(live_server, page, floor, tmp_path):
    """The stock report page offers an XLSX whose rows are the stock, valued."""
    _login(page, live_server)
    page.goto(f"{live_server.url}/reports/stock-on-hand/?warehouse=MAD1")
    assert page.locator("#report tbody tr").count() == 2
    with page.expect_download() as info:
        page.click("#download-xlsx")
    path = tmp_path / "stock.xlsx"
    info.value.save_as(path)
    sheet = openpyxl.load_workbook(path).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header == ("Warehouse", "Location", "SKU", "Status", "On hand", "Unit cost",
                      "Value", "Currency")  # fmt: skip
    assert sorted((r[1], r[4], r[6]) for r in rows) == [("X-00", 4, 10), ("X-01", 6, 15)]
