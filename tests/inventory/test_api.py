"""Inventory API: balances and ledger reads, moves and status transfers (CONTRACT.md, Inventory)."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from inventory import services
from inventory.models import InventoryLedgerEntry, InventoryStatus
from tests.factories import ItemFactory, LocationFactory, UserFactory

from .helpers import balance_of

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def stock(item, bin_a, bin_b, available, quarantined, other_warehouse):
    """SKU-1001: 10 in bin A, 4 in bin B (1 quarantined); another SKU; stock in BCN1 too."""
    post = services.stock_receive
    post(item=item, location=bin_a, status=available, qty=10, posting_key="s1", source_ref="R1")
    post(item=item, location=bin_b, status=available, qty=3, posting_key="s2", source_ref="R2")
    post(item=item, location=bin_b, status=quarantined, qty=1, posting_key="s3", source_ref="R3")
    other = ItemFactory(warehouse=item.warehouse, sku="SKU-2002")
    post(item=other, location=bin_a, status=available, qty=7, posting_key="s4", source_ref="R4")
    bcn_item = ItemFactory(warehouse=other_warehouse, sku="SKU-1001")
    bcn_bin = LocationFactory(warehouse=other_warehouse, code="A-01-01-1")
    post(item=bcn_item, location=bcn_bin, status=available, qty=99, posting_key="s5", source_ref="")
    return item


@pytest.fixture
def controller(api_client, warehouse):
    user = UserFactory(username="controller", warehouses=[warehouse])
    user.groups.add(Group.objects.get(name="inventory_controller"))
    api_client.force_login(user)
    return api_client


def stock_status():
    return InventoryStatus.objects.get(code="AVAILABLE")


def _rows(response):
    assert response.status_code == 200, response.content
    return [
        (r["sku"], r["location"], r["status"], r["onHand"], r["reserved"], r["available"])
        for r in response.json()["results"]
    ]


# --- balances -------------------------------------------------------------------


def test_balance_list_filters_by_sku_location_status(system_client, warehouse, stock, bin_a):
    """Rows carry sku, location, status, onHand, reserved, available; filters narrow them."""
    services.reservation_create(
        item=stock, location=bin_a, status=stock_status(), qty=4, demand_ref="d", posting_key="r"
    )
    client = system_client("store", "S042", [warehouse])
    assert _rows(client.get("/api/v1/inventory/balances?sku=SKU-1001&location=A-01-01-1")) == [
        ("SKU-1001", "A-01-01-1", "AVAILABLE", "10.000", "4.000", "6.000")
    ]
    assert _rows(client.get("/api/v1/inventory/balances?status=QUARANTINED")) == [
        ("SKU-1001", "A-01-02-1", "QUARANTINED", "1.000", "0.000", "1.000")
    ]
    all_rows = _rows(client.get("/api/v1/inventory/balances?warehouse=MAD1"))
    assert len(all_rows) == 4
    row = client.get("/api/v1/inventory/balances?sku=SKU-2002").json()["results"][0]
    assert row["warehouse"] == "MAD1"


def test_balance_list_hides_empty_rows_unless_asked(system_client, warehouse, stock, bin_a, bin_b):
    """A balance moved to zero disappears from the list, and comes back with includeEmpty."""
    services.stock_move(
        item=stock,
        from_location=bin_b,
        to_location=bin_a,
        status=stock_status(),
        qty=3,
        posting_key="empty-b",
        source_ref="",
    )
    client = system_client("automation", "AUTO1", [warehouse])
    url = "/api/v1/inventory/balances?sku=SKU-1001&status=AVAILABLE"
    assert [r[1] for r in _rows(client.get(url))] == ["A-01-01-1"]
    assert [r[1] for r in _rows(client.get(url + "&includeEmpty=true"))] == [
        "A-01-01-1",
        "A-01-02-1",
    ]


def test_balance_list_is_scoped_to_granted_warehouses(system_client, warehouse, stock):
    """A token sees only its warehouses' rows and gets 403 naming another warehouse."""
    client = system_client("finance", "FIN1", [warehouse])
    rows = client.get("/api/v1/inventory/balances?sku=SKU-1001").json()["results"]
    assert {r["warehouse"] for r in rows} == {"MAD1"}
    response = client.get("/api/v1/inventory/balances?warehouse=BCN1")
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "permission_denied"


