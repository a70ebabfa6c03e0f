import pytest
from rest_framework.test import APIClient

from integrations.services import external_system_ensure

from .factories import WarehouseFactory


@pytest.fixture
def warehouse(db):
    return WarehouseFactory(code="MAD1", name="Madrid DC")


@pytest.fixture
def other_warehouse(db):
    return WarehouseFactory(code="BCN1", name="Barcelona DC")


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def system_client(db):
    """``system_client("store", "S042", [warehouse])`` → an APIClient with that system's token."""

    def make(system_type: str, code: str, warehouses=()):
        system, key, _created = external_system_ensure(
            system_type=system_type,
            code=code,
            warehouse_codes=[w.code for w in warehouses],
            rotate=True,  # a key is shown only when issued
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        client.system = system
        return client

    return make
