"""RBAC matrix: every role (people with a session, systems with a token) of warehouse
MAD1 by every API list operation (plain and asking for BCN1) and every admin
changelist: nothing of warehouse BCN1 ever shows (no cross-warehouse leak)."""

import os
import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import NoReverseMatch, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from integrations.services import external_system_ensure
from inventory.models import InventoryStatus
from inventory.services import stock_receive
from tests.factories import ItemFactory, LocationFactory, WarehouseFactory

# Strings only warehouse BCN1's data holds.
MARKERS = ("BCN-LEAK", "Barcelona Secret")
ROLE_USERS = ("picker", "receiver", "supervisor", "controller", "finance")
SYSTEMS = {"store": "S042", "automation": "AUTO1", "finance": "FIN1"}


@pytest.fixture
def two_warehouses(db):
    """The demo warehouse MAD1 with its role users and systems, and BCN1 with an item,
    a location and stock whose names are the markers."""
    call_command("seed_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    other = WarehouseFactory(code="BCN1", name="Barcelona Secret DC")
    item = ItemFactory(warehouse=other, sku="SKU-BCN-LEAK", description="BCN-LEAK item")
    location = LocationFactory(warehouse=other, code="LOC-BCN-LEAK")
    stock_receive(
        item=item,
        location=location,
        status=InventoryStatus.objects.get(code="AVAILABLE"),
        qty=Decimal("7"),
        posting_key="rbac-bcn-1",
        source_ref="BCN-LEAK receipt",
    )
    return other


def _list_operations() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        path
        for path, item in schema["paths"].items()
        if "get" in item and "{" not in path and not path.endswith(("/schema/", "/docs/"))
    )


def _leaks(response) -> list[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    return [marker for marker in MARKERS if marker in text]


def _actors():
    User = get_user_model()
    for username in ROLE_USERS:
        client = Client()
        client.force_login(User.objects.get(username=username))
        yield f"user:{username}", client
    for system_type, code in SYSTEMS.items():
        _system, key, _ = external_system_ensure(
            system_type=system_type, code=code, warehouse_codes=["MAD1"], rotate=True
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        yield f"system:{code}", client


def test_rbac_api_lists_never_show_another_warehouse(two_warehouses):
    """Every role and system of MAD1 by every list operation, plain and with
    ?warehouse=BCN1: answered 2xx without BCN1's data, or refused (4xx)."""
    operations = _list_operations()
    assert len(operations) >= 15
    leaks, answered = [], 0
    for actor, client in list(_actors()):
        for path in operations:
            for query in ("", "?warehouse=BCN1"):
                response = client.get(f"{path}{query}", HTTP_ACCEPT="application/json")
                assert response.status_code < 500, (actor, path, query, response.status_code)
                if response.status_code < 300:
                    answered += 1
                    if found := _leaks(response):
                        leaks.append(f"{actor} GET {path}{query}: {found}")
    assert not leaks, "\n".join(leaks)
    assert answered > len(operations)  # the matrix did reach data, not only refusals
    root = Client()
    root.force_login(get_user_model().objects.get(username="admin"))
    assert _leaks(root.get("/api/v1/items?warehouse=BCN1"))  # the markers are findable


def test_rbac_admin_changelists_never_show_another_warehouse(two_warehouses):
    """Every admin changelist, opened by every role of MAD1: loads (or is refused) and
    shows nothing of BCN1; the superuser sees BCN1 (the markers are findable)."""
    User = get_user_model()
    urls = []
    for model in admin.site._registry:
        try:
            urls.append(
                reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            )
        except NoReverseMatch:
            continue
    leaks = []
    for username in ROLE_USERS:
        client = Client()
        client.force_login(User.objects.get(username=username))
        for url in urls:
            response = client.get(url)
            assert response.status_code in (200, 302, 403), (username, url, response.status_code)
            if found := _leaks(response):
                leaks.append(f"{username} {url}: {found}")
    assert not leaks, "\n".join(leaks)
    root = Client()
    root.force_login(User.objects.get(username="admin"))
    item_list = root.get(reverse("admin:inventory_item_changelist"))
    assert re.search("BCN-LEAK", item_list.content.decode())
