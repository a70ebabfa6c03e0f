"""Inbound API: ASN and receipt POSTs (idempotent), who may call them, problem details."""

from decimal import Decimal

import pytest

from inbound.models import InboundShipment, PutAwayTask, Receipt
from inventory.models import InventoryPosting
from tests.inventory.helpers import balance_of
from wms.models import IdempotencyRecord, OutboxEvent

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
ASNS = "/api/v1/inbound-shipments"


def _asn_body(ref="ASN-2026-0001", **overrides):
    body = {
        "externalRef": ref,
        "supplier": "ACME Foods",
        "expectedArrivalAt": "2026-11-23T08:00:00+01:00",
        "lines": [
            {"lineNumber": 1, "sku": "SKU-A", "qtyExpected": "2", "uom": "CS"},
            {"lineNumber": 2, "sku": "SKU-B", "qtyExpected": "10", "uom": "EA"},
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture
def erp(layout, system_client):
    return system_client("finance", "ERP", [layout.warehouse])


@pytest.fixture
def tunnel(layout, system_client):
    return system_client("automation", "TUNNEL1", [layout.warehouse])


def _fields(problem) -> list[str]:
    """Error fields as the API names them (``lines[0].qty``)."""
    return [e["field"] or "" for e in problem["errors"]]


def _post(client, path, body, key="k-1"):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_asn_create_by_finance_system_is_201(erp, layout):
    """The ERP posts an ASN: 201 with its fields, lines in their unit and in base units."""
    response = _post(erp, ASNS, _asn_body())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["externalRef"] == "ASN-2026-0001"
    assert body["status"] == "EXPECTED"
    assert body["warehouse"] == "MAD1"
    assert body["expectedArrivalAt"].startswith("2026-11-23T")
    line = body["lines"][0]
    assert (line["lineNumber"], line["sku"], line["uom"], line["qtyExpected"]) == (
        1,
        "SKU-A",
        "CS",
        "2.000",
    )
    assert (line["baseUom"], line["qtyExpectedBase"], line["qtyReceivedBase"]) == (
        "EA",
        "24.000",
        "0.000",
    )
    asn = InboundShipment.objects.get()
    assert asn.source == "system:ERP"
    assert OutboxEvent.objects.filter(event_type="inbound_shipment.created").count() == 1


@pytest.mark.parametrize("system_type", ["store", "automation"])
def test_asn_create_refuses_other_system_types(layout, system_client, system_type):
    """Stores and automation systems do not send ASNs: 403 problem details."""
    client = system_client(system_type, f"X-{system_type}", [layout.warehouse])
    response = _post(client, ASNS, _asn_body())
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    assert not InboundShipment.objects.exists()


def test_asn_create_by_people_needs_the_permission(api_client, layout, receiver, supervisor):
    """A supervisor may record an ASN with the session; a receiver may not."""
    api_client.force_login(receiver)
    assert _post(api_client, ASNS, _asn_body()).status_code == 403
    api_client.force_login(supervisor)
    response = _post(api_client, ASNS, _asn_body(), key="k-2")
    assert response.status_code == 201
    assert InboundShipment.objects.get().source == "user:sam"


def test_asn_create_idempotent_replay(erp, layout):
    """Same key and body → the stored answer again, one ASN, one event; other body → 422."""
    first = _post(erp, ASNS, _asn_body())
    again = _post(erp, ASNS, _asn_body())
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert InboundShipment.objects.count() == 1
    assert OutboxEvent.objects.filter(event_type="inbound_shipment.created").count() == 1
    reused = _post(erp, ASNS, _asn_body(supplier="Other"))
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


def test_asn_create_without_idempotency_key_is_400(erp, layout):
    """No Idempotency-Key → 400 idempotency_key_missing, nothing stored."""
    response = erp.post(ASNS, _asn_body(), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"
    assert not InboundShipment.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        ({"externalRef": ""}, 400, "validation_failed", "externalRef"),
        (
            {"expectedArrivalAt": "2026-11-23T08:00:00"},
            400,
            "validation_failed",
            "expectedArrivalAt",
        ),
        ({"lines": []}, 400, "validation_failed", "lines"),
        (
            {"lines": [{"lineNumber": 1, "sku": "SKU-A", "qtyExpected": "1.0001", "uom": "EA"}]},
            400,
            "validation_failed",
            "lines[0].qtyExpected",
        ),
        (
            {"lines": [{"lineNumber": 1, "sku": "SKU-NOPE", "qtyExpected": "1", "uom": "EA"}]},
            422,
            "unknown_sku",
            "lines[0].sku",
        ),
        (
            {"lines": [{"lineNumber": 1, "sku": "SKU-A", "qtyExpected": "0", "uom": "EA"}]},
            422,
            "quantity_not_positive",
            "lines[0].qtyExpected",
        ),
        (
            {"lines": [{"lineNumber": 1, "sku": "SKU-B", "qtyExpected": "1", "uom": "CS"}]},
            422,
            "unknown_uom_for_item",
            "lines[0].uom",
        ),
        ({"warehouse": "BCN1"}, 403, "permission_denied", None),
    ],
)
def test_asn_create_bad_input_is_problem_details_and_persists_nothing(
    erp, layout, overrides, status, code, field
):
    """Schema errors → 400, business errors → 422, both with errors[]; nothing is stored."""
    response = _post(erp, ASNS, _asn_body(**overrides))
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == code
    assert {"type", "title", "status", "detail", "code"} <= set(problem)
    if field:
        assert field in _fields(problem)
    assert not InboundShipment.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_asn_create_duplicate_reference_is_409_with_existing_id(erp, layout):
    """The same externalRef under another key → 409 duplicate_inbound_shipment."""
    first = _post(erp, ASNS, _asn_body()).json()
    response = _post(erp, ASNS, _asn_body(), key="k-other")
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_inbound_shipment"
    assert response.json()["existingId"] == first["id"]


def test_asn_create_needs_a_warehouse_when_several_are_granted(layout, system_client):
    """A system granted two warehouses must name one (422 warehouse_required)."""
    from tests.factories import WarehouseFactory

    client = system_client("finance", "ERP2", [layout.warehouse, WarehouseFactory(code="BCN1")])
    response = _post(client, ASNS, _asn_body())
    assert response.status_code == 422
    assert response.json()["code"] == "warehouse_required"
    assert _post(client, ASNS, _asn_body(warehouse="MAD1"), key="k-2").status_code == 201


def test_asn_list_and_detail_are_scoped(erp, tunnel, layout, system_client):
    """Readers see ASNs of their warehouses; a store system may not read them."""
    created = _post(erp, ASNS, _asn_body()).json()
    listed = tunnel.get(f"{ASNS}?externalRef=ASN-2026-0001").json()["results"]
    assert [row["id"] for row in listed] == [created["id"]]
    assert tunnel.get(f"{ASNS}/{created['id']}").json()["supplier"] == "ACME Foods"
    from tests.factories import WarehouseFactory

    outsider = system_client("automation", "TUNNEL9", [WarehouseFactory(code="BCN1")])
    assert outsider.get(f"{ASNS}/{created['id']}").status_code == 404
    assert outsider.get(ASNS).json()["results"] == []
    store = system_client("store", "S042", [layout.warehouse])
    assert store.get(ASNS).status_code == 403


def test_receipt_create_by_automation_posts_stock(erp, tunnel, layout, inbound_settings, strategy):
    """A receipt: 201 with its lines, the exceptions it opened and its put-away tasks."""
    asn = _post(erp, ASNS, _asn_body()).json()
    body = {
        "lines": [
            {"lineNumber": 1, "qtyReceived": "3"},  # 3 cases = 36 each, 24 expected
            {"lineNumber": 2, "qtyReceived": "4", "status": "DAMAGED"},
        ],
        "complete": True,
    }
    response = _post(tunnel, f"{ASNS}/{asn['id']}/receipts", body, key="r-1")
    assert response.status_code == 201, response.content
    receipt = response.json()
    assert receipt["inboundShipmentId"] == asn["id"]
    assert receipt["shipmentStatus"] == "RECEIVED"
    assert receipt["receivingLocation"] == "RCV-01"
    assert [(line["lineNumber"], line["qtyBase"], line["status"]) for line in receipt["lines"]] == [
        (1, "36.000", "AVAILABLE"),
        (2, "4.000", "DAMAGED"),
    ]
    assert sorted(case["type"] for case in receipt["exceptions"]) == [
        "DAMAGED",
        "OVER_RECEIPT",  # 50 % over, tolerance 10 %
        "UNDER_RECEIPT",  # line 2: 4 of 10, tolerance 5 %
    ]
    assert [(t["sku"], t["qty"], t["toLocation"]) for t in receipt["putAwayTasks"]] == [
        ("SKU-A", "36.000", "A-01"),
        ("SKU-B", "4.000", "QA-01"),
    ]
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == Decimal("36")


def test_receipt_create_idempotent_replay_posts_once(erp, tunnel, layout, inbound_settings):
    """Replaying a receipt POST returns the first answer and posts no second time."""
    asn = _post(erp, ASNS, _asn_body()).json()
    path = f"{ASNS}/{asn['id']}/receipts"
    body = {"lines": [{"lineNumber": 2, "qtyReceived": "5"}]}
    first = _post(tunnel, path, body, key="r-1")
    again = _post(tunnel, path, body, key="r-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Receipt.objects.count() == 1
    assert InventoryPosting.objects.count() == 1
    assert balance_of(layout.sku_b, layout.rcv, layout.available)[0] == Decimal("5")
    # A new key is a new receipt: partial receipts add up.
    assert _post(tunnel, path, body, key="r-2").status_code == 201
    assert balance_of(layout.sku_b, layout.rcv, layout.available)[0] == Decimal("10")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"lines": []}, 400, "lines"),
        ({"lines": [{"lineNumber": 1}]}, 400, "lines[0].qtyReceived"),
        ({"lines": [{"lineNumber": 1, "qtyReceived": "abc"}]}, 400, "lines[0].qtyReceived"),
        ({"lines": [{"lineNumber": 7, "qtyReceived": "1"}]}, 422, "lines[0].lineNumber"),
        ({"lines": [{"lineNumber": 1, "qtyReceived": "-1"}]}, 422, "lines[0].qtyReceived"),
        (
            {
                "lines": [
                    {"lineNumber": 1, "qtyReceived": "1"},
                    {"lineNumber": 2, "qtyReceived": "1", "status": "LOST"},
                ]
            },
            422,
            "lines[1].status",
        ),
        ({"lines": [{"lineNumber": 1, "qtyReceived": "1"}], "dockDoor": "D99"}, 422, "dockDoor"),
    ],
)
def test_receipt_create_bad_input_persists_nothing(erp, tunnel, layout, body, status, field):
    """A refused receipt is problem details with the field, and leaves nothing behind."""
    asn = _post(erp, ASNS, _asn_body()).json()
    events = OutboxEvent.objects.count()
    response = _post(tunnel, f"{ASNS}/{asn['id']}/receipts", body, key="r-bad")
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    assert field in _fields(response.json())
    assert not Receipt.objects.exists()
    assert not InventoryPosting.objects.exists()
    assert not PutAwayTask.objects.exists()
    assert OutboxEvent.objects.count() == events
    assert IdempotencyRecord.objects.filter(key="r-bad").count() == 0


