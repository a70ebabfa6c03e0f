"""Supervisor report pages, the dashboard and scheduled reports (issue 17)."""

import io
from decimal import Decimal

import openpyxl
import pytest
from django.core import mail
from django.utils import timezone
from guardian.shortcuts import assign_perm

from integrations import report_views
from integrations.reports import REPORTS
from integrations.scheduled_reports import subscriptions_send_due
from inventory.services.stock import stock_receive
from tests.factories import InventoryStatusFactory, ItemFactory, LocationFactory, UserFactory
from wms.models import Alert, AlertKind, AlertRule, ReportSubscription

SUPERVISOR_PERMS = [
    "inventory.view_inventorybalance",
    "outbound.view_replenishmentorder",
    "tasking.view_picktask",
    "tasking.view_exceptioncase",
    "inbound.view_inboundshipment",
    "counting.view_inventorycount",
    "integrations.view_webhookdelivery",
    "wms.view_alert",
]


@pytest.fixture
def supervisor(warehouse):
    user = UserFactory(username="sup", warehouses=[warehouse])
    for perm in SUPERVISOR_PERMS:
        assign_perm(perm, user)
    return user


@pytest.fixture
def three_balances(warehouse):
    available = InventoryStatusFactory(code="AVAILABLE")
    item = ItemFactory(warehouse=warehouse, sku="SKU-P", unit_cost=Decimal("2"))
    for n in range(3):
        location = LocationFactory(warehouse=warehouse, code=f"P-{n}")
        stock_receive(item=item, location=location, status=available, qty=n + 1,
                      posting_key=f"p{n}", source_ref="P")  # fmt: skip


def test_report_pages_every_report_renders(supervisor, client):
    """Each report a supervisor may read renders with its filters and download buttons."""
    client.force_login(supervisor)
    index = client.get("/reports/")
    assert index.status_code == 200
    for slug in REPORTS:
        response = client.get(f"/reports/{slug}/")
        assert response.status_code == 200, (slug, response.content[:500])
        assert b'id="download-xlsx"' in response.content


def test_report_page_bad_filter_is_a_message(supervisor, client):
    """An asOf in the future is a message on the page (400), not a 500 or an empty table."""
    client.force_login(supervisor)
    response = client.get("/reports/stock-on-hand/", {"asOf": "2999-01-01T00:00"})
    assert response.status_code == 400
    assert b"asOf must be a date and time in the past" in response.content


def test_report_page_says_when_rows_are_cut(supervisor, client, three_balances, monkeypatch):
    """More rows than the page shows: the page says so and offers the download."""
    monkeypatch.setattr(report_views, "PAGE_ROWS", 2)
    client.force_login(supervisor)
    response = client.get("/reports/stock-on-hand/")
    assert b'id="truncated"' in response.content
    assert response.content.count(b"SKU-P") == 2
    assert b"Values at cost are shown to finance only" in response.content


def test_dashboard_page_and_data(supervisor, client, warehouse):
    """The dashboard renders and its JSON carries the open alerts and order counts."""
    rule = AlertRule.objects.create(warehouse=warehouse, name="R", kind=AlertKind.DEAD_LETTERS)
    Alert.objects.create(rule=rule, warehouse=warehouse, subject="s", message="Broken relay")
    client.force_login(supervisor)
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert b"chart.umd.min.js" in page.content and b"Broken relay" in page.content
    data = client.get("/dashboard/data.json").json()
    assert [a["message"] for a in data["alerts"]] == ["Broken relay"]
    assert {s["status"] for s in data["ordersByStatus"]} >= {"ACCEPTED", "SHIPPED"}
    assert client.get("/dashboard/data.json", {"warehouse": "NOPE"}).status_code == 400


def test_dashboard_refused_without_permission(warehouse, client):
    """A picker does not get the supervisor's dashboard."""
    client.force_login(UserFactory(username="picker", warehouses=[warehouse]))
    assert client.get("/dashboard/").status_code == 403


def test_subscriptions_send_due_mails_xlsx_once(supervisor, three_balances):
    """A due subscription is mailed with the report attached, then not again until due."""
    ReportSubscription.objects.create(
        owner=supervisor,
        report="stock-on-hand",
        params={"warehouse": "MAD1"},
        recipients="sup@example.com",
        next_run_at=timezone.now(),
    )
    assert subscriptions_send_due() == 1
    assert subscriptions_send_due() == 0
    [message] = mail.outbox
    name, content, _media_type = message.attachments[0]
    assert name.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 4 and rows[1][2] == "SKU-P"
    assert rows[1][6] is None  # a supervisor is not finance: no value


def test_subscriptions_bad_filter_recorded_not_retried(supervisor):
    """Filters that became invalid are recorded on the subscription and the run skipped."""
    subscription = ReportSubscription.objects.create(
        owner=supervisor,
        report="stock-on-hand",
        params={"warehouse": "GONE"},
        recipients="sup@example.com",
        next_run_at=timezone.now(),
    )
    assert subscriptions_send_due() == 0
    subscription.refresh_from_db()
    assert "Unknown warehouse" in subscription.last_error
    assert subscription.next_run_at > timezone.now()
    assert mail.outbox == []


def test_subscription_admin_offers_the_reports(db, client):
    """The subscription form lists the catalogue's reports (the kernel fills no names)."""
    client.force_login(UserFactory(username="root", is_superuser=True))
    page = client.get("/admin/wms/reportsubscription/add/").content.decode()
    assert 'value="stock-on-hand"' in page and 'value="order-cycle-time"' in page
    assert 'href="/reports/"' in page and 'href="/dashboard/"' in page  # the admin's links
