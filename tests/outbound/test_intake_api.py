"""Store order intake through the API: 202 after durable persistence, staged
validation with problem details, idempotency, duplicates, access by store."""

from decimal import Decimal

import pytest
from django.core.cache import cache

from inventory.models import ItemUnitConversion
from outbound.models import OrderStatus, ReplenishmentOrder, ReplenishmentOrderLine
from outbound.selectors import intake_caches_forget
from tests.factories import UnitOfMeasureFactory, WarehouseFactory
from wms.models import IdempotencyRecord, OutboxEvent

from .conftest import order_body, post_order

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    intake_caches_forget()
    yield
    cache.clear()


@pytest.fixture
def skus(item):
    return [item("SKU-1001"), item("SKU-1002")]


def _nothing_stored():
    assert ReplenishmentOrder.objects.count() == 0
    assert ReplenishmentOrderLine.objects.count() == 0
    assert not OutboxEvent.objects.filter(event_type__startswith="order.").exists()
    assert IdempotencyRecord.objects.count() == 0


def test_order_accept_answers_202_with_status_url(store, skus):
    """A valid order is stored as ACCEPTED with its lines and answered 202 with statusUrl."""
    response = post_order(
        store,
        order_body(
            lines=[
                {"lineNumber": 1, "sku": "SKU-1001", "qty": "24", "uom": "EA"},
                {"lineNumber": 2, "sku": "SKU-1002", "qty": 6},
            ]
        ),
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"id", "externalOrderId", "status", "statusUrl"}
    assert body["status"] == "ACCEPTED"
    assert body["externalOrderId"] == "S042-0001"
    assert body["statusUrl"].endswith(f"/api/v1/replenishment-orders/{body['id']}")
    assert response["Location"] == body["statusUrl"]

    order = ReplenishmentOrder.objects.get(pk=body["id"])
    assert order.status == OrderStatus.ACCEPTED and order.needs_planning
    record = order.history.get()
    assert (record.history_type, record.status, record.history_user) == ("+", "ACCEPTED", None)
    lines = list(order.lines.order_by("line_number"))
    assert [(ln.item.sku, ln.qty_requested_base) for ln in lines] == [
        ("SKU-1001", Decimal("24")),
        ("SKU-1002", Decimal("6")),
    ]
    assert ReplenishmentOrderLine.history.count() == 2
    event = OutboxEvent.objects.get(event_type="order.accepted")
    assert event.aggregate_id == body["id"] and event.data["lineCount"] == 2

    detail = store.get(body["statusUrl"])
    assert detail.status_code == 200
    data = detail.json()
    assert data["status"] == "ACCEPTED" and data["storeCode"] == "S042"
    assert data["rejectionReasons"] == []
    assert data["lines"][0] == {
        "lineNumber": 1,
        "sku": "SKU-1001",
        "uom": "EA",
        "qtyRequested": "24.000",
        "qtyAllocated": "0.000",
        "qtyPicked": "0.000",
        "qtyShipped": "0.000",
        "status": "OPEN",
        "baseUnitsPerUom": "1.0000",
    }


def test_order_accept_replays_same_key(store, skus):
    """The same key and body again: the first answer, marked replayed; one order."""
    body = order_body()
    first = post_order(store, body, key="order-1")
    again = post_order(store, body, key="order-1")
    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ReplenishmentOrder.objects.count() == 1
    assert OutboxEvent.objects.filter(event_type="order.accepted").count() == 1


def test_order_accept_refuses_duplicate_external_order_id(store, skus):
    """A second externalOrderId of the store under another key → 409 with the existing id."""
    first = post_order(store, order_body(), key="a")
    second = post_order(store, order_body(priority=3), key="b")
    assert second.status_code == 409
    assert second["Content-Type"] == PROBLEM
    problem = second.json()
    assert problem["code"] == "duplicate_external_order"
    assert problem["existingOrderId"] == first.json()["id"]
    assert ReplenishmentOrder.objects.count() == 1


def test_order_accept_converts_order_units(store, item):
    """A line in cases is stored with its base-unit quantity (1 CS = 12 EA)."""
    sku = item("SKU-1001")
    ItemUnitConversion.objects.create(
        item=sku, uom=UnitOfMeasureFactory(code="CS", description="Case"), base_units=12
    )
    response = post_order(
        store, order_body(lines=[{"lineNumber": 1, "sku": "SKU-1001", "qty": "2", "uom": "CS"}])
    )
    assert response.status_code == 202, response.content
    line = ReplenishmentOrderLine.objects.get()
    assert (line.qty_requested, line.qty_requested_base) == (Decimal("2"), Decimal("24"))
    assert line.uom.code == "CS"