def test_receipt_create_refuses_finance_and_unknown_asns(erp, tunnel, layout):
    """The ERP does not receive goods (403); an unknown ASN is 404."""
    asn = _post(erp, ASNS, _asn_body()).json()
    body = {"lines": [{"lineNumber": 1, "qtyReceived": "1"}]}
    assert _post(erp, f"{ASNS}/{asn['id']}/receipts", body, key="r-1").status_code == 403
    missing = _post(tunnel, f"{ASNS}/999999/receipts", body, key="r-2")
    assert missing.status_code == 404
    assert missing.json()["code"] == "inbound_shipment_not_found"


def test_inbound_endpoints_are_in_the_openapi_schema(api_client, supervisor):
    """The schema documents both POSTs with the Idempotency-Key header."""
    api_client.force_login(supervisor)
    schema = api_client.get("/api/v1/schema/?format=json").json()
    create = schema["paths"]["/api/v1/inbound-shipments"]["post"]
    receipts = schema["paths"]["/api/v1/inbound-shipments/{shipment_id}/receipts"]["post"]
    for operation in (create, receipts):
        assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
        assert "201" in operation["responses"]


def _openapi_validator(schema: dict, ref: str):
    """A JSON Schema validator for one component of the OpenAPI 3.0 document
    (``nullable`` turned into a JSON Schema null type)."""
    import copy

    import jsonschema

    def convert(node):
        if isinstance(node, dict):
            node = {key: convert(value) for key, value in node.items()}
            if node.pop("nullable", False):
                if "type" in node:
                    node["type"] = [node["type"], "null"]
                elif "$ref" in node or "allOf" in node or "oneOf" in node:
                    node = {"anyOf": [node, {"type": "null"}]}
            return node
        if isinstance(node, list):
            return [convert(value) for value in node]
        return node

    document = convert(copy.deepcopy(schema))
    root = {"components": document["components"], "$ref": ref}
    return jsonschema.Draft202012Validator(root)


