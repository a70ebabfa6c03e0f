"""Packing handheld pages (Django test client): scan the order, refused scans change
nothing, pack across packages, close with the weight, reopen, replayed forms,
permissions, Spanish."""

from decimal import Decimal

import pytest
from django.urls import reverse

from outbound.models import OrderStatus, PackageStatus
from outbound.services.shipping import shipment_confirm
from tasking.models import PackTask, PackTaskStatus
from tasking.services.packing import pack_close_package, pack_scan_item
from tests.factories import DockDoorFactory, UserFactory

from .conftest import order_of

# Every test packs into the CARTON-M type (tests/tasking/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("carton")]
D = Decimal
START = "/handheld/picking/pack/"


@pytest.fixture
def pablo(client, picker):
    client.force_login(picker)
    return client


def _flashes(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _page(client, order):
    return client.get(f"{START}{order.pk}/")


def _scan(client, order, code, qty, *, key=None, package_type="CARTON-M"):
    """Post the page's scan form (its own client key unless ``key`` is given)."""
    page = _page(client, order)
    key = key or page.context["scan_form"].initial["client_key"]
    data = {"action": "scan", "client_key": key, "package_type": package_type}
    return client.post(f"{START}{order.pk}/", {**data, "code": code, "qty": qty}, follow=True)


def _close(client, order, weight):
    page = _page(client, order)
    package = page.context["view"].open_package.package
    data = {"action": "close", "package": package.pk, "weight_kg": weight}
    return client.post(f"{START}{order.pk}/", data, follow=True), package


def _packed(order) -> list[Decimal]:
    return [line.qty_packed for line in order_of(order).lines.order_by("line_number")]


def test_pack_start_scan_opens_the_order(pablo, picked_order):
    """Scanning the order number leads to its pack page: lines left, no package yet."""
    start = pablo.get(START)
    assert start.status_code == 200
    assert picked_order.external_order_id in start.content.decode()  # waiting list
    response = pablo.post(START, {"code": picked_order.external_order_id})
    assert response.status_code == 302
    assert response["Location"] == f"{START}{picked_order.pk}/"
    page = pablo.get(response["Location"])
    view = page.context["view"]
    assert [(line.sku, line.left) for line in view.lines] == [("SKU-A", D("10")), ("SKU-B", D("5"))]
    assert view.open_package is None and view.closed_packages == []
    assert page.context["package_type"] == "CARTON-M"


def test_pack_start_unknown_or_unpacked_order_is_refused(pablo, release_order, picked_order):
    """An unknown order number and an order still being picked are refused on the page (422)."""
    unknown = pablo.post(START, {"code": "NOPE-1"})
    assert unknown.status_code == 422
    assert "No order NOPE-1 is waiting to be packed." in unknown.content.decode()
    picking, _tasks = release_order([("SKU-A", 1)])
    not_yet = pablo.post(START, {"code": picking.external_order_id})
    assert not_yet.status_code == 422


def test_pack_start_shipped_order_is_refused(pablo, picked_order, picker, warehouse):
    """A shipped order is refused on the start page (422); its page offers no scan."""
    key = f"user:{picker.pk}:ship-test"
    for n, (sku, qty) in enumerate([("SKU-A", 10), ("SKU-B", 5)]):
        package, *_ = pack_scan_item(
            order_id=picked_order.pk, package_type_code="CARTON-M", item_code=sku, qty=qty,
            entry_key=f"{key}:{n}", actor=picker,
        )  # fmt: skip
    pack_close_package(package_id=package.pk, weight_kg="5", actor=picker)
    DockDoorFactory(warehouse=warehouse, code="D-OUT-1", direction="OUTBOUND")
    shipment_confirm(order_ids=[picked_order.pk], dock_door_code="D-OUT-1")
    refused = pablo.post(START, {"code": picked_order.external_order_id})
    assert refused.status_code == 422
    assert (
        f"Order {picked_order.external_order_id} is shipped: there is nothing to pack."
        in refused.content.decode()
    )
    page = _page(pablo, picked_order).content.decode()
    assert 'data-testid="order-not-packable"' in page and 'data-testid="scan-form"' not in page
    assert 'data-testid="reopen"' not in page


def test_pack_scan_wrong_item_is_refused_and_packs_nothing(pablo, picked_order, layout):
    """An item not on the order (and an unknown code) is refused with the reason; nothing
    is packed and no package is opened."""
    wrong = _scan(pablo, picked_order, layout.sku_r.gtin, 1)
    assert wrong.status_code == 422
    assert "This item is not on the order; nothing was packed." in wrong.content.decode()
    unknown = _scan(pablo, picked_order, "NO-SUCH-CODE", 1)
    assert unknown.status_code == 422
    assert "Unknown item NO-SUCH-CODE; nothing was packed." in unknown.content.decode()
    assert _packed(picked_order) == [D("0"), D("0")]
    assert not picked_order.packages.exists()


def test_pack_scan_over_pack_is_refused(pablo, picked_order):
    """More than is left to pack is refused (422) and changes nothing; the quantity
    typed stays in the form."""
    over = _scan(pablo, picked_order, "SKU-A", 11)
    assert over.status_code == 422
    assert "Only 10 of SKU-A are left to pack; nothing was packed." in over.content.decode()
    assert over.context["scan_form"].initial["qty"] == "11"
    assert _packed(picked_order) == [D("0"), D("0")]
    assert not picked_order.packages.exists()


def test_pack_scan_close_reopen(pablo, picked_order):
    """Scan into a package, close it with its weight, scan the rest into a second one,
    close it: the order is PACKED; reopen the first: PICKING again, the pack task too."""
    done = _scan(pablo, picked_order, "8400000000011", 6)
    assert done.status_code == 200
    first = picked_order.packages.get()
    assert f"Packed 6 EA of SKU-A into package {first.sscc}." in _flashes(done)
    assert done.context["view"].open_package.package.pk == first.pk
    assert PackTask.objects.get(order=picked_order).status == PackTaskStatus.IN_PROGRESS

    closed, package = _close(pablo, picked_order, "3.1")
    assert package.pk == first.pk
    assert f"Package {first.sscc} closed (3.1 kg): print its label." in _flashes(closed)
    first.refresh_from_db()
    assert first.status == PackageStatus.CLOSED and first.weight_kg == D("3.1")
    assert closed.context["view"].open_package is None
    assert f'href="{reverse("package-label", args=[first.pk])}"' in closed.content.decode()

    _scan(pablo, picked_order, "SKU-A", 4)
    _scan(pablo, picked_order, "SKU-B", 5)
    assert _packed(picked_order) == [D("10"), D("5")]
    last, second = _close(pablo, picked_order, "4.2")
    assert second.pk != first.pk
    assert f"Order {picked_order.external_order_id} is packed." in _flashes(last)
    assert order_of(picked_order).status == OrderStatus.PACKED
    assert PackTask.objects.get(order=picked_order).status == PackTaskStatus.DONE
    page = last.content.decode()
    assert 'data-testid="order-packed"' in page and 'data-testid="next-order-form"' in page
    assert 'data-testid="scan-form"' not in page

    reopened = pablo.post(
        f"{START}{picked_order.pk}/", {"action": "reopen", "package": first.pk}, follow=True
    )
    assert f"Package {first.sscc} is open again: scan into it, then close it." in _flashes(reopened)
    first.refresh_from_db()
    assert first.status == PackageStatus.OPEN
    assert order_of(picked_order).status == OrderStatus.PICKING
    assert PackTask.objects.get(order=picked_order).status == PackTaskStatus.IN_PROGRESS
    # The reopened package is the open one now; another reopen is not offered.
    assert reopened.context["view"].open_package.package.pk == first.pk
    assert 'data-testid="reopen"' not in reopened.content.decode()


def test_pack_scan_sent_twice_packs_once(pablo, picked_order):
    """The same rendered scan form sent twice (double tap, reload) packs once."""
    key = _page(pablo, picked_order).context["scan_form"].initial["client_key"]
    _scan(pablo, picked_order, "SKU-A", 3, key=key)
    again = _scan(pablo, picked_order, "SKU-A", 3, key=key)
    assert "Already packed: this scan was sent before." in _flashes(again)
    assert _packed(picked_order) == [D("3"), D("0")]


def test_pack_close_needs_a_weight(pablo, picked_order):
    """Closing without a weight is refused; the package stays open."""
    _scan(pablo, picked_order, "SKU-A", 2)
    package = picked_order.packages.get()
    refused = pablo.post(
        f"{START}{picked_order.pk}/", {"action": "close", "package": package.pk, "weight_kg": ""}
    )
    assert refused.status_code == 422
    assert "Enter the package&#x27;s gross weight in kg." in refused.content.decode()
    package.refresh_from_db()
    assert package.status == PackageStatus.OPEN


def test_pack_package_of_another_order_is_not_found(pablo, picked_order, release_order):
    """A package id that is not the order's is answered 404 (nothing changes)."""
    _scan(pablo, picked_order, "SKU-A", 2)
    package = picked_order.packages.get()
    other, _tasks = release_order([("SKU-A", 1)])
    PackTask.objects.create(order=other, warehouse=other.warehouse)  # as if picked
    response = pablo.post(
        f"{START}{other.pk}/", {"action": "close", "package": package.pk, "weight_kg": "1"}
    )
    assert response.status_code == 404
    package.refresh_from_db()
    assert package.status == PackageStatus.OPEN


def test_pack_pages_require_permission(client, layout, picked_order):
    """Anonymous → login; a user without the pack permission → 403 (start and order page);
    a picker's menu offers Pack."""
    assert client.get(START)["Location"].startswith("/handheld/login/")
    client.force_login(UserFactory(username="nobody", warehouses=[layout.warehouse]))
    assert client.get(START).status_code == 403
    assert client.get(f"{START}{picked_order.pk}/").status_code == 403
    assert client.post(START, {"code": picked_order.external_order_id}).status_code == 403


def test_pack_menu_entry_for_pickers(pablo):
    """The picker role may pack: the menu has Pack."""
    keys = [entry["key"] for entry in pablo.get("/handheld/").context["menu"]]
    assert "tasking.pack" in keys


def test_pack_order_of_another_warehouse_is_not_found(client, picked_order):
    """A packer without access to the order's warehouse gets 404 for its page."""
    from django.contrib.auth.models import Group

    from tests.factories import WarehouseFactory

    stranger = UserFactory(username="ext", warehouses=[WarehouseFactory(code="W2")])
    stranger.groups.add(Group.objects.get(name="picker"))
    client.force_login(stranger)
    assert client.get(f"{START}{picked_order.pk}/").status_code == 404


def test_pack_pages_in_spanish(pablo, picked_order, layout):
    """With Spanish chosen, the page and a refusal are in Spanish."""
    pablo.post("/i18n/setlang/", {"language": "es", "next": "/handheld/"})
    page = _page(pablo, picked_order).content.decode()
    assert "Queda por embalar" in page and "Left to pack" not in page
    wrong = _scan(pablo, picked_order, layout.sku_r.gtin, 1).content.decode()
    assert "El artículo no está en el pedido; no se ha embalado nada." in wrong
