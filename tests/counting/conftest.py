"""Fixtures of the counting tests: a warehouse with bins, stock, counters and a controller."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from inventory import services as inventory_services
from inventory.models import LocationType
from inventory.selectors import inventory_verify
from tests.factories import (
    InventoryStatusFactory,
    ItemFactory,
    LocationFactory,
    UserFactory,
    ZoneFactory,
)
from wms.roles import INVENTORY_CONTROLLER


@pytest.fixture(autouse=True)
def count_reason(django_db_blocker):
    """The reason code counting's migration creates (again after a transactional test's flush)."""
    from inventory.models import ReasonCode

    with django_db_blocker.unblock():
        ReasonCode.objects.get_or_create(
            code="COUNT_DIFF", defaults={"description": "Count difference", "use": "ADJUSTMENT"}
        )


@pytest.fixture
def available(db):
    return InventoryStatusFactory(code="AVAILABLE", description="Available", allocatable=True)


@pytest.fixture
def zone_a(warehouse):
    return ZoneFactory(warehouse=warehouse, code="A")


@pytest.fixture
def bins(warehouse, zone_a):
    """Four pick faces A-01..A-04 in zone A."""
    return [
        LocationFactory(
            warehouse=warehouse,
            zone=zone_a,
            code=f"A-0{n}",
            barcode=f"LOC-A-0{n}",
            type=LocationType.PICK_FACE,
            pick_sequence=n,
        )
        for n in range(1, 5)
    ]


@pytest.fixture
def staging(warehouse):
    return LocationFactory(warehouse=warehouse, code="STG-01", type=LocationType.STAGING)


@pytest.fixture
def items(warehouse):
    return [
        ItemFactory(warehouse=warehouse, sku=f"SKU-{n}", unit_cost=Decimal("2.0000"))
        for n in range(1, 4)
    ]


@pytest.fixture
def receive(available):
    """``receive(item, location, qty)``: a real receipt through the posting service."""
    counter = iter(range(1, 10_000))

    def post(item, location, qty, status=None):
        return inventory_services.stock_receive(
            item=item,
            location=location,
            status=status or available,
            qty=Decimal(str(qty)),
            posting_key=f"test-receive:{next(counter)}:{item.pk}:{location.pk}",
            source_ref="test",
        )

    return post


@pytest.fixture
def stocked(bins, items, receive):
    """SKU-1: 10 at A-01, 20 at A-02; SKU-2: 5 at A-02; A-03 and A-04 empty."""
    receive(items[0], bins[0], 10)
    receive(items[0], bins[1], 20)
    receive(items[1], bins[1], 5)
    return bins, items


def _role_user(username, warehouse, role=INVENTORY_CONTROLLER):
    user = UserFactory(username=username, warehouses=[warehouse])
    group, _created = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    return user


@pytest.fixture
def controller(warehouse):
    return _role_user("controller", warehouse)


@pytest.fixture
def counter_one(warehouse):
    return _role_user("counter1", warehouse)


@pytest.fixture
def counter_two(warehouse):
    return _role_user("counter2", warehouse)


@pytest.fixture
def assert_consistent():
    """Call to assert that ``verify_inventory`` finds no drift."""

    def check():
        report = inventory_verify()
        assert report.problems == []
        return report

    return check