def test_balance_list_paginates_with_cursor(system_client, warehouse, stock):
    """``limit`` and the ``next`` cursor walk every row exactly once."""
    client = system_client("store", "S042", [warehouse])
    seen, url = [], "/api/v1/inventory/balances?limit=3"
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 3
        seen += [(r["sku"], r["location"], r["status"]) for r in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 4


def test_balance_list_needs_permission(api_client, warehouse, stock):
    """A person without the view permission gets 403; without a session 401."""
    assert api_client.get("/api/v1/inventory/balances").status_code == 401
    api_client.force_login(UserFactory(username="nobody", warehouses=[warehouse]))
    response = api_client.get("/api/v1/inventory/balances")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


# --- ledger ---------------------------------------------------------------------


def test_ledger_list_filters_and_pages(system_client, warehouse, stock):
    """The ledger lists postings oldest first, filtered by sku/location/since, cursor-paged."""
    client = system_client("finance", "FIN1", [warehouse])
    body = client.get("/api/v1/inventory/ledger?sku=SKU-1001&limit=2").json()
    assert [e["sourceRef"] for e in body["results"]] == ["R1", "R2"]
    first = body["results"][0]
    assert first["entryType"] == "RECEIPT" and first["onHandDelta"] == "10.000"
    assert first["postingKey"] == "s1" and first["warehouse"] == "MAD1"
    rest = client.get(body["next"]).json()
    assert [e["sourceRef"] for e in rest["results"]] == ["R3"]
    assert rest["next"] is None
    by_location = client.get("/api/v1/inventory/ledger?location=A-01-01-1").json()["results"]
    assert [e["sku"] for e in by_location] == ["SKU-1001", "SKU-2002"]
    latest = InventoryLedgerEntry.objects.filter(warehouse=warehouse).latest("id")
    since = latest.occurred_at.isoformat()
    recent = client.get("/api/v1/inventory/ledger", {"since": since}).json()["results"]
    assert latest.pk in [e["id"] for e in recent]
    future = client.get("/api/v1/inventory/ledger", {"since": "2999-01-01T00:00:00Z"}).json()
    assert future["results"] == []


def test_ledger_list_refuses_naive_since(system_client, warehouse, stock):
    """``since`` without a time zone offset → 400 problem details naming the field."""
    client = system_client("finance", "FIN1", [warehouse])
    response = client.get("/api/v1/inventory/ledger", {"since": "2026-01-01T00:00:00"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "since"


def test_ledger_list_is_scoped(system_client, warehouse, other_warehouse, stock):
    """A token of BCN1 sees BCN1's entries only, and 403 for MAD1."""
    client = system_client("store", "S099", [other_warehouse])
    entries = client.get("/api/v1/inventory/ledger").json()["results"]
    assert [e["warehouse"] for e in entries] == ["BCN1"]
    assert client.get("/api/v1/inventory/ledger?warehouse=MAD1").status_code == 403


# --- moves and status transfers ----------------------------------------------


def _move(client, key="mv-1", **overrides):
    body = {
        "warehouse": "MAD1",
        "sku": "SKU-1001",
        "fromLocation": "A-01-01-1",
        "toLocation": "A-01-02-1",
        "qty": "4",
        "sourceRef": "Relocation:7",
        **overrides,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/inventory/moves", body, format="json", **headers)


def test_move_create_posts_and_replays(system_client, warehouse, stock, bin_a, bin_b):
    """201 with the ledger entry ids; the same key again replays without a second move."""
    client = system_client("automation", "AUTO1", [warehouse])
    response = _move(client)
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["ledgerEntryIds"]) == 2
    assert [e["entryType"] for e in body["entries"]] == ["MOVE_OUT", "MOVE_IN"]
    assert body["entries"][0]["actor"] == "system:AUTO1"
    again = _move(client)
    assert again.status_code == 201
    assert again.json() == body
    assert again["Idempotent-Replayed"] == "true"
    available = stock_status()
    assert balance_of(stock, bin_a, available) == (Decimal("6"), 0)
    assert balance_of(stock, bin_b, available) == (Decimal("7"), 0)


def test_move_create_insufficient_is_409_problem(system_client, warehouse, stock, bin_a):
    """Moving more than is available → 409 insufficient_available, nothing moved."""
    client = system_client("automation", "AUTO1", [warehouse])
    response = _move(client, qty="10.001")
    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "insufficient_available"
    assert problem["available"] == "10.000" and problem["requested"] == "10.001"
    assert balance_of(stock, bin_a, stock_status()) == (Decimal("10"), 0)
    # Nothing was stored for the key: the client may fix the request and retry with it.
    assert _move(client, qty="10").status_code == 201


def test_move_create_requires_idempotency_key(system_client, warehouse, stock):
    """No Idempotency-Key → 400 idempotency_key_missing."""
    client = system_client("automation", "AUTO1", [warehouse])
    response = _move(client, key=None)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"


def test_move_create_unknown_codes_are_422(system_client, warehouse, stock):
    """Unknown SKU, location and status are all reported in one 422."""
    client = system_client("automation", "AUTO1", [warehouse])
    response = _move(client, sku="NOPE", toLocation="Z-99", status="LOST")
    assert response.status_code == 422
    codes = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert codes == {
        ("sku", "unknown_sku"),
        ("toLocation", "unknown_location"),
        ("status", "unknown_status"),
    }


def test_move_create_bad_input_is_400(system_client, warehouse, stock):
    """Zero, negative and over-precise quantities, and same from/to → 400 with field errors."""
    client = system_client("automation", "AUTO1", [warehouse])
    for n, overrides in enumerate(
        [{"qty": "0"}, {"qty": "-1"}, {"qty": "1.0001"}, {"toLocation": "A-01-01-1"}]
    ):
        response = _move(client, key=f"bad-{n}", **overrides)
        assert response.status_code == 400, overrides
        assert response["Content-Type"] == PROBLEM
        assert response.json()["errors"]


def test_move_create_permissions_and_scoping(system_client, api_client, warehouse, stock):
    """Stores and finance may not move stock (403); a token of another warehouse gets 403."""
    for kind, code in (("store", "S042"), ("finance", "FIN1")):
        response = _move(system_client(kind, code, [warehouse]))
        assert response.status_code == 403, kind
    bcn_only = system_client("automation", "AUTO2", [])
    assert _move(bcn_only).status_code == 403
    picker = UserFactory(username="picker", warehouses=[warehouse])
    picker.groups.add(Group.objects.get(name="picker"))
    api_client.force_login(picker)
    assert _move(api_client).status_code == 403


def test_move_create_warehouse_may_be_implied(system_client, warehouse, stock):
    """A client granted one warehouse may leave ``warehouse`` out."""
    client = system_client("automation", "AUTO1", [warehouse])
    body = {
        "sku": "SKU-1001",
        "fromLocation": "A-01-01-1",
        "toLocation": "A-01-02-1",
        "qty": "1",
    }
    response = client.post(
        "/api/v1/inventory/moves", body, format="json", HTTP_IDEMPOTENCY_KEY="implied"
    )
    assert response.status_code == 201, response.content


def test_status_transfer_create_by_inventory_controller(controller, stock, bin_b, quarantined):
    """A person with inventory permissions quarantines stock: 201, both balances change."""
    response = controller.post(
        "/api/v1/inventory/status-transfers",
        {
            "warehouse": "MAD1",
            "sku": "SKU-1001",
            "location": "A-01-02-1",
            "fromStatus": "AVAILABLE",
            "toStatus": "QUARANTINED",
            "qty": "2",
            "reasonCode": "DAMAGED",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="st-1",
    )
    assert response.status_code == 201, response.content
    entries = response.json()["entries"]
    assert [(e["entryType"], e["status"]) for e in entries] == [
        ("STATUS_OUT", "AVAILABLE"),
        ("STATUS_IN", "QUARANTINED"),
    ]
    assert entries[0]["actor"] == "controller" and entries[0]["reasonCode"] == "DAMAGED"
    assert balance_of(stock, bin_b, quarantined) == (Decimal("3"), 0)
    assert balance_of(stock, bin_b, stock_status()) == (Decimal("1"), 0)


def test_status_transfer_create_insufficient_is_409(controller, stock):
    """Quarantining more than is available → 409 insufficient_available."""
    response = controller.post(
        "/api/v1/inventory/status-transfers",
        {
            "warehouse": "MAD1",
            "sku": "SKU-1001",
            "location": "A-01-02-1",
            "fromStatus": "AVAILABLE",
            "toStatus": "QUARANTINED",
            "qty": "3.5",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="st-2",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_available"


def test_inventory_endpoints_are_in_the_openapi_schema(api_client):
    """The schema documents the four inventory endpoints."""
    schema = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("balances", "ledger", "moves", "status-transfers"):
        assert f"/api/v1/inventory/{path}" in text
