"""Fixtures of the inventory tests: one warehouse with a few bins, a staging lane and statuses."""

from decimal import Decimal

import pytest

from inventory.models import LocationType
from inventory.selectors import inventory_verify
from tests.factories import InventoryStatusFactory, ItemFactory, LocationFactory


@pytest.fixture
def available(db):
    return InventoryStatusFactory(code="AVAILABLE", description="Available", allocatable=True)


@pytest.fixture
def quarantined(db):
    return InventoryStatusFactory(code="QUARANTINED", description="Quarantined", allocatable=False)


@pytest.fixture
def item(warehouse):
    return ItemFactory(warehouse=warehouse, sku="SKU-1001", unit_cost=Decimal("2.5000"))


@pytest.fixture
def bin_a(warehouse):
    return LocationFactory(warehouse=warehouse, code="A-01-01-1", type=LocationType.PICK_FACE)


@pytest.fixture
def bin_b(warehouse):
    return LocationFactory(warehouse=warehouse, code="A-01-02-1", type=LocationType.RESERVE)


@pytest.fixture
def staging(warehouse):
    return LocationFactory(warehouse=warehouse, code="STG-01", type=LocationType.STAGING)


@pytest.fixture
def assert_consistent():
    """Call to assert that ``verify_inventory`` finds no drift."""

    def check():
        report = inventory_verify()
        assert report.problems == []
        return report

    return check
