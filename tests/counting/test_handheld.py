"""Handheld count pages: my counts, scan location, scan item, quantity, location empty."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from counting.models import CountLine, CountType
from counting.services import count_open
from tests.factories import UserFactory
from wms.roles import COUNTER

pytestmark = pytest.mark.django_db


@pytest.fixture
def counter(warehouse):
    user = UserFactory(username="pat", warehouses=[warehouse], is_staff=False)
    user.groups.add(Group.objects.get(name=COUNTER))
    return user


@pytest.fixture
def browser(counter):
    client = Client()
    client.force_login(counter)
    return client


@pytest.fixture
def count(warehouse, stocked, controller):
    return count_open(
        warehouse=warehouse, type=CountType.CYCLE, locations=["A-01", "A-03"], actor=controller
    )


def _at(count, code):
    location = count.lines.get(location__code=code, item__isnull=code == "A-03").location
    return f"/handheld/counting/{count.pk}/location/{location.pk}/"


def test_count_pages_menu_and_list_show_the_count(browser, count):
    """The menu offers counting; my counts list the open count with its progress."""
    assert 'data-menu="counting.count"' in browser.get("/handheld/").content.decode()
    page = browser.get("/handheld/counting/").content.decode()
    assert count.count_number in page and "0 of 2 lines counted" in page


def test_count_pages_scan_location_outside_count_is_refused(browser, count):
    """A location the count does not cover is refused with the reason (422)."""
    response = browser.post(f"/handheld/counting/{count.pk}/", {"code": "A-02"})
    assert response.status_code == 422
    assert "not part of this count" in response.content.decode()
    response = browser.post(f"/handheld/counting/{count.pk}/", {"code": "LOC-A-01"})
    assert response.status_code == 302 and response["Location"] == _at(count, "A-01")


def test_count_pages_blind_count_records_quantity(browser, count):
    """Scan item → quantity (no expected shown on a blind count) → counted."""
    url = _at(count, "A-01")
    step = browser.post(url, {"action": "item", "code": "SKU-1"})
    page = step.content.decode()
    assert step.status_code == 200 and 'data-testid="qty-form"' in page
    assert 'data-testid="expected"' not in page
    key = step.context["qty_form"].initial["client_key"]
    response = browser.post(url, {"action": "qty", "item": "SKU-1", "client_key": key, "qty": "8"})
    assert response.status_code == 302
    line = CountLine.objects.get(count=count, location__code="A-01", item__sku="SKU-1")
    assert line.qty_counted == Decimal("8") and line.counted_by.username == "pat"
    again = browser.post(url, {"action": "qty", "item": "SKU-1", "client_key": key, "qty": "8"})
    assert again.status_code == 302  # the same form twice counts once
    assert "Counted 8 of SKU-1 at A-01." in browser.get(url).content.decode()


def test_count_pages_negative_quantity_is_refused(browser, count):
    """A negative quantity is refused on the page and nothing is counted."""
    url = _at(count, "A-01")
    response = browser.post(url, {"action": "qty", "item": "SKU-1", "client_key": "k", "qty": "-2"})
    assert response.status_code == 422
    assert "cannot be negative" in response.content.decode()
    assert not CountLine.objects.filter(count=count, qty_counted__isnull=False).exists()


def test_count_pages_location_empty_counts_zero(browser, count):
    """ "Location empty" counts every line of the location 0 and asks for the next one."""
    response = browser.post(_at(count, "A-01"), {"action": "empty", "client_key": "e1"})
    assert response.status_code == 302 and response["Location"] == f"/handheld/counting/{count.pk}/"
    line = CountLine.objects.get(count=count, location__code="A-01")
    assert line.qty_counted == Decimal("0")


def test_count_pages_not_blind_shows_expected(browser, warehouse, stocked, controller):
    """A count that is not blind shows the expected quantity at the quantity step."""
    count = count_open(
        warehouse=warehouse,
        type=CountType.SPOT,
        locations=["A-01"],
        blind=False,
        actor=controller,
    )
    page = browser.post(_at(count, "A-01"), {"action": "item", "code": "SKU-1"}).content.decode()
    assert 'data-testid="expected">10 EA' in page


def test_count_pages_recount_does_not_show_the_first_count(browser, warehouse, count, counter_one):
    """The recounter does not see what the first counter found at the location."""
    from counting.models import CountSettings
    from counting.services import count_result_record

    CountSettings.objects.create(warehouse=warehouse, recount_tolerance_qty=0)
    count_result_record(
        count=count,
        lines=[{"location": "A-01", "sku": "SKU-1", "qty_counted": "3"}],
        actor=counter_one,
        request_key="first",
    )
    page = browser.get(_at(count, "A-01")).content.decode()
    assert 'data-testid="counted"' not in page
    scan = browser.get(f"/handheld/counting/{count.pk}/").content.decode()
    assert 'data-testid="recounts"' in scan and "A-01" in scan
