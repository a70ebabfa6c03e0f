"""Count admin: progress, variance review actions, settings, all stopping at the grant."""

import pytest
from django.test import Client

from counting.models import CountLine, CountLineState, CountSettings, CountType
from counting.services import count_open, count_result_record
from tests.factories import WarehouseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_for():
    def login(user):
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def waiting(warehouse, stocked, controller, counter_one):
    """A count with one line waiting for a recount (tolerance 0)."""
    CountSettings.objects.create(warehouse=warehouse, recount_tolerance_qty=0)
    count = count_open(
        warehouse=warehouse, type=CountType.SPOT, locations=["A-01"], actor=controller
    )
    count_result_record(
        count=count,
        lines=[{"location": "A-01", "sku": "SKU-1", "qty_counted": "7"}],
        actor=counter_one,
        request_key="a1",
    )
    return count


def test_count_admin_lists_progress(admin_for, controller, waiting):
    """The count list shows lines counted of the total."""
    page = admin_for(controller).get("/admin/counting/inventorycount/").content.decode()
    assert waiting.count_number in page and "1 / 1" in page


def test_count_admin_accept_variance_by_another_person(admin_for, controller, waiting):
    """A controller approves a variance counted by someone else: the line is counted."""
    line = CountLine.objects.get(count=waiting)
    response = admin_for(controller).post(
        "/admin/counting/countline/",
        {"action": "accept_variances", "_selected_action": [line.pk]},
    )
    assert response.status_code == 302
    line.refresh_from_db()
    assert line.state == CountLineState.COUNTED and line.reviewed_by_label == "controller"


def test_count_admin_accept_own_variance_refused(admin_for, counter_one, waiting):
    """The counter cannot approve the variance of their own count."""
    line = CountLine.objects.get(count=waiting)
    admin_for(counter_one).post(
        "/admin/counting/countline/",
        {"action": "accept_variances", "_selected_action": [line.pk]},
    )
    line.refresh_from_db()
    assert line.state == CountLineState.RECOUNT_REQUIRED


def test_count_admin_other_warehouse_hidden(admin_for, controller, warehouse, waiting):
    """Counts of a warehouse the user was not granted are not listed."""
    other = WarehouseFactory(code="BCN1", name="Barcelona")
    from counting.models import InventoryCount

    InventoryCount.objects.create(count_number="CNT-BCN1-X", warehouse=other, type="FULL")
    page = admin_for(controller).get("/admin/counting/inventorycount/").content.decode()
    assert "CNT-BCN1-X" not in page


def test_count_admin_opens_a_count_through_the_service(admin_for, controller, warehouse, stocked):
    """The add page opens a count (lines from the books); an unknown location is a form error."""
    client = admin_for(controller)
    assert client.get("/admin/counting/inventorycount/add/").status_code == 200
    refused = client.post(
        "/admin/counting/inventorycount/add/",
        {"warehouse": warehouse.pk, "type": "CYCLE", "blind": "on", "locations": "Z-99"},
    )
    assert refused.status_code == 200 and "Z-99" in refused.content.decode()
    response = client.post(
        "/admin/counting/inventorycount/add/",
        {"warehouse": warehouse.pk, "type": "CYCLE", "blind": "on", "locations": "A-01, A-02"},
    )
    from counting.models import InventoryCount

    count = InventoryCount.objects.get()
    assert response.status_code == 302 and count.lines.count() == 3
