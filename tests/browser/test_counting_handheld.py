"""A blind count on the handheld pages, in a real browser: scan, count, "location empty"."""

# ruff: noqa: F811 (fixtures of tests/counting imported by name, then requested as arguments)

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from counting.models import CountLine, CountType
from counting.services import count_close, count_open
from inventory.models import ReasonCode
from tests.counting.conftest import (  # noqa: F401 (fixtures, see above)
    available,
    bins,
    controller,
    items,
    receive,
    stocked,
    zone_a,
)
from tests.factories import UserFactory
from wms.roles import COUNTER

pytestmark = pytest.mark.browser
PASSWORD = "pw-for-tests-1"


def _scan(page, value):
    """A scanner types into the focused field and sends Enter."""
    field = page.locator("[data-scan]")
    assert field.evaluate("el => el === document.activeElement"), "scan field not focused"
    field.fill(value)
    field.press("Enter")


@pytest.mark.django_db(transaction=True)
def test_counting_handheld_blind_count(live_server, page, warehouse, stocked, controller):
    """A counter counts A-01 blind (no expected quantity anywhere), a location outside
    the count is refused, A-03 is reported empty; closing adjusts A-01 by -2."""
    ReasonCode.objects.get_or_create(
        code="COUNT_DIFF", defaults={"description": "Count difference", "use": "ADJUSTMENT"}
    )
    counter = UserFactory(username="pat", warehouses=[warehouse], is_staff=False)
    counter.groups.add(Group.objects.get(name=COUNTER))
    count = count_open(
        warehouse=warehouse, type=CountType.CYCLE, locations=["A-01", "A-03"], actor=controller
    )
    base = live_server.url

    page.goto(f"{base}/handheld/counting/")
    page.wait_for_url("**/login/**")
    page.fill("#id_username", "pat")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url(f"{base}/handheld/counting/")
    page.click(f"[data-count='{count.count_number}']")
    page.wait_for_url(f"**/handheld/counting/{count.pk}/")

    _scan(page, "A-02")
    error = page.locator("[data-testid=flash-error]")
    error.wait_for()
    assert "Location A-02 is not part of this count." in error.inner_text()

    _scan(page, "LOC-A-01")
    page.locator("[data-testid=location]").wait_for()
    assert page.locator("[data-testid=location]").inner_text() == "A-01"
    _scan(page, "SKU-1")
    page.locator("[data-testid=qty-form]").wait_for()
    assert page.locator("[data-testid=expected]").count() == 0  # blind: the books stay hidden
    assert "10" not in page.locator("main").inner_text()
    _scan(page, "8")
    page.locator("[data-testid=flash-success]").wait_for()
    assert "Counted 8 of SKU-1 at A-01." in page.locator("[data-testid=flash-success]").inner_text()
    assert page.locator("[data-testid=counted]").inner_text() == "SKU-1: 8"

    page.click("[data-testid=empty]")  # "nothing else here"
    page.wait_for_url(f"**/handheld/counting/{count.pk}/")
    _scan(page, "A-03")
    page.locator("[data-testid=location]").wait_for()
    assert page.locator("[data-testid=empty]").inner_text() == "Location empty"
    page.click("[data-testid=empty]")
    page.locator("[data-testid=flash-success]").wait_for()
    assert "Location A-03 done" in page.locator("[data-testid=flash-success]").inner_text()

    counted = dict(
        CountLine.objects.filter(count=count).values_list("location__code", "qty_counted")
    )
    assert counted == {"A-01": Decimal("8"), "A-03": Decimal("0")}
    closed = count_close(count=count, actor=controller)
    assert [(a.location.code, a.qty_delta) for a in closed.adjustments] == [("A-01", Decimal("-2"))]
