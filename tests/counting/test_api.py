"""The count API against the contract: open, results (idempotent), close, read, refusals."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from counting.models import CountLine, CountStatus, CountSubmission, InventoryCount

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user():
    def client_for(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for


def _open(client, **body):
    payload = {"warehouse": "MAD1", "type": "CYCLE", "blind": True, **body}
    return client.post("/api/v1/counts", payload, format="json")


def _results(client, count_id, lines, key="k-1"):
    return client.post(
        f"/api/v1/counts/{count_id}/results",
        {"lines": lines},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_counts_create_blind_hides_qty_expected(stocked, controller, as_user):
    """A blind count lists its lines without the expected quantity."""
    response = _open(as_user(controller), locations=["A-01", "A-02", "A-03"])
    assert response.status_code == 201, response.data
    body = response.json()
    assert body["status"] == "OPEN" and body["countNumber"].startswith("CNT-MAD1-")
    assert {(line["location"], line["sku"]) for line in body["lines"]} == {
        ("A-01", "SKU-1"),
        ("A-02", "SKU-1"),
        ("A-02", "SKU-2"),
        ("A-03", None),
    }
    assert all("qtyExpected" not in line for line in body["lines"])
    detail = as_user(controller).get(f"/api/v1/counts/{body['id']}").json()
    assert all("qtyExpected" not in line for line in detail["lines"])


def test_counts_create_open_shows_qty_expected(stocked, controller, as_user):
    """A count that is not blind shows what the books expect."""
    body = _open(as_user(controller), blind=False, skus=["SKU-1"]).json()
    assert sorted((line["location"], line["qtyExpected"]) for line in body["lines"]) == [
        ("A-01", "10.000"),
        ("A-02", "20.000"),
    ]


def test_counts_results_and_close_adjust_the_variance(stocked, controller, counter_one, as_user):
    """Results are recorded (200), replayed by their key, and close adjusts the variance."""
    count_id = _open(as_user(controller), locations=["A-01"]).json()["id"]
    lines = [{"location": "A-01", "sku": "SKU-1", "qtyCounted": "7"}]
    first = _results(as_user(counter_one), count_id, lines)
    assert first.status_code == 200, first.data
    again = _results(as_user(counter_one), count_id, lines)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert CountSubmission.objects.filter(count_id=count_id).count() == 1
    closed = as_user(controller).post(f"/api/v1/counts/{count_id}/close")
    assert closed.status_code == 200, closed.data
    body = closed.json()
    assert body["status"] == "RECONCILED"
    assert [(a["sku"], a["qtyDelta"], a["status"]) for a in body["adjustments"]] == [
        ("SKU-1", "-3.000", "APPLIED")
    ]


def test_counts_results_location_outside_count_is_422(stocked, controller, counter_one, as_user):
    """A location the count does not cover is refused, and nothing is recorded."""
    count_id = _open(as_user(controller), locations=["A-01"]).json()["id"]
    response = _results(
        as_user(counter_one),
        count_id,
        [
            {"location": "A-01", "sku": "SKU-1", "qtyCounted": "10"},
            {"location": "A-02", "sku": "SKU-1", "qtyCounted": "1"},
        ],
    )
    assert response.status_code == 422
    assert response.json()["code"] == "location_not_in_count"
    assert not CountLine.objects.filter(count_id=count_id, qty_counted__isnull=False).exists()
    assert InventoryCount.objects.get(pk=count_id).status == CountStatus.OPEN


def test_counts_results_negative_qty_is_422(stocked, controller, counter_one, as_user):
    """A negative counted quantity is refused with a stable code."""
    count_id = _open(as_user(controller), locations=["A-01"]).json()["id"]
    response = _results(
        as_user(counter_one), count_id, [{"location": "A-01", "sku": "SKU-1", "qtyCounted": "-1"}]
    )
    assert response.status_code == 422
    assert response.json()["code"] == "negative_quantity"
    assert response["Content-Type"] == "application/problem+json"


def test_counts_results_for_closed_count_is_409(stocked, controller, counter_one, as_user):
    """Results for a closed count are refused with 409 count_closed."""
    count_id = _open(as_user(controller), locations=["A-01"]).json()["id"]
    as_user(controller).post(f"/api/v1/counts/{count_id}/close")
    response = _results(
        as_user(counter_one), count_id, [{"location": "A-01", "sku": "SKU-1", "qtyCounted": "1"}]
    )
    assert response.status_code == 409
    assert response.json()["code"] == "count_closed"


def test_counts_automation_system_counts(stocked, controller, system_client, warehouse, as_user):
    """An automation system (RFID) records results in its warehouse."""
    count_id = _open(as_user(controller), locations=["A-02"]).json()["id"]
    rfid = system_client("automation", "RFID1", [warehouse])
    response = _results(rfid, count_id, [{"location": "A-02", "sku": "SKU-2", "qtyCounted": "5"}])
    assert response.status_code == 200, response.data
    line = CountLine.objects.get(count_id=count_id, item__sku="SKU-2")
    assert line.qty_counted == Decimal("5") and line.counted_by_label == "system:RFID1"


def test_counts_store_system_is_403(stocked, controller, system_client, warehouse, as_user):
    """A store's token may not count."""
    count_id = _open(as_user(controller), locations=["A-02"]).json()["id"]
    store = system_client("store", "S1", [warehouse])
    response = _results(store, count_id, [{"location": "A-02", "sku": "SKU-2", "qtyCounted": "5"}])
    assert response.status_code == 403


