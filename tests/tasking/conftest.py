"""Fixtures of the tasking tests: a small warehouse (pick faces in zone A, reserve
bins, a zone worked by automation, staging and quarantine), stock received
through the posting service, people by role, and orders taken through the real
intake → planning → wave release so that pick tasks hold real reservations."""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from inventory import services as inventory_services
from inventory.models import InventoryBalance, InventoryStatus, Item, Location, LocationType, Zone
from outbound.models import (
    PackageKind,
    PackageType,
    ReplenishmentOrder,
    WavePolicy,
    WaveReleaseMode,
)
from tasking.models import AutomationZone, PackTask, PickTask
from tasking.services import pick_confirm, pick_task_next_for_picker, pick_task_start
from tests.factories import (
    InventoryStatusFactory,
    ItemFactory,
    LocationFactory,
    UnitOfMeasureFactory,
    UserFactory,
    ZoneFactory,
)

D = Decimal
_orders = itertools.count(1)


@dataclass
class Layout:
    warehouse: object
    available: InventoryStatus
    quarantined: InventoryStatus
    zone_a: Zone
    zone_b: Zone
    zone_auto: Zone
    p1: Location
    p2: Location
    r1: Location
    auto1: Location
    staging: Location
    sku_a: Item
    sku_b: Item
    sku_r: Item


def receive(item, location, qty, status):
    return inventory_services.stock_receive(
        item=item,
        location=location,
        status=status,
        qty=D(str(qty)),
        posting_key=f"test-receive:{uuid.uuid4()}",
        source_ref="test",
    )


@pytest.fixture
def layout(warehouse):
    """SKU-A: 50 at P-01 (zone A) and 100 at reserve R-01; SKU-B: 40 at P-02 (zone B);
    SKU-R: 30 at ROBO-01 (zone AUTO). Staging STG-01."""
    available = InventoryStatusFactory(code="AVAILABLE", description="Available", allocatable=True)
    quarantined = InventoryStatusFactory(
        code="QUARANTINED", description="Quarantined", allocatable=False
    )
    zone_a = ZoneFactory(warehouse=warehouse, code="A", name="Aisle A")
    zone_b = ZoneFactory(warehouse=warehouse, code="B", name="Aisle B")
    zone_auto = ZoneFactory(warehouse=warehouse, code="AUTO", name="Shuttle")

    def loc(code, type_, zone, seq, barcode=None):
        return LocationFactory(
            warehouse=warehouse,
            code=code,
            barcode=barcode or "L" + code.replace("-", ""),
            type=type_,
            zone=zone,
            pick_sequence=seq,
        )

    p1 = loc("P-01", LocationType.PICK_FACE, zone_a, 10)
    p2 = loc("P-02", LocationType.PICK_FACE, zone_b, 20)
    r1 = loc("R-01", LocationType.RESERVE, zone_a, 900)
    auto1 = loc("ROBO-01", LocationType.PICK_FACE, zone_auto, 30)
    staging = loc("STG-01", LocationType.STAGING, None, 5000)
    each = UnitOfMeasureFactory()
    sku_a = ItemFactory(warehouse=warehouse, sku="SKU-A", gtin="8400000000011", base_uom=each)
    sku_b = ItemFactory(warehouse=warehouse, sku="SKU-B", gtin="8400000000028", base_uom=each)
    sku_r = ItemFactory(warehouse=warehouse, sku="SKU-R", gtin="8400000000035", base_uom=each)
    receive(sku_a, p1, 50, available)
    receive(sku_a, r1, 100, available)
    receive(sku_b, p2, 40, available)
    receive(sku_r, auto1, 30, available)
    WavePolicy.objects.update_or_create(
        warehouse=warehouse, defaults={"release_mode": WaveReleaseMode.MANUAL}
    )
    return Layout(
        warehouse, available, quarantined, zone_a, zone_b, zone_auto, p1, p2, r1, auto1,
        staging, sku_a, sku_b, sku_r,
    )  # fmt: skip


@pytest.fixture
def store(system_client, warehouse):
    return system_client("store", "S042", [warehouse])


@pytest.fixture
def robot(system_client, warehouse, layout):
    """Automation system ROBO1 (API client) working zone AUTO."""
    client = system_client("automation", "ROBO1", [warehouse])
    AutomationZone.objects.create(zone=layout.zone_auto, system=client.system)
    return client


@pytest.fixture
def release_order(layout, store):
    """``release_order([("SKU-A", 10)], priority=5)`` → (order, its live pick tasks):
    accepted, planned and its wave released through the outbound services."""
    from outbound.services import (
        OrderLineInput,
        order_accept,
        order_plan,
        wave_release,
        waves_build,
    )

    def make(lines, *, priority=5):
        n = next(_orders)
        order = order_accept(
            warehouse=layout.warehouse,
            store_code="S042",
            external_order_id=f"S042-{n:05d}-{uuid.uuid4().hex[:6]}",
            priority=priority,
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
        assert order.status == "PLANNED", order.status
        wave_release(wave_id=order.wave_id)
        order.refresh_from_db()
        tasks = list(
            PickTask.objects.filter(order=order).exclude(status="CANCELLED").order_by("sequence")
        )
        return order, tasks

    return make


def _user(username, role, warehouse):
    user = UserFactory(username=username, warehouses=[warehouse], is_staff=role != "picker")
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def picker(layout):
    return _user("pablo", "picker", layout.warehouse)


@pytest.fixture
def picker2(layout):
    return _user("paula", "picker", layout.warehouse)


@pytest.fixture
def supervisor(layout):
    return _user("sara", "supervisor", layout.warehouse)


def balance(item, location, status) -> tuple[Decimal, Decimal]:
    """(on hand, reserved) of one balance; zeros when the row does not exist."""
    row = (
        InventoryBalance.objects.filter(item=item, location=location, status=status)
        .values_list("on_hand", "reserved")
        .first()
    )
    return row or (D("0"), D("0"))


def order_of(order) -> ReplenishmentOrder:
    return ReplenishmentOrder.objects.get(pk=order.pk)


def subprocess_env(**extra) -> dict:
    """Environment for a child process working on this test's database."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        SECRET_KEY=settings.SECRET_KEY,
        WMS_INSTANCE_ID=settings.WMS_INSTANCE_ID,
        DB_CONN_MAX_AGE="0",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def carton(db):
    return PackageType.objects.create(
        code="CARTON-M", name="Carton M", kind=PackageKind.CARTON,
        tare_weight_kg=D("0.4"), length_cm=40, width_cm=30, height_cm=30,
    )  # fmt: skip


@pytest.fixture
def picked_order(release_order, picker, layout):
    """10 SKU-A and 5 SKU-B, both picked in full into staging."""
    layout.warehouse.gs1_company_prefix = "8412345"
    layout.warehouse.save()
    order, tasks = release_order([("SKU-A", 10), ("SKU-B", 5)])
    for n, _task in enumerate(tasks):
        task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
        pick_task_start(task_id=task.pk, picker=picker)
        assert not PackTask.objects.filter(order=order).exists()
        pick_confirm(
            task_id=task.pk, qty=str(task.qty_to_pick), request_key=f"pick-{n}", actor=picker
        )
    return order_of(order)