_MANY = [{"lineNumber": n, "sku": "SKU-1001", "qty": "1"} for n in range(1, 10_001)]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (order_body(lines=[{"lineNumber": 1, "sku": "NOPE", "qty": "1"}]), 422, None, "sku"),
        (order_body(lines=[{"lineNumber": 1, "sku": "SKU-1001", "qty": "0"}]), 422, None, "qty"),
        (order_body(lines=[{"lineNumber": 1, "sku": "SKU-1001", "qty": "-3"}]), 422, None, "qty"),
        (
            order_body(
                lines=[
                    {"lineNumber": 1, "sku": "SKU-1001", "qty": "1"},
                    {"lineNumber": 1, "sku": "SKU-1002", "qty": "1"},
                ]
            ),
            422,
            None,
            "lineNumber",
        ),
        (
            order_body(lines=[{"lineNumber": 1, "sku": "SKU-1001", "qty": "1", "uom": "XX"}]),
            422,
            None,
            "uom",
        ),
        (order_body(lines=_MANY), 400, "too_many_lines", "lines"),
        (order_body(lines=[]), 400, None, "lines"),
        (order_body(lines=[{"lineNumber": 1, "sku": "SKU-1001", "qty": "abc"}]), 400, None, "qty"),
        (order_body(requestedShipBy="2030-11-23T18:00:00"), 400, None, "requestedShipBy"),
        (order_body(priority=0), 400, None, "priority"),
        ({"storeCode": "S042", "lines": []}, 400, None, "externalOrderId"),
    ],
    ids=[
        "unknown-sku",
        "qty-zero",
        "qty-negative",
        "duplicate-line-number",
        "unknown-uom",
        "10000-lines",
        "no-lines",
        "qty-not-a-number",
        "naive-ship-by",
        "priority-out-of-range",
        "missing-external-id",
    ],
)
def test_order_accept_refuses_bad_input(store, skus, body, status, code, field):
    """Bad input → 400/422 problem details naming the field; nothing is stored."""
    response = post_order(store, body)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    if code:
        assert problem["code"] == code or any(e["code"] == code for e in problem["errors"])
    assert any(field in (error["field"] or "") for error in problem["errors"]), problem
    _nothing_stored()


