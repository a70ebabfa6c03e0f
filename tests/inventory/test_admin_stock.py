"""Stock admin: balances, ledger and reservations are visible, scoped and never editable."""

import pytest
from django.contrib.auth.models import Group

from inventory import services
from tests.factories import ItemFactory, LocationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stock(item, bin_a, available, other_warehouse):
    services.stock_receive(
        item=item, location=bin_a, status=available, qty=10, posting_key="a1", source_ref="R"
    )
    reservation = services.reservation_create(
        item=item,
        location=bin_a,
        status=available,
        qty=3,
        demand_ref="ReplenishmentOrderLine:42",
        posting_key="a2",
    )
    bcn_item = ItemFactory(warehouse=other_warehouse, sku="SKU-BCN")
    bcn_bin = LocationFactory(warehouse=other_warehouse, code="B-1")
    services.stock_receive(
        item=bcn_item, location=bcn_bin, status=available, qty=5, posting_key="b1", source_ref=""
    )
    return reservation


@pytest.fixture
def supervisor(client, warehouse):
    user = UserFactory(username="sup", warehouses=[warehouse])
    user.groups.add(Group.objects.get(name="supervisor"))
    client.force_login(user)
    return client


def test_admin_stock_lists_are_scoped_and_searchable(supervisor, stock):
    """A supervisor sees their warehouse's balances, ledger and reservations by exact code."""
    page = supervisor.get("/admin/inventory/inventorybalance/").content.decode()
    assert "SKU-1001" in page and "SKU-BCN" not in page
    assert (
        "SKU-1001"
        in supervisor.get("/admin/inventory/inventorybalance/?q=SKU-1001").content.decode()
    )
    assert (
        "SKU-1001"
        not in supervisor.get("/admin/inventory/inventorybalance/?q=SKU-10").content.decode()
    )
    by_key = supervisor.get("/admin/inventory/inventoryledgerentry/?q=a2").content.decode()
    assert "ReplenishmentOrderLine:42" in by_key
    other_key = supervisor.get("/admin/inventory/inventoryledgerentry/?q=a1").content.decode()
    assert "ReplenishmentOrderLine:42" not in other_key
    assert (
        "SKU-BCN" not in supervisor.get("/admin/inventory/inventoryledgerentry/").content.decode()
    )
    reservations = supervisor.get(
        "/admin/inventory/inventoryreservation/?q=ReplenishmentOrderLine:42"
    ).content.decode()
    assert "ReplenishmentOrderLine:42" in reservations


def test_admin_stock_detail_pages_are_read_only(supervisor, stock):
    """Detail pages show the balance with its reservations, and offer no save."""
    page = supervisor.get(f"/admin/inventory/inventorybalance/{stock.balance_id}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "ReplenishmentOrderLine:42" in text
    assert 'name="_save"' not in text
    response = supervisor.post(
        f"/admin/inventory/inventorybalance/{stock.balance_id}/change/",
        {"on_hand": "999", "reserved": "0"},
    )
    assert response.status_code == 403
    stock.balance.refresh_from_db()
    assert stock.balance.on_hand == 10


@pytest.mark.parametrize(
    "model", ["inventorybalance", "inventoryledgerentry", "inventoryreservation"]
)
def test_admin_stock_refuses_add_and_delete_even_to_superusers(client, stock, model):
    """No one adds or deletes stock rows in the admin, superusers included."""
    client.force_login(UserFactory(username="root", is_superuser=True))
    assert client.get(f"/admin/inventory/{model}/add/").status_code == 403
    pk = {
        "inventorybalance": stock.balance_id,
        "inventoryledgerentry": stock.posting_result.entries[0].pk,
        "inventoryreservation": stock.pk,
    }[model]
    assert client.post(f"/admin/inventory/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403


def test_admin_stock_other_warehouse_row_is_not_found(supervisor, stock, other_warehouse):
    """A row of a warehouse the user was not granted is not shown (redirect/404)."""
    from inventory.models import InventoryBalance

    bcn = InventoryBalance.objects.get(warehouse=other_warehouse)
    response = supervisor.get(f"/admin/inventory/inventorybalance/{bcn.pk}/change/")
    assert response.status_code in (302, 404)