def test_inbound_responses_match_the_openapi_schema(
    api_client, supervisor, erp, tunnel, layout, inbound_settings, strategy
):
    """The 201 bodies of both POSTs, the ASN detail and a 422 validate against the schema."""
    api_client.force_login(supervisor)
    schema = api_client.get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    created_ref = paths["/api/v1/inbound-shipments"]["post"]["responses"]["201"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    receipt_ref = paths["/api/v1/inbound-shipments/{shipment_id}/receipts"]["post"]["responses"][
        "201"
    ]["content"]["application/json"]["schema"]["$ref"]

    asn = _post(erp, ASNS, _asn_body())
    _openapi_validator(schema, created_ref).validate(asn.json())
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):  # the validator does check
        _openapi_validator(schema, created_ref).validate({**asn.json(), "status": "LOST"})
    _openapi_validator(schema, created_ref).validate(
        tunnel.get(f"{ASNS}/{asn.json()['id']}").json()
    )
    receipt = _post(
        tunnel,
        f"{ASNS}/{asn.json()['id']}/receipts",
        {"lines": [{"lineNumber": 1, "qtyReceived": "3"}], "complete": True},
        key="r-1",
    )
    assert receipt.status_code == 201
    _openapi_validator(schema, receipt_ref).validate(receipt.json())
    problem = _post(erp, ASNS, _asn_body(ref="X", lines=[]), key="k-bad")
    _openapi_validator(schema, "#/components/schemas/Problem").validate(problem.json())
