"""Fixtures of the outbound tests: a warehouse laid out with pick faces and reserve
bins in two zones, a few items, stock received through the posting service and
a store with its API token."""

import itertools
import os
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from inventory import services as inventory_services
from inventory.models import LocationType
from tests.factories import (
    InventoryStatusFactory,
    ItemFactory,
    LocationFactory,
    UnitOfMeasureFactory,
    ZoneFactory,
)

_keys = itertools.count(1)


@pytest.fixture
def available(db):
    return InventoryStatusFactory(code="AVAILABLE", description="Available", allocatable=True)


@pytest.fixture
def quarantined(db):
    return InventoryStatusFactory(code="QUARANTINED", description="Quarantined", allocatable=False)


@pytest.fixture
def zone_a(warehouse):
    return ZoneFactory(warehouse=warehouse, code="A", name="Zone A")


@pytest.fixture
def zone_b(warehouse):
    return ZoneFactory(warehouse=warehouse, code="B", name="Zone B")


@pytest.fixture
def location(warehouse, zone_a):
    """``location("A-01-01-1", type=..., zone=..., pick_sequence=...)``."""

    def make(code, *, type=LocationType.PICK_FACE, zone=None, pick_sequence=None, **kwargs):
        return LocationFactory(
            warehouse=warehouse,
            code=code,
            type=type,
            zone=zone or zone_a,
            pick_sequence=pick_sequence if pick_sequence is not None else next(_keys),
            **kwargs,
        )

    return make


@pytest.fixture
def item(warehouse):
    """``item("SKU-1001")``: an item of the test warehouse, base unit EA."""

    def make(sku, **kwargs):
        return ItemFactory(warehouse=warehouse, sku=sku, base_uom=UnitOfMeasureFactory(), **kwargs)

    return make


@pytest.fixture
def receive(available):
    """``receive(item, location, qty, status=None)``: stock arrives (a real posting)."""

    def post(item, location, qty, status=None):
        return inventory_services.stock_receive(
            item=item,
            location=location,
            status=status or available,
            qty=Decimal(str(qty)),
            posting_key=f"test-receive:{uuid.uuid4()}",
            source_ref="test",
        )

    return post


@pytest.fixture
def store(system_client, warehouse):
    """The API client of store S042, served by the test warehouse."""
    return system_client("store", "S042", [warehouse])


def order_body(external_id="S042-0001", lines=None, **extra) -> dict:
    body = {
        "externalOrderId": external_id,
        "storeCode": "S042",
        "requestedShipBy": "2030-11-23T18:00:00+01:00",
        "priority": 5,
        "lines": lines
        if lines is not None
        else [{"lineNumber": 1, "sku": "SKU-1001", "qty": "24", "uom": "EA"}],
    }
    body.update(extra)
    return body


def post_order(client, body, key=None):
    return client.post(
        "/api/v1/replenishment-orders",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or f"k-{uuid.uuid4()}",
    )


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
def accept(warehouse, store):
    """``accept("EXT-1", [("SKU-1001", 24)], priority=5, ship_by=None, store="S042")``:
    an order accepted through the intake service."""
    from datetime import datetime, timedelta

    from django.utils import timezone

    from outbound.services import OrderLineInput, order_accept

    def make(external_id, lines, *, priority=5, ship_by=None, store="S042", wh=None):
        return order_accept(
            warehouse=wh or warehouse,
            store_code=store,
            external_order_id=external_id,
            priority=priority,
            requested_ship_by=ship_by
            if ship_by is not None
            else timezone.make_aware(datetime(2030, 11, 23, 18)) + timedelta(0),
            lines=[
                OrderLineInput(line_number=n, sku=sku, qty=Decimal(str(qty)))
                for n, (sku, qty) in enumerate(lines, start=1)
            ],
        )

    return make


@pytest.fixture
def plan_all(warehouse):
    """Run a planning job over every partition of the warehouse; returns the jobs."""
    from outbound.services import planning_job_run

    def run(wh=None):
        return [
            planning_job_run(warehouse_id=(wh or warehouse).pk, planning_group=group)
            for group in range(settings.WMS_PLANNING_GROUPS)
        ]

    return run


@pytest.fixture
def wave_policy(warehouse):
    """``wave_policy(**fields)``: the warehouse's wave policy (created or updated)."""
    from outbound.models import WavePolicy

    def make(**fields):
        policy, _ = WavePolicy.objects.update_or_create(warehouse=warehouse, defaults=fields)
        return policy

    return make
