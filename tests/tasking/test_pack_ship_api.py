"""The packing and shipping API of CONTRACT.md: a packing line confirms whole packages,
a dock system confirms the shipment, the store reads it back; retries replay."""

from decimal import Decimal

import pytest

from inventory.models import FinanceEvent
from outbound.models import OrderStatus, Shipment
from outbound.sscc import sscc_is_valid
from tasking.services import pick_confirm, pick_task_next_for_picker, pick_task_start
from tests.factories import DockDoorFactory
from wms.models import OutboxEvent

from .conftest import order_of

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def packer_line(system_client, warehouse):
    return system_client("automation", "PACK1", [warehouse])


def _pack(client, order, key="pack-1", **overrides):
    body = {
        "orderId": str(order.pk),
        "packages": [
            {
                "packageType": "CARTON-M",
                "weightKg": "3.1",
                "lines": [{"lineNumber": 1, "qty": "10"}],
            },
            {
                "packageType": "CARTON-M",
                "weightKg": "2.0",
                "lines": [{"lineNumber": 2, "qty": "5"}],
            },
        ],
        **overrides,
    }
    return client.post(
        "/api/v1/automation/pack-confirmations", body, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def _ship(client, order, key="ship-1", door="D-OUT-1"):
    body = {"orderIds": [str(order.pk)], "dockDoor": door, "carrier": "DHL", "trackingRef": "T1"}
    return client.post(
        "/api/v1/automation/shipment-confirmations",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_pack_ship_and_read_back(picked_order, carton, packer_line, store, warehouse):
    DockDoorFactory(warehouse=warehouse, code="D-OUT-1", direction="OUTBOUND")
    response = _pack(packer_line, picked_order)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["orderStatus"] == OrderStatus.PACKED
    assert len(body["packages"]) == 2
    assert all(sscc_is_valid(p["sscc"]) for p in body["packages"])
    # The same key again: the stored answer, nothing packed twice.
    again = _pack(packer_line, picked_order)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert order_of(picked_order).lines.get(line_number=1).qty_packed == D("10")

    response = _ship(packer_line, picked_order)
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "SHIPPED"
    # Another key for the same shipment: the same shipment, no second posting.
    again = _ship(packer_line, picked_order, key="ship-2")
    assert again.status_code == 201
    assert again.json()["shipmentId"] == response.json()["shipmentId"]
    assert Shipment.objects.count() == 1 and FinanceEvent.objects.count() == 1
    assert OutboxEvent.objects.filter(event_type="shipment.confirmed").count() == 1

    listed = store.get("/api/v1/shipments").json()
    assert [s["shipmentNumber"] for s in listed["results"]] == [response.json()["shipmentNumber"]]
    shipment = listed["results"][0]
    assert shipment["storeCode"] == "S042"
    assert shipment["orders"][0]["externalOrderId"] == picked_order.external_order_id
    contents = sorted(
        (line["sku"], line["qty"]) for p in shipment["packages"] for line in p["lines"]
    )
    assert contents == [("SKU-A", "10"), ("SKU-B", "5")]
    event = OutboxEvent.objects.get(event_type="shipment.confirmed")
    assert event.data["packages"] == shipment["packages"]


def test_pack_and_ship_refusals(picked_order, carton, packer_line, store, warehouse, system_client):
    DockDoorFactory(warehouse=warehouse, code="D-OUT-1", direction="OUTBOUND")
    over = _pack(
        packer_line,
        picked_order,
        key="over",
        packages=[
            {"packageType": "CARTON-M", "weightKg": "1", "lines": [{"lineNumber": 1, "qty": "11"}]}
        ],
    )
    assert over.status_code == 422 and over.json()["code"] == "over_pack"
    assert order_of(picked_order).lines.get(line_number=1).qty_packed == 0
    not_packed = _ship(packer_line, picked_order, key="early")
    assert not_packed.status_code == 409 and not_packed.json()["code"] == "order_not_packed"
    assert _pack(packer_line, picked_order, key="ok").status_code == 201
    nothing_left = _pack(packer_line, picked_order, key="twice")
    assert nothing_left.status_code == 409
    assert nothing_left.json()["code"] == "order_not_packable"
    unknown_door = _ship(packer_line, picked_order, key="door", door="D-NOPE")
    assert unknown_door.status_code == 422 and unknown_door.json()["code"] == "unknown_dock_door"
    other_store = store.get("/api/v1/shipments?storeCode=S999")
    assert other_store.status_code == 403
    stranger = system_client("automation", "FAR1", [])
    assert _ship(stranger, picked_order, key="far").status_code == 404
    assert (
        store.post(
            "/api/v1/automation/shipment-confirmations", {}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        ).status_code
        == 403
    )


@pytest.fixture
def picked_order_of_four_lines(release_order, picker, layout):
    """Four lines (SKU-A twice, SKU-B, SKU-R), all picked in full into staging."""
    layout.warehouse.gs1_company_prefix = "8412345"
    layout.warehouse.save()
    order, tasks = release_order([("SKU-A", 4), ("SKU-B", 5), ("SKU-R", 3), ("SKU-A", 2)])
    for n in range(len(tasks)):
        task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
        pick_task_start(task_id=task.pk, picker=picker)
        pick_confirm(
            task_id=task.pk, qty=str(task.qty_to_pick), request_key=f"pick4-{n}", actor=picker
        )
    return order_of(order)


#: Statements of one request (the test client's savepoints included) for the four-line
#: order below, packed in two packages: were 50 (pack, one package) and 41 (ship) before
#: the batched services, one query or more a line (the N+1 this test keeps out).
#: Packing sends one INSERT a package, in the one round trip of its writes, and nothing
#: a line; shipping posts each line through the posting service (its ``stock_issue``,
#: one statement a line).
PACK_STATEMENTS = 25 + 2
SHIP_STATEMENTS = 24 + 4


def test_pack_and_ship_confirmations_do_not_query_per_line(
    picked_order_of_four_lines, carton, packer_line, warehouse, django_assert_max_num_queries
):
    """A pack confirmation of a four-line order in two packages takes at most 27 statements
    and its shipment 28 (4 of them the postings), and both still do all their work."""
    order = picked_order_of_four_lines
    DockDoorFactory(warehouse=warehouse, code="D-OUT-1", direction="OUTBOUND")
    lines = [{"lineNumber": n, "qty": q} for n, q in ((1, "4"), (2, "5"), (3, "3"), (4, "2"))]
    body = {
        "orderId": str(order.pk),
        "packages": [
            {"packageType": "CARTON-M", "weightKg": "3.1", "lines": lines[:3]},
            {"packageType": "CARTON-M", "weightKg": "1.2", "lines": lines[3:]},
        ],
    }
    with django_assert_max_num_queries(PACK_STATEMENTS):
        response = packer_line.post(
            "/api/v1/automation/pack-confirmations", body, format="json",
            HTTP_IDEMPOTENCY_KEY="p4",
        )  # fmt: skip
    assert response.status_code == 201, response.json()
    assert response.json()["orderStatus"] == OrderStatus.PACKED
    assert OutboxEvent.objects.get(event_type="order.packed").data["packages"] == [
        p["sscc"] for p in response.json()["packages"]
    ]
    with django_assert_max_num_queries(SHIP_STATEMENTS):
        response = _ship(packer_line, order, key="s4")
    assert response.status_code == 201, response.json()
    shipped = order_of(order)
    assert shipped.status == OrderStatus.SHIPPED
    assert [
        (line.qty_packed, line.qty_shipped) for line in shipped.lines.order_by("line_number")
    ] == [(D(q), D(q)) for q in ("4", "5", "3", "2")]
    event = FinanceEvent.objects.get()
    assert sorted((line["sku"], line["qty"]) for line in event.lines) == [
        ("SKU-A", "2"), ("SKU-A", "4"), ("SKU-B", "5"), ("SKU-R", "3"),
    ]  # fmt: skip
    confirmed = OutboxEvent.objects.get(event_type="shipment.confirmed").data
    assert [len(p["lines"]) for p in confirmed["packages"]] == [3, 1]
