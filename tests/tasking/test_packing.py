"""Packing and shipping through the services: a picked order is packed across two
packages, shipped once through a dock door, and the stock, the order, the store's
event and the finance feed change together; refusals change nothing."""

from decimal import Decimal

import pytest

from inventory.models import FinanceEvent, InventoryLedgerEntry
from outbound.models import OrderStatus, Package, PackageLine, PackageStatus, Shipment
from outbound.services.packing import ItemNotOnOrder, OrderNotPackable, OverPack
from outbound.services.shipping import OrderNotPacked, shipment_confirm
from outbound.sscc import sscc_is_valid
from tasking.models import PackTask, PackTaskStatus
from tasking.services.packing import (
    PackedPackage,
    pack_close_package,
    pack_confirm,
    pack_reopen_package,
    pack_scan_item,
)
from tests.factories import DockDoorFactory
from wms.models import OutboxEvent

from .conftest import balance, order_of

pytestmark = pytest.mark.django_db
D = Decimal


def _scan(order, code, qty, key, picker, package_type="CARTON-M"):
    return pack_scan_item(
        order_id=order.pk, package_type_code=package_type, item_code=code, qty=qty,
        entry_key=key, actor=picker,
    )  # fmt: skip


def test_an_order_is_packable_once_its_last_pick_closes(picked_order):
    task = PackTask.objects.get(order=picked_order)
    assert task.status == PackTaskStatus.OPEN


def test_pack_refusals_change_nothing(picked_order, picker, carton, layout):
    with pytest.raises(ItemNotOnOrder):
        _scan(picked_order, "SKU-R", 1, "k-wrong", picker)
    with pytest.raises(OverPack):
        _scan(picked_order, "SKU-A", 11, "k-over", picker)
    assert picked_order.lines.get(line_number=1).qty_packed == 0
    assert not picked_order.packages.filter(lines__isnull=False).exists()


def test_pack_two_packages_then_ship_once(picked_order, picker, carton, layout, warehouse):
    door = DockDoorFactory(warehouse=warehouse, code="D-OUT-1", direction="OUTBOUND")
    first, _entry, replayed = _scan(picked_order, "8400000000011", 6, "k1", picker)
    assert not replayed and sscc_is_valid(first.sscc) and first.sscc.startswith("08412345")
    # A retried scan (same key) packs nothing more.
    assert _scan(picked_order, "8400000000011", 6, "k1", picker)[2] is True
    with pytest.raises(OrderNotPacked):
        shipment_confirm(order_ids=[picked_order.pk], dock_door_code="D-OUT-1")
    pack_close_package(package_id=first.pk, weight_kg="3.1", actor=picker)
    second, *_ = _scan(picked_order, "SKU-A", 4, "k2", picker)
    _scan(picked_order, "SKU-B", 5, "k3", picker)
    assert second.pk != first.pk
    _package, packed = pack_close_package(package_id=second.pk, weight_kg="4.2", actor=picker)
    assert packed
    order = order_of(picked_order)
    assert order.status == OrderStatus.PACKED
    assert PackTask.objects.get(order=order).status == PackTaskStatus.DONE
    with pytest.raises(OrderNotPackable):
        _scan(order, "SKU-A", 1, "k4", picker)

    shipment, replayed = shipment_confirm(
        order_ids=[order.pk], dock_door_code="D-OUT-1", carrier="DHL", tracking_ref="T-1"
    )
    assert not replayed and shipment.dock_door == door
    order = order_of(order)
    assert order.status == OrderStatus.SHIPPED
    assert [line.qty_shipped for line in order.lines.order_by("line_number")] == [D("10"), D("5")]
    assert set(order.packages.values_list("status", flat=True)) == {PackageStatus.SHIPPED}
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("0"), D("0"))
    assert balance(layout.sku_b, layout.staging, layout.available) == (D("0"), D("0"))
    issues = InventoryLedgerEntry.objects.filter(entry_type="ISSUE")
    assert sorted(e.on_hand_delta for e in issues) == [D("-10"), D("-5")]
    event = OutboxEvent.objects.get(event_type="shipment.confirmed")
    assert {p["sscc"] for p in event.data["packages"]} == {first.sscc, second.sscc}
    assert event.data["orders"] == [
        {"id": str(order.pk), "externalOrderId": order.external_order_id}
    ]
    finance = FinanceEvent.objects.get()
    assert finance.event_type == "shipment.confirmed"
    assert finance.total_amount == D("15") * D("1.50")  # the factory's unit cost
    assert finance.reference_number == shipment.shipment_number

    # Confirming the same shipment again changes nothing.
    again, replayed = shipment_confirm(order_ids=[order.pk], dock_door_code="D-OUT-1")
    assert replayed and again.pk == shipment.pk
    assert Shipment.objects.count() == 1 and FinanceEvent.objects.count() == 1
    assert InventoryLedgerEntry.objects.filter(entry_type="ISSUE").count() == 2


def test_reopen_a_closed_package_before_shipping(picked_order, picker, carton):
    package, *_ = _scan(picked_order, "SKU-A", 10, "r1", picker)
    pack_close_package(package_id=package.pk, weight_kg="3", actor=picker)
    _scan(picked_order, "SKU-B", 5, "r2", picker)
    other = picked_order.packages.get(status=PackageStatus.OPEN)
    pack_close_package(package_id=other.pk, weight_kg="2", actor=picker)
    assert order_of(picked_order).status == OrderStatus.PACKED
    reopened = pack_reopen_package(package_id=package.pk, actor=picker)
    assert reopened.status == PackageStatus.OPEN
    assert order_of(picked_order).status == OrderStatus.PICKING
    with pytest.raises(OrderNotPacked):
        shipment_confirm(order_ids=[picked_order.pk])


def test_pack_confirm_over_packing_a_line_across_packages_packs_nothing(picked_order, carton):
    """Two packages that together hold more of a line than is picked: 422 ``over_pack`` and
    not a package, line or quantity written, although each alone would fit."""
    packages = [PackedPackage("CARTON-M", D("1"), [(1, D("6"))]) for _ in range(2)]
    with pytest.raises(OverPack):
        pack_confirm(order_id=picked_order.pk, packages=packages, key="over")
    assert not Package.objects.exists() and not PackageLine.objects.exists()
    assert order_of(picked_order).lines.get(line_number=1).qty_packed == 0


def test_pack_confirm_again_with_its_key_changes_nothing(picked_order, carton):
    """The same confirmation (key) again, the order still being packed: its packages back,
    nothing packed twice; the rest packed later makes the order PACKED."""
    first = [PackedPackage("CARTON-M", D("2.5"), [(1, D("10"))])]
    order, packages = pack_confirm(order_id=picked_order.pk, packages=first, key="k1")
    assert order.status == OrderStatus.PICKING and len(packages) == 1
    _order, again = pack_confirm(order_id=picked_order.pk, packages=first, key="k1")
    assert [p.pk for p in again] == [p.pk for p in packages]
    assert Package.objects.count() == 1 and PackageLine.objects.count() == 1
    assert order_of(picked_order).lines.get(line_number=1).qty_packed == D("10")
    rest = [PackedPackage("CARTON-M", D("1"), [(2, D("5"))])]
    order, _packages = pack_confirm(order_id=picked_order.pk, packages=rest, key="k2")
    assert order.status == OrderStatus.PACKED
    assert PackTask.objects.get(order=picked_order).status == PackTaskStatus.DONE
    event = OutboxEvent.objects.get(event_type="order.packed")
    assert event.data["packages"] == list(
        Package.objects.order_by("created_at").values_list("sscc", flat=True)
    )