def test_counts_create_other_warehouse_is_403(stocked, other_warehouse, controller, as_user):
    """A controller cannot open a count in a warehouse they were not granted."""
    response = _open(as_user(controller), warehouse="BCN1", type="FULL")
    assert response.status_code == 403


def test_counts_results_empty_and_recount_by_same_counter(
    stocked, warehouse, controller, counter_one, counter_two, as_user
):
    """ "empty" counts a location 0; above tolerance the first counter's recount is 403,
    another counter's is recorded."""
    from counting.models import CountSettings

    CountSettings.objects.create(warehouse=warehouse, recount_tolerance_qty=Decimal("0"))
    count_id = _open(as_user(controller), locations=["A-01", "A-03"]).json()["id"]
    empty = _results(as_user(counter_one), count_id, [{"location": "A-03", "empty": True}], "e")
    assert empty.status_code == 200, empty.data
    lines = [{"location": "A-01", "sku": "SKU-1", "qtyCounted": "9"}]
    first = _results(as_user(counter_one), count_id, lines, "c1")
    assert first.json()["lines"][0]["state"] == "RECOUNT_REQUIRED"
    same = _results(as_user(counter_one), count_id, lines, "c1-again")
    assert same.status_code == 403 and same.json()["code"] == "recount_same_counter"
    other = _results(as_user(counter_two), count_id, lines, "c2")
    assert other.status_code == 200 and other.json()["lines"][0]["state"] == "COUNTED"


def test_counts_list_shows_the_callers_warehouses(stocked, controller, system_client, as_user):
    """Counts are listed newest first, filtered by status, only of granted warehouses."""
    first = _open(as_user(controller), locations=["A-01"]).json()["id"]
    second = _open(as_user(controller), locations=["A-02"]).json()["id"]
    as_user(controller).post(f"/api/v1/counts/{first}/close")
    body = as_user(controller).get("/api/v1/counts?warehouse=MAD1").json()
    assert [row["id"] for row in body["results"]] == [second, first]
    open_only = as_user(controller).get("/api/v1/counts?status=OPEN").json()
    assert [row["id"] for row in open_only["results"]] == [second]
    outsider = system_client("automation", "RFID9", [])
    assert outsider.get("/api/v1/counts").json()["results"] == []
