"""Packed orders for the dock tests (pages, admin, browser): orders of any store
taken through the real intake → planning → wave release → pick → pack, and
outbound dock doors.

Use with the fixtures of ``tests/tasking/conftest.py`` (``layout``, ``picker``,
``carton``)::

    def test_x(pack_for_store, doors):
        order, packages = pack_for_store("S042", [[("SKU-A", 6)], [("SKU-A", 4)]])
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from outbound.models import OrderStatus, PackageStatus, ReplenishmentOrder
from outbound.services import OrderLineInput, order_accept, order_plan, wave_release, waves_build
from tasking.models import PickTask
from tasking.services import pick_confirm, pick_task_next_for_picker, pick_task_start
from tasking.services.packing import pack_close_package, pack_scan_item
from tests.factories import DockDoorFactory

D = Decimal
_numbers = itertools.count(1)


def _picked(layout, picker, store_code: str, lines) -> ReplenishmentOrder:
    n = next(_numbers)
    order = order_accept(
        warehouse=layout.warehouse,
        store_code=store_code,
        external_order_id=f"{store_code}-D{n:04d}-{uuid.uuid4().hex[:4]}",
        requested_ship_by=timezone.make_aware(datetime(2030, 11, 23, 18)),
        lines=[
            OrderLineInput(line_number=i, sku=sku, qty=D(str(qty)))
            for i, (sku, qty) in enumerate(lines, start=1)
        ],
    )
    order_plan(order_id=order.pk)
    while waves_build(warehouse_id=layout.warehouse.pk):
        pass
    order.refresh_from_db()
    assert order.status == OrderStatus.PLANNED, (order.status, order.rejection_reasons)
    wave_release(wave_id=order.wave_id)
    open_tasks = PickTask.objects.filter(order=order).exclude(status="CANCELLED").count()
    for _n in range(open_tasks):
        task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
        assert task.order_id == order.pk
        pick_task_start(task_id=task.pk, picker=picker)
        pick_confirm(
            task_id=task.pk,
            qty=str(task.qty_to_pick),
            request_key=f"dock-pick-{task.pk}",
            actor=picker,
        )
    return ReplenishmentOrder.objects.get(pk=order.pk)


@pytest.fixture
def pack_for_store(layout, picker, carton, system_client):
    """``pack_for_store("S042", [[("SKU-A", 6)], [("SKU-A", 4), ("SKU-B", 5)]])`` →
    (order PACKED, its closed packages in packing order): one package per inner list."""
    layout.warehouse.gs1_company_prefix = "8412345"
    layout.warehouse.save()

    def make(store_code: str, packages):
        system_client("store", store_code, [layout.warehouse])  # planning checks the store
        totals: dict[str, Decimal] = {}
        for contents in packages:
            for sku, qty in contents:
                totals[sku] = totals.get(sku, D("0")) + D(str(qty))
        order = _picked(layout, picker, store_code, list(totals.items()))
        closed = []
        for p, contents in enumerate(packages):
            for s, (sku, qty) in enumerate(contents):
                package, _entry, _replayed = pack_scan_item(
                    order_id=order.pk, package_type_code=carton.code, item_code=sku, qty=qty,
                    entry_key=f"dock-pack-{order.pk}-{p}-{s}", actor=picker,
                )  # fmt: skip
            package, _packed = pack_close_package(
                package_id=package.pk, weight_kg="2.5", actor=picker
            )
            closed.append(package)
        order.refresh_from_db()
        assert order.status == OrderStatus.PACKED, order.status
        assert all(p.status == PackageStatus.CLOSED for p in closed)
        return order, closed

    return make


@pytest.fixture
def doors(layout):
    """D02 (outbound) and D01 (inbound only) at the test warehouse."""
    return {
        "D02": DockDoorFactory(warehouse=layout.warehouse, code="D02", direction="OUTBOUND"),
        "D01": DockDoorFactory(warehouse=layout.warehouse, code="D01", direction="INBOUND"),
    }
