"""A supervisor works the approvals queue in a real browser: approves a controller's loss
(it is posted) and is refused their own adjustment, with the reason on the page."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from inventory import services
from inventory.models import AdjustmentState, InventoryAdjustment, ReasonCode, ReasonCodeUse
from tests.factories import InventoryStatusFactory, ItemFactory, LocationFactory, UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def pending_pair(warehouse):
    """A controller's and the supervisor's own pending LOST adjustments on stocked SKU-1."""
    item = ItemFactory(warehouse=warehouse, sku="SKU-1", unit_cost=Decimal("2.50"))
    location = LocationFactory(warehouse=warehouse, code="A-01")
    available = InventoryStatusFactory(code="AVAILABLE", allocatable=True)
    ReasonCode.objects.create(
        code="LOST", description="Lost", use=ReasonCodeUse.ADJUSTMENT, requires_approval=True
    )
    services.stock_receive(
        item=item, location=location, status=available, qty=10, posting_key="r", source_ref="R"
    )
    controller = UserFactory(username="ctrl", warehouses=[warehouse])
    controller.groups.add(Group.objects.get(name="inventory_controller"))
    supervisor = UserFactory(username="sup", warehouses=[warehouse])
    supervisor.groups.add(Group.objects.get(name="supervisor"))

    def request(actor, key):
        return services.adjustment_request(
            warehouse=warehouse, item=item, location=location, status=available,
            qty_delta="-2", reason_code="LOST", note="shelf empty", actor=actor,
            source="admin", request_key=key,
        )  # fmt: skip

    return request(controller, "b-1"), request(supervisor, "b-2")


def _decide(page, adjustment_number: str, note: str):
    row = page.locator("#result_list tbody tr", has_text=adjustment_number)
    row.locator("input.action-select").check()
    page.fill("input[name=note]", note)
    page.select_option("select[name=action]", "approve_selected")
    with page.expect_navigation():
        page.click("button[name=index]")


@pytest.mark.django_db(transaction=True)
def test_approval_queue_in_browser_approves_others_refuses_own(live_server, page, pending_pair):
    """Log in as the supervisor, approve the controller's adjustment, try one's own."""
    theirs, own = pending_pair
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "sup")
    page.fill("#id_password", "pw-for-tests-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    page.goto(f"{live_server.url}/admin/inventory/pendingadjustment/")
    listing = page.locator("#result_list").inner_text()
    assert theirs.adjustment_number in listing and own.adjustment_number in listing

    _decide(page, theirs.adjustment_number, "counted the shelf twice")
    assert "1 adjustment(s) decided." in page.locator("ul.messagelist").inner_text()
    assert theirs.adjustment_number not in page.locator("#result_list").inner_text()

    _decide(page, own.adjustment_number, "mine")
    messages = page.locator("ul.messagelist").inner_text()
    assert own.adjustment_number in messages and "another person must decide" in messages

    states = dict(InventoryAdjustment.objects.values_list("adjustment_number", "state"))
    assert states == {
        theirs.adjustment_number: AdjustmentState.APPLIED,
        own.adjustment_number: AdjustmentState.PENDING_APPROVAL,
    }
