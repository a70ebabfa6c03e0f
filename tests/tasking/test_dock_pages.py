"""Dock handheld pages (Django test client): scan the door, load packages or orders of
one store, wrong scans refused on the spot with nothing posted, confirm the shipment
once (also when the form is sent twice), permissions, Spanish."""

# ruff: noqa: F811 (fixtures of dock_support imported by name, then requested as arguments)

import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from inventory.models import InventoryLedgerEntry
from outbound.models import OrderStatus, PackageStatus, Shipment
from tasking.services.packing import pack_reopen_package
from tests.factories import UserFactory

from .conftest import order_of
from .dock_support import doors, pack_for_store  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
D = Decimal
DOCK = "/handheld/picking/dock/"
LOAD = "/handheld/picking/dock/load/"


@pytest.fixture
def loader(client, picker):
    client.force_login(picker)
    return client


def _flashes(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _at_door(client, code="D02"):
    return client.post(DOCK, {"code": code}, follow=True)


def _scan(client, code):
    return client.post(LOAD, {"action": "scan", "code": code}, follow=True)


def _confirm(client, *, key=None, carrier="DHL", tracking_ref=""):
    key = key or client.get(LOAD).context["confirm_form"].initial["client_key"]
    data = {"action": "confirm", "client_key": key, "carrier": carrier}
    return client.post(LOAD, {**data, "tracking_ref": tracking_ref}, follow=True)


def _loaded(response) -> dict:
    """order → (packages loaded, packages of the order) as the page shows them."""
    load = response.context["load"]
    return {row.order.external_order_id: (row.loaded, len(row.packages)) for row in load.orders}


def _nothing_shipped() -> bool:
    return (
        not Shipment.objects.exists()
        and not InventoryLedgerEntry.objects.filter(entry_type="ISSUE").exists()
    )


def test_dock_menu_and_permission(client, loader, layout):
    """Pickers see Load in their menu; without ``outbound.add_shipment`` the page is 403;
    anonymous users go to the login."""
    keys = [entry["key"] for entry in loader.get("/handheld/").context["menu"]]
    assert "tasking.dock" in keys
    assert loader.get(DOCK).status_code == 200
    loader.logout()
    assert loader.get(DOCK)["Location"].startswith("/handheld/login/")
    receiver = UserFactory(username="rita", warehouses=[layout.warehouse], is_staff=False)
    receiver.groups.add(Group.objects.get(name="receiver"))
    client.force_login(receiver)
    assert client.get(DOCK).status_code == 403
    assert client.get(LOAD).status_code == 403


def test_dock_door_unknown_or_inbound_is_refused(loader, doors):
    """An unknown door and an inbound-only door are refused (422); D02 opens the load."""
    unknown = loader.post(DOCK, {"code": "D99"})
    assert unknown.status_code == 422
    assert "Unknown outbound dock door D99." in unknown.content.decode()
    inbound = loader.post(DOCK, {"code": "D01"})
    assert inbound.status_code == 422
    assert loader.get(LOAD)["Location"] == DOCK  # no load without a door
    page = _at_door(loader)
    assert page.redirect_chain[-1][0] == LOAD
    assert page.context["door"] == "D02"
    assert "Dock door D02: scan the packages." in _flashes(page)


def test_dock_load_two_packages_and_confirm(loader, doors, pack_for_store, picker):
    """Scan both packages of an order (the second as a GS1-128 read, 00 + SSCC); confirming
    before the second is refused; then the shipment is confirmed: order SHIPPED, packages
    SHIPPED, stock issued, door and carrier on the shipment."""
    order, (first, second) = pack_for_store("S042", [[("SKU-A", 6)], [("SKU-A", 4), ("SKU-B", 5)]])
    _at_door(loader)
    one = _scan(loader, first.sscc)
    assert one.status_code == 200
    assert (
        f"Loaded package {first.sscc} (order {order.external_order_id}, store S042)."
        in _flashes(one)
    )
    assert _loaded(one) == {order.external_order_id: (1, 2)}
    early = _confirm(loader)
    assert early.status_code == 422
    assert f"Order {order.external_order_id}: 1 of 2 packages loaded." in early.content.decode()
    assert _nothing_shipped()

    two = _scan(loader, f"]C100{second.sscc}")
    assert _loaded(two) == {order.external_order_id: (2, 2)}
    done = _confirm(loader, tracking_ref="TRK-1")
    shipment = Shipment.objects.get()
    assert done.redirect_chain[-1][0] == f"/handheld/picking/dock/shipment/{shipment.pk}/"
    assert f"Shipment {shipment.shipment_number} confirmed: 1 order(s), 2 package(s)." in _flashes(
        done
    )
    assert done.context["shipment"] == shipment
    assert (shipment.dock_door.code, shipment.carrier, shipment.tracking_ref) == (
        "D02",
        "DHL",
        "TRK-1",
    )
    assert shipment.shipped_by == picker and shipment.store_code == "S042"
    assert order_of(order).status == OrderStatus.SHIPPED
    assert set(order.packages.values_list("status", flat=True)) == {PackageStatus.SHIPPED}
    assert [line.qty_shipped for line in order_of(order).lines.order_by("line_number")] == [
        D("10"),
        D("5"),
    ]
    # The door stays; the next truck starts empty.
    assert loader.get(LOAD).context["load"].orders == []


def test_dock_wrong_scans_are_refused_and_load_nothing(
    loader, doors, pack_for_store, release_order
):
    """Another store's package, an order still being picked and an unknown code are refused
    on the spot (422) with the reason; the load and the stock are unchanged."""
    order, (package,) = pack_for_store("S042", [[("SKU-A", 2)]])
    other, (foreign,) = pack_for_store("S077", [[("SKU-B", 1)]])
    picking, _tasks = release_order([("SKU-A", 1)])
    _at_door(loader)
    _scan(loader, package.sscc)

    wrong_store = _scan(loader, foreign.sscc)
    assert wrong_store.status_code == 422
    assert (
        f"{foreign.sscc} is for store S077, this load is for store S042; nothing was loaded."
        in wrong_store.content.decode()
    )
    not_packed = _scan(loader, picking.external_order_id)
    assert not_packed.status_code == 422
    assert (
        f"Order {picking.external_order_id} is released, not packed; nothing was loaded."
        in not_packed.content.decode()
    )
    unknown = _scan(loader, "NO-SUCH-THING")
    assert unknown.status_code == 422
    assert "Unknown package or order NO-SUCH-THING; nothing was loaded." in unknown.content.decode()
    page = loader.get(LOAD)
    assert _loaded(page) == {order.external_order_id: (1, 1)}
    assert _nothing_shipped()
    assert order_of(other).status == OrderStatus.PACKED


def test_dock_scan_order_loads_all_its_packages(loader, doors, pack_for_store):
    """Scanning the order number loads every package of it; scanning again changes nothing."""
    order, packages = pack_for_store("S042", [[("SKU-A", 1)], [("SKU-A", 1)], [("SKU-B", 1)]])
    _at_door(loader)
    page = _scan(loader, order.external_order_id)
    assert f"Loaded order {order.external_order_id}: 3 package(s)." in _flashes(page)
    assert _loaded(page) == {order.external_order_id: (3, 3)}
    again = _scan(loader, packages[1].sscc)
    assert "Already loaded; nothing changed." in _flashes(again)
    assert _loaded(again) == {order.external_order_id: (3, 3)}


def test_dock_two_orders_of_one_store_in_one_shipment(loader, doors, pack_for_store):
    """Two packed orders of one store go on one truck: one shipment with both. The page
    lists the store's packed orders not loaded yet."""
    first, _ = pack_for_store("S042", [[("SKU-A", 1)]])
    second, _ = pack_for_store("S042", [[("SKU-B", 2)]])
    _at_door(loader)
    page = _scan(loader, first.external_order_id)
    assert [order.pk for order in page.context["ready"]] == [second.pk]
    _scan(loader, second.external_order_id)
    _confirm(loader)
    shipment = Shipment.objects.get()
    assert set(shipment.orders.values_list("pk", flat=True)) == {first.pk, second.pk}


def test_dock_confirm_sent_twice_ships_once(loader, doors, pack_for_store):
    """The same confirm form sent twice: one shipment, the resend says so and shows it."""
    order, _packages = pack_for_store("S042", [[("SKU-A", 3)]])
    _at_door(loader)
    _scan(loader, order.external_order_id)
    key = loader.get(LOAD).context["confirm_form"].initial["client_key"]
    first = _confirm(loader, key=key)
    again = _confirm(loader, key=key)
    shipment = Shipment.objects.get()
    assert again.redirect_chain[-1][0] == f"/handheld/picking/dock/shipment/{shipment.pk}/"
    assert "This form was already sent; the shipment was confirmed once." in _flashes(again)
    assert first.context["shipment"] == again.context["shipment"] == shipment
    assert InventoryLedgerEntry.objects.filter(entry_type="ISSUE").count() == 1


@pytest.mark.django_db(transaction=True)
def test_dock_confirm_sent_twice_at_once_ships_once(client, picker, doors, pack_for_store):
    """The same confirm form sent twice at the same moment (a double tap on two
    connections): both answers lead to the one shipment, stock issued once."""
    order, _packages = pack_for_store("S042", [[("SKU-A", 3)], [("SKU-B", 2)]])
    client.force_login(picker)
    _at_door(client)
    _scan(client, order.external_order_id)
    key = client.get(LOAD).context["confirm_form"].initial["client_key"]
    data = {"action": "confirm", "client_key": key, "carrier": "DHL", "tracking_ref": ""}
    start = threading.Barrier(2)
    answers = []

    def send():
        handheld = Client()
        handheld.cookies = client.cookies  # the same session: the same tab, twice
        start.wait()
        try:
            answers.append(handheld.post(LOAD, data))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    shipment = Shipment.objects.get()
    assert [a.status_code for a in answers] == [302, 302]
    assert {a["Location"] for a in answers} == {f"/handheld/picking/dock/shipment/{shipment.pk}/"}
    assert InventoryLedgerEntry.objects.filter(entry_type="ISSUE").count() == 2  # two lines
    assert order_of(order).status == OrderStatus.SHIPPED


def test_dock_two_loaders_confirm_the_same_order_once(loader, doors, pack_for_store, picker2):
    """Two loaders at two handhelds load the same order and both confirm: the second is
    told it already left; one shipment, stock issued once."""
    order, _packages = pack_for_store("S042", [[("SKU-A", 3)]])
    other = Client()
    other.force_login(picker2)
    for c in (loader, other):
        _at_door(c)
        _scan(c, order.external_order_id)
    _confirm(loader)
    late = _confirm(other)
    assert "Already confirmed: these orders left in this shipment." in _flashes(late)
    assert Shipment.objects.count() == 1
    assert InventoryLedgerEntry.objects.filter(entry_type="ISSUE").count() == 1


def test_dock_confirm_refused_when_an_order_was_reopened(loader, doors, pack_for_store, picker):
    """A package reopened at the pack station after loading: the confirmation is refused
    by the shipping service (order not packed), nothing is posted, the load stays."""
    order, (package,) = pack_for_store("S042", [[("SKU-A", 2)]])
    _at_door(loader)
    _scan(loader, package.sscc)
    pack_reopen_package(package_id=package.pk, actor=picker)
    refused = _confirm(loader)
    assert refused.status_code == 422
    assert f"Order {order.external_order_id} is picking, not packed" in refused.content.decode()
    assert _nothing_shipped()
    assert _loaded(loader.get(LOAD)) == {order.external_order_id: (1, 1)}


def test_dock_confirm_needs_a_carrier_and_a_load(loader, doors, pack_for_store):
    """Confirming with nothing loaded, or without a carrier, is refused (422)."""
    order, _packages = pack_for_store("S042", [[("SKU-A", 1)]])
    _at_door(loader)
    empty = _confirm(loader)
    assert empty.status_code == 422
    assert "Nothing is loaded: scan the packages first." in empty.content.decode()
    _scan(loader, order.external_order_id)
    no_carrier = _confirm(loader, carrier="")
    assert no_carrier.status_code == 422
    assert _nothing_shipped()


def test_dock_pages_in_spanish(loader, doors, pack_for_store):
    """With Accept-Language: es the dock pages and their refusals speak Spanish."""
    order, _packages = pack_for_store("S042", [[("SKU-A", 1)]])
    start = loader.get(DOCK, headers={"accept-language": "es"})
    assert "Cargar un camión" in start.content.decode()
    assert order.external_order_id in start.content.decode()  # packed, waiting
    refused = loader.post(DOCK, {"code": "D99"}, headers={"accept-language": "es"})
    assert "Muelle de salida desconocido D99." in refused.content.decode()
