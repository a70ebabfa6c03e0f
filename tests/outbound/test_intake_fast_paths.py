"""Intake's hand-built fast paths answer and store what the generic code did: the store
throttle on a real Redis, the 202 body, the rows written in one round trip."""

import uuid
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import ValidationError

from outbound.models import ReplenishmentOrder, ReplenishmentOrderLine
from outbound.selectors import intake_caches_forget
from outbound.serializers import (
    OrderAcceptedOutputSerializer,
    OrderCreateInputSerializer,
    order_accepted_body,
    order_create_input,
)
from outbound.services import DuplicateExternalOrder, OrderLineInput, intake, order_accept
from wms.models import IdempotencyRecord, OutboxEvent
from wms.outbox import outbox_row

from .conftest import order_body, post_order

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def skus(item):
    intake_caches_forget()
    return [item("SKU-1001"), item("SKU-1002")]


@pytest.fixture
def redis_cache(settings):
    """The default cache on a real Redis (a database and prefix of this test only)."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "wms.cache.RedisCache",  # what CACHE_URL=redis://… selects
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        }
    }
    yield caches["default"]
    caches["default"].clear()


def test_store_throttle_on_redis_counts_in_one_round_trip_and_expires(
    store, system_client, warehouse, skus, settings, redis_cache
):
    """On Redis: the window's counter expires, the third order of a 2/minute store is 429
    with Retry-After and stores nothing, another store is not affected."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"store": "2/minute"},
    }
    assert post_order(store, order_body("a")).status_code == 202
    assert post_order(store, order_body("b")).status_code == 202
    response = post_order(store, order_body("c"))
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert not ReplenishmentOrder.objects.filter(external_order_id="c").exists()

    client = redis_cache._cache.get_client(write=True)
    [key] = client.keys(f"*wms:throttle:store:{store.system.pk}:*")
    assert int(client.get(key)) == 3
    assert 0 < client.ttl(key) <= 61

    other = system_client("store", "S043", [warehouse])
    assert post_order(other, order_body("d", storeCode="S043")).status_code == 202


def test_accepted_body_is_what_the_serializer_renders(store, skus, rf):
    """The 202 body built without the serializer has its fields and values."""
    response = post_order(store, order_body())
    assert response.status_code == 202, response.content
    order = ReplenishmentOrder.objects.get(pk=response.json()["id"])
    request = rf.post("/api/v1/replenishment-orders")
    expected = OrderAcceptedOutputSerializer(order, context={"request": request}).data
    assert order_accepted_body(request, order) == dict(expected)
    assert list(response.json()) == list(expected)


def test_order_rows_written_in_one_statement(store, skus):
    """The order, its lines, both history snapshots and the outbox event are one
    statement on PostgreSQL; every row is there with the columns simple-history
    and outbox_emit would give it."""
    lines = [
        {"lineNumber": 1, "sku": "SKU-1001", "qty": "24"},
        {"lineNumber": 2, "sku": "SKU-1002", "qty": "6.5"},
    ]
    # The first order fills the per-process master data caches.
    assert post_order(store, order_body("warm-up", lines=lines)).status_code == 202
    with CaptureQueriesContext(connection) as queries:
        response = post_order(store, order_body(lines=lines))
    assert response.status_code == 202, response.content
    order = ReplenishmentOrder.objects.get(pk=response.json()["id"])
    lines = list(order.lines.order_by("line_number"))
    assert [(ln.line_number, str(ln.qty_requested_base)) for ln in lines] == [
        (1, "24.000"),
        (2, "6.500"),
    ]
    assert all(ln.status == "OPEN" and ln.plan_round == 0 for ln in lines)
    [order_record] = order.history.all()
    assert (order_record.history_type, order_record.status) == ("+", "ACCEPTED")
    line_records = ReplenishmentOrderLine.history.filter(order_id=order.pk)
    assert sorted((r.line_number, r.history_type) for r in line_records) == [(1, "+"), (2, "+")]
    assert {r.history_date for r in line_records} == {order_record.history_date}
    event = OutboxEvent.objects.get(event_type="order.accepted", aggregate_id=str(order.pk))
    assert event.data["lineCount"] == 2 and event.status == "PENDING"
    assert event.correlation_id == order.correlation_id
    assert IdempotencyRecord.objects.count() == 2

    sql = [q["sql"] for q in queries.captured_queries]
    batch = [s for s in sql if 'INSERT INTO "outbound_replenishmentorderline"' in s]
    assert len(batch) == 1
    assert 'INSERT INTO "outbound_replenishmentorder" ' in batch[0]
    assert "outbound_historicalreplenishmentorder" in batch[0]
    assert "outbound_historicalreplenishmentorderline" in batch[0]
    assert "wms_outboxevent" in batch[0]
    # outcome or lock, the order's rows, outcome, message log (the token is
    # remembered from the warm-up order: no query for it)
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    statements = [s for s in sql if s.split(" ")[0] not in control]
    assert len(statements) == 3 + 1, "\n".join(statements)