def test_order_accept_refuses_malformed_json(store, skus):
    """A body that is not JSON → 400 malformed_request."""
    response = store.post(
        "/api/v1/replenishment-orders",
        data=b'{"externalOrderId": "x", ',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"
    _nothing_stored()


def test_order_accept_refuses_wrong_content_type(store, skus):
    """A form-encoded or XML body → 415."""
    response = store.post(
        "/api/v1/replenishment-orders",
        data="<order/>",
        content_type="application/xml",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    _nothing_stored()


def test_order_accept_requires_idempotency_key(store, skus):
    """No Idempotency-Key → 400 idempotency_key_missing."""
    response = store.post("/api/v1/replenishment-orders", order_body(), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"
    _nothing_stored()


def test_order_accept_refuses_bad_token(api_client, skus):
    """A token that is not one → 401; none at all → 401."""
    assert post_order(api_client, order_body()).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Token wms_forged")
    response = post_order(api_client, order_body())
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    _nothing_stored()


def test_order_accept_refuses_other_store_and_system_type(system_client, warehouse, skus):
    """A store submitting for another store, or a non-store system → 403."""
    store = system_client("store", "S042", [warehouse])
    response = post_order(store, order_body(storeCode="S999"))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    robot = system_client("automation", "AUTO1", [warehouse])
    assert post_order(robot, order_body()).status_code == 403
    _nothing_stored()


def test_order_accept_picks_the_warehouse_granted_to_the_store(system_client, warehouse, item):
    """One granted warehouse: used. Several: ``warehouse`` is required and must be granted."""
    other = WarehouseFactory(code="BCN1")
    third = WarehouseFactory(code="VLC1")
    item("SKU-1001")
    from tests.factories import ItemFactory

    ItemFactory(warehouse=other, sku="SKU-1001")
    store = system_client("store", "S042", [warehouse, other])
    response = post_order(store, order_body())
    assert response.status_code == 422
    assert response.json()["code"] == "warehouse_required"
    response = post_order(store, order_body(warehouse="VLC1"))
    assert response.status_code == 403
    assert third.code == "VLC1"
    _nothing_stored()
    response = post_order(store, order_body(warehouse="BCN1"))
    assert response.status_code == 202, response.content
    assert ReplenishmentOrder.objects.get().warehouse == other


def test_order_read_only_own_store(system_client, warehouse, skus):
    """A store sees its orders and gets 403 for another store's order or storeCode."""
    mine = system_client("store", "S042", [warehouse])
    theirs = system_client("store", "S043", [warehouse])
    order_id = post_order(mine, order_body()).json()["id"]
    post_order(theirs, order_body("S043-1", storeCode="S043"))

    assert theirs.get(f"/api/v1/replenishment-orders/{order_id}").status_code == 403
    assert theirs.get("/api/v1/replenishment-orders?storeCode=S042").status_code == 403
    listed = theirs.get("/api/v1/replenishment-orders").json()["results"]
    assert [o["externalOrderId"] for o in listed] == ["S043-1"]
    listed = mine.get("/api/v1/replenishment-orders?storeCode=S042").json()["results"]
    assert [o["id"] for o in listed] == [order_id]
    missing = mine.get("/api/v1/replenishment-orders/00000000-0000-7000-8000-000000000000")
    assert missing.status_code == 404 and missing["Content-Type"] == PROBLEM


def test_order_list_filters_and_pages(store, skus):
    """Filters by externalOrderId and status; ``limit`` pages with a ``next`` cursor."""
    ids = [post_order(store, order_body(f"S042-{n}")).json()["id"] for n in range(3)]
    page = store.get("/api/v1/replenishment-orders?limit=2").json()
    assert [o["id"] for o in page["results"]] == ids[::-1][:2]
    rest = store.get(page["next"]).json()
    assert [o["id"] for o in rest["results"]] == [ids[0]] and rest["next"] is None
    one = store.get("/api/v1/replenishment-orders?externalOrderId=S042-1").json()["results"]
    assert [o["id"] for o in one] == [ids[1]]
    assert store.get("/api/v1/replenishment-orders?status=PLANNED").json()["results"] == []
    assert store.get("/api/v1/replenishment-orders?status=NOPE").status_code == 400


def test_order_accept_rate_limited_per_store(store, system_client, warehouse, skus, settings):
    """Beyond the store's rate → 429 with Retry-After, nothing stored; other stores unaffected."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"store": "2/minute"},
    }
    assert post_order(store, order_body("a")).status_code == 202
    assert post_order(store, order_body("b")).status_code == 202
    response = post_order(store, order_body("c"))
    assert response.status_code == 429
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    assert not ReplenishmentOrder.objects.filter(external_order_id="c").exists()
    other = system_client("store", "S043", [warehouse])
    assert post_order(other, order_body("d", storeCode="S043")).status_code == 202


def test_order_accept_refused_when_planning_backlog_full(store, skus, settings):
    """More orders waiting for planning than the limit → 429 planning_backlog_full."""
    settings.WMS_PLANNING_BACKLOG_LIMIT = 2
    assert post_order(store, order_body("a")).status_code == 202
    intake_caches_forget()  # the figure is remembered for two seconds
    assert post_order(store, order_body("b")).status_code == 202
    intake_caches_forget()
    response = post_order(store, order_body("c"))
    assert response.status_code == 429
    assert response.json()["code"] == "planning_backlog_full"
    assert response["Retry-After"] == "5"
    assert ReplenishmentOrder.objects.count() == 2


def test_order_cancel_before_planning_is_idempotent(store, skus):
    """Cancel an accepted order → 200 CANCELLED; cancelling again answers the same."""
    order_id = post_order(store, order_body()).json()["id"]
    url = f"/api/v1/replenishment-orders/{order_id}/cancel"
    first = store.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="c1")
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "CANCELLED"
    again = store.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="c2")
    assert again.status_code == 200 and again.json()["status"] == "CANCELLED"
    assert OutboxEvent.objects.filter(event_type="order.cancelled").count() == 1
    order = ReplenishmentOrder.objects.get()
    assert not order.needs_planning
    assert set(order.lines.values_list("status", flat=True)) == {"CANCELLED"}


def test_order_accept_by_a_supervisor_session(api_client, store, warehouse, skus):
    """A person with the permission may submit for a known store; history names them."""
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    user = UserFactory(warehouses=[warehouse])
    user.groups.add(Group.objects.get(name="supervisor"))
    api_client.force_login(user)
    response = post_order(api_client, order_body(storeCode="NOPE"))
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_store"
    response = post_order(api_client, order_body())
    assert response.status_code == 202, response.content
    order = ReplenishmentOrder.objects.get()
    assert order.history.get().history_user == user
    assert {r.history_user for r in ReplenishmentOrderLine.history.all()} == {user}


def test_order_accept_names_every_bad_line_field(store, skus):
    """All schema problems of all lines come back at once, each with its ``lines[i].field``."""
    body = order_body(
        lines=[
            {"lineNumber": 1, "sku": "SKU-1001", "qty": "1"},
            {"lineNumber": "x", "sku": "", "qty": "1.23456"},
            5,
        ]
    )
    response = post_order(store, body)
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("lines[1].lineNumber", "invalid"),
        ("lines[1].sku", "blank"),
        ("lines[1].qty", "max_decimal_places"),
        ("lines[2]", "invalid"),
    ]
    _nothing_stored()
