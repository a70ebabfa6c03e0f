"""The packing and shipping API of CONTRACT.md: a packing line confirms whole packages,
a dock system confirms the shipment, the store reads it back; retries replay."""

from decimal import Decimal

import pytest

from inventory.models import FinanceEvent
from outbound.models import OrderStatus, Shipment
from outbound.sscc import sscc_is_valid
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