_LINE = {"lineNumber": 1, "sku": "SKU-1001", "qty": "24"}


@pytest.mark.parametrize(
    "data",
    [
        order_body(),
        order_body(priority="3"),
        order_body(priority=True),
        order_body(priority=10),
        order_body(requestedShipBy=None),
        order_body(requestedShipBy="2030-11-23T18:00:00"),
        order_body(requestedShipBy="2030-11-23T18:00:00Z"),
        order_body(requestedShipBy="tomorrow"),
        order_body(externalOrderId="  S042-7  "),
        order_body(externalOrderId=123),
        order_body(externalOrderId="Ñandú-1"),
        order_body(externalOrderId=""),
        order_body(externalOrderId="x" * 65),
        order_body(externalOrderId="a\x00b"),
        order_body(storeCode=None),
        order_body(warehouse="MAD1"),
        order_body(warehouse=""),
        order_body(unknownKey="ignored"),
        order_body(lines=[]),
        order_body(lines=[_LINE, {**_LINE, "qty": "abc"}]),
        *[
            order_body(lines=[{**_LINE, "qty": qty}])
            for qty in [
                *["24.5", "0.001", "1.2345", "1e3", " 24 ", "+3", "-3", "0.000", "0"],
                *[24, 24.5, "999999999999999.999", "1234567890123456", "00000000000000001", ""],
            ]
        ],
        *[
            order_body(lines=[{**_LINE, "uom": uom}])
            for uom in ["CS", " CS", "", "x" * 17, "Ñ", "C\x00S", None, 7]
        ],
        *[
            order_body(lines=[{**_LINE, "sku": sku}])
            for sku in ["SKU-1", "SKU 1 ", "S\x00", "Ä-1", "x" * 65, 1001]
        ],
        *[order_body(lines=[{**_LINE, "lineNumber": n}]) for n in ["2", 0, 1_000_000, 2.0, True]],
        {k: v for k, v in order_body().items() if k != "priority"},
        {k: v for k, v in order_body().items() if k != "requestedShipBy"},
        {k: v for k, v in order_body().items() if k != "lines"},
        {"storeCode": "S042", "lines": []},
        [order_body()],
        "text",
        None,
    ],
)
def test_order_create_input_is_what_the_serializer_validates(data):
    """The hand-run validation returns the serializer's validated_data for a valid order
    and raises its very errors for an invalid one."""
    serializer = OrderCreateInputSerializer(data=data)
    if serializer.is_valid():
        assert order_create_input(data) == serializer.validated_data
    else:
        with pytest.raises(ValidationError) as raised:
            order_create_input(data)
        assert raised.value.detail == serializer.errors


def test_order_write_of_a_duplicate_writes_no_row_at_all(warehouse, skus):
    """The rows of an order whose externalOrderId the store already sent are not
    written at all (no line, history record or event left for the rollback to
    undo), and the transaction stays usable; order_accept answers 409."""
    lines = [OrderLineInput(line_number=1, sku="SKU-1001", qty=Decimal("2"))]
    first = order_accept(
        warehouse=warehouse, store_code="S042", external_order_id="DUP-1", lines=lines
    )

    def counts():
        return (
            ReplenishmentOrder.objects.count(),
            ReplenishmentOrderLine.objects.count(),
            ReplenishmentOrder.history.count(),
            ReplenishmentOrderLine.history.count(),
            OutboxEvent.objects.count(),
        )

    before = counts()
    again = ReplenishmentOrder(
        warehouse=warehouse, store_code="S042", external_order_id="DUP-1", priority=5
    )
    resolved = intake._resolve_lines(warehouse=warehouse, lines=lines)
    event = outbox_row(
        event_type="order.accepted",
        aggregate_type="ReplenishmentOrder",
        aggregate_id=again.pk,
        data={},
    )
    assert intake._order_write(again, resolved, event) is False
    assert counts() == before
    with pytest.raises(DuplicateExternalOrder) as raised:
        order_accept(warehouse=warehouse, store_code="S042", external_order_id="DUP-1", lines=lines)
    assert raised.value.extra["existingOrderId"] == str(first.pk)
