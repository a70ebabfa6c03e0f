"""Shipping from the admin: a supervisor selects packed orders of one store, chooses the
dock door, carrier and tracking reference, and confirms through the shipping service;
refusals (not packed, several stores, unknown or inbound door) are messages and post
nothing; the orders a supervisor can act on stop at the warehouse grant."""

# ruff: noqa: F811 (fixtures of tests/tasking imported by name, then requested as arguments)

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from inventory.models import InventoryLedgerEntry
from outbound.models import OrderStatus, PackageStatus, Shipment
from tests.factories import UserFactory, WarehouseFactory
from tests.tasking.conftest import (  # noqa: F401 (fixtures)
    carton,
    layout,
    picker,
    release_order,
    store,
)
from tests.tasking.dock_support import doors, pack_for_store  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:outbound_replenishmentorder_changelist")


def _staff(client, username, role, warehouse):
    user = UserFactory(username=username, warehouses=[warehouse])
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


@pytest.fixture
def sara(client, layout):
    return _staff(client, "sara", "supervisor", layout.warehouse)


def _ship(client, orders, **form):
    data = {"action": "ship_orders", "_selected_action": [str(o.pk) for o in orders], **form}
    return client.post(CHANGELIST, data, follow=True)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _nothing_shipped() -> bool:
    return (
        not Shipment.objects.exists()
        and not InventoryLedgerEntry.objects.filter(entry_type="ISSUE").exists()
    )


def test_admin_ship_orders_asks_door_then_confirms(client, sara, doors, pack_for_store):
    """Two packed orders of S042: the action asks for the door (outbound doors only),
    carrier and tracking reference; confirming ships both in one shipment, by the
    supervisor, and opens the shipment's page."""
    first, _ = pack_for_store("S042", [[("SKU-A", 2)], [("SKU-B", 1)]])
    second, _ = pack_for_store("S042", [[("SKU-A", 1)]])
    ask = _ship(client, [first, second])
    assert ask.status_code == 200
    assert ask.templates[0].name == "admin/outbound/ship_orders.html"
    assert list(ask.context["form"].fields["dock_door"].widget.choices) == [("D02", "D02")]
    html = ask.content.decode()
    assert first.external_order_id in html and second.external_order_id in html
    counts = {o.external_order_id: o.package_count for o in ask.context["orders"]}
    assert counts == {first.external_order_id: 2, second.external_order_id: 1}
    assert _nothing_shipped()

    done = _ship(client, [first, second], dock_door="D02", carrier="DHL", tracking_ref="T-9")
    shipment = Shipment.objects.get()
    assert done.redirect_chain[-1][0] == reverse(
        "admin:outbound_shipment_change", args=[shipment.pk]
    )
    assert f"Shipment {shipment.shipment_number} confirmed: 2 order(s) shipped." in _messages(done)
    assert (shipment.dock_door.code, shipment.carrier, shipment.tracking_ref) == (
        "D02",
        "DHL",
        "T-9",
    )
    assert shipment.shipped_by.username == "sara"
    assert set(shipment.orders.values_list("status", flat=True)) == {OrderStatus.SHIPPED}
    assert set(shipment.packages.values_list("status", flat=True)) == {PackageStatus.SHIPPED}
    assert shipment.packages.count() == 3


def test_admin_ship_orders_sent_twice_ships_once(client, sara, doors, pack_for_store):
    """The confirmation posted again (back button, double click): one shipment, and the
    second answer says the orders already left in it."""
    order, _ = pack_for_store("S042", [[("SKU-A", 2)]])
    _ship(client, [order], dock_door="D02", carrier="DHL")
    again = _ship(client, [order], dock_door="D02", carrier="DHL")
    shipment = Shipment.objects.get()
    # The order is SHIPPED now: the action refuses it before the service is asked.
    assert any("order_not_packed" in m for m in _messages(again))
    assert InventoryLedgerEntry.objects.filter(entry_type="ISSUE").count() == 1
    assert shipment.orders.get() == order


def test_admin_ship_orders_refuses_unpacked_orders(client, sara, doors, release_order):
    """An order that is not packed: an error message with ``order_not_packed``, no form,
    nothing posted."""
    order, _tasks = release_order([("SKU-A", 1)])
    refused = _ship(client, [order], dock_door="D02", carrier="DHL")
    assert refused.templates[0].name == "admin/change_list.html"
    assert _messages(refused) == [
        f"Order {order.external_order_id} is released, not packed; nothing was shipped. "
        "(order_not_packed)"
    ]
    assert _nothing_shipped()


def test_admin_ship_orders_refuses_two_stores(client, sara, doors, pack_for_store):
    """Packed orders of two stores cannot share a truck: ``shipment_mixes_stores``."""
    mine, _ = pack_for_store("S042", [[("SKU-A", 1)]])
    theirs, _ = pack_for_store("S077", [[("SKU-B", 1)]])
    refused = _ship(client, [mine, theirs], dock_door="D02", carrier="DHL")
    assert any("shipment_mixes_stores" in m for m in _messages(refused))
    assert _nothing_shipped()
    assert {mine.status, theirs.status} == {OrderStatus.PACKED}


@pytest.mark.parametrize("door", ["D01", "D99"])
def test_admin_ship_orders_refuses_an_unknown_or_inbound_door(
    client, sara, doors, pack_for_store, door
):
    """A door that is not an outbound door of the warehouse (inbound only, or unknown) is
    refused by the shipping service: ``unknown_dock_door``, nothing posted."""
    order, _ = pack_for_store("S042", [[("SKU-A", 1)]])
    refused = _ship(client, [order], dock_door=door, carrier="DHL")
    assert _messages(refused) == [f"Unknown outbound dock door {door}. (unknown_dock_door)"]
    assert _nothing_shipped()
    order.refresh_from_db()
    assert order.status == OrderStatus.PACKED


def test_admin_ship_orders_stops_at_the_warehouse_grant(client, doors, pack_for_store):
    """A supervisor of another warehouse cannot ship these orders: they are not in the
    queryset the action receives, nothing is posted."""
    order, _ = pack_for_store("S042", [[("SKU-A", 1)]])
    _staff(client, "bea", "supervisor", WarehouseFactory(code="BCN1"))
    response = _ship(client, [order], dock_door="D02", carrier="DHL")
    assert response.status_code == 200
    assert _nothing_shipped()
    order.refresh_from_db()
    assert order.status == OrderStatus.PACKED


def test_admin_ship_orders_needs_add_shipment(client, layout, doors, pack_for_store):
    """Staff without ``outbound.add_shipment`` (finance, who may view orders) get 403."""
    order, _ = pack_for_store("S042", [[("SKU-A", 1)]])
    _staff(client, "fina", "finance", layout.warehouse)
    data = {"action": "ship_orders", "_selected_action": [str(order.pk)]}
    assert client.post(CHANGELIST, {**data, "dock_door": "D02", "carrier": "X"}).status_code == 403
    assert _nothing_shipped()


def test_admin_shipment_list_offers_ship_packed_orders(client, sara, layout):
    """The shipment list links to the packed orders (where the ship action is) for those
    who may ship; finance, who may only read, does not see the link."""
    url = reverse("admin:outbound_shipment_changelist")
    html = client.get(url).content.decode()
    assert 'id="ship-packed-orders"' in html and "?status__exact=PACKED" in html
    _staff(client, "fina", "finance", layout.warehouse)
    assert 'id="ship-packed-orders"' not in client.get(url).content.decode()
