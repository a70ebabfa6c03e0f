"""Count accuracy report (issue 17) against hand-computed figures: per closed count the
lines counted, lines off, accuracy and variance (quantity, value at unit cost); zone and
SKU filters, warehouse scoping, values hidden from floor roles, files, bad input."""

import csv
import io
from decimal import Decimal as D

import pytest

from counting.models import CountType
from counting.services import count_close, count_open, count_result_record
from tests.factories import ItemFactory, LocationFactory, UserFactory, ZoneFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/reports/count-accuracy"


def _spot(warehouse, locations, results, controller, counter, key):
    """Open a spot count of ``locations``, record ``results`` (location, sku, qty), close it."""
    count = count_open(warehouse=warehouse, type=CountType.SPOT, locations=locations,
                       actor=controller)  # fmt: skip
    count_result_record(
        count=count,
        lines=[{"location": loc, "sku": sku, "qty_counted": qty} for loc, sku, qty in results],
        actor=counter,
        request_key=key,
    )
    return count_close(count=count, actor=controller).count


@pytest.fixture
def counted(warehouse, stocked, receive, controller, counter_one):
    """Two closed counts in MAD1 (unit cost 2.0000 everywhere):

    C1, zone A (A-01, A-02): SKU-1 10 → 8 (-2), SKU-1 20 → 20, SKU-2 5 → 6 (+1):
    3 lines, 2 off, 33.33 %, |var| 3, net -1, values 6 / -2.
    C2, zone B (B-01): SKU-3 4 → 4: 1 line, 0 off, 100 %.
    """
    _bins, items = stocked
    zone_b = ZoneFactory(warehouse=warehouse, code="B")
    b01 = LocationFactory(warehouse=warehouse, zone=zone_b, code="B-01")
    receive(items[2], b01, 4)
    first = _spot(warehouse, ["A-01", "A-02"],
                  [("A-01", "SKU-1", "8"), ("A-02", "SKU-1", "20"), ("A-02", "SKU-2", "6")],
                  controller, counter_one, "c1")  # fmt: skip
    second = _spot(warehouse, ["B-01"], [("B-01", "SKU-3", "4")], controller, counter_one, "c2")
    return first, second


@pytest.fixture
def boss(api_client):
    api_client.force_authenticate(UserFactory(username="boss", is_superuser=True))
    return api_client


def _rows(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _figures(row):
    keys = ["countNumber", "type", "zone", "status", "linesCounted", "linesWithVariance",
            "accuracyPct", "absVarianceQty", "netVarianceQty", "absVarianceValue",
            "netVarianceValue"]  # fmt: skip
    return [row[k] for k in keys]


def test_count_accuracy_report_per_count_hand_computed(counted, boss):
    """One row per closed count, oldest first, with the figures computed by hand."""
    first, second = counted
    rows = _rows(boss)
    assert [_figures(r) for r in rows] == [
        [first.count_number, "SPOT", "", "RECONCILED", 3, 2, "33.33", "3.000", "-1.000",
         "6.0000", "-2.0000"],
        [second.count_number, "SPOT", "", "RECONCILED", 1, 0, "100.00", "0.000", "0.000",
         "0.0000", "0.0000"],
    ]  # fmt: skip
    assert rows[0]["warehouse"] == "MAD1" and rows[0]["closedAt"]


def test_count_accuracy_report_zone_and_sku_narrow_the_lines(counted, boss):
    """zone=B keeps only the B count; sku=SKU-2 keeps its one line of the first count."""
    first, second = counted
    assert [r["countNumber"] for r in _rows(boss, zone="B")] == [second.count_number]
    [row] = _rows(boss, sku="SKU-2")
    assert _figures(row)[4:] == [1, 1, "0.00", "1.000", "1.000", "2.0000", "2.0000"]
    assert [r["countNumber"] for r in _rows(boss, zone="A")] == [first.count_number]


def test_count_accuracy_report_period_and_pages(counted, boss):
    """A period before the counts is empty; limit=1 pages through both by the cursor."""
    assert _rows(boss, to="2020-01-01T00:00:00Z") == []
    page = boss.get(URL, {"limit": 1}).json()
    assert len(page["results"]) == 1 and page["next"]
    second = boss.get(page["next"]).json()
    assert [r["countNumber"] for r in page["results"] + second["results"]] == [
        c.count_number for c in counted
    ]
    assert second["next"] is None


def test_count_accuracy_report_other_warehouse_invisible(
    counted, other_warehouse, available, api_client, counter_one
):
    """A supervisor of MAD1 sees none of BCN1's counts and may not ask for BCN1 (400)."""
    item = ItemFactory(warehouse=other_warehouse, sku="SKU-X", unit_cost=D("5"))
    location = LocationFactory(warehouse=other_warehouse, code="X-01")
    from inventory import services as inventory_services

    inventory_services.stock_receive(item=item, location=location, status=available, qty=D("3"),
                                     posting_key="bcn", source_ref="t")  # fmt: skip
    boss = UserFactory(username="bcn-boss", is_superuser=True)
    _spot(other_warehouse, ["X-01"], [("X-01", "SKU-X", "1")], boss, counter_one, "bcn")
    supervisor = UserFactory(username="sup", warehouses=[counted[0].warehouse])
    from django.contrib.auth.models import Group

    from wms.roles import SUPERVISOR

    supervisor.groups.add(Group.objects.get(name=SUPERVISOR))
    api_client.force_authenticate(supervisor)
    assert {r["warehouse"] for r in _rows(api_client)} == {"MAD1"}
    response = api_client.get(URL, {"warehouse": "BCN1"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "unknown_warehouse"


def test_count_accuracy_report_values_hidden_from_counters(counted, warehouse, api_client):
    """A counter (floor role) reads the accuracy, never the values nor the currency."""
    from django.contrib.auth.models import Group

    from wms.roles import COUNTER

    floor = UserFactory(username="floor", warehouses=[warehouse])
    floor.groups.add(Group.objects.get_or_create(name=COUNTER)[0])
    api_client.force_authenticate(floor)
    rows = _rows(api_client)
    assert [r["accuracyPct"] for r in rows] == ["33.33", "100.00"]
    assert {(r["absVarianceValue"], r["netVarianceValue"], r["currency"]) for r in rows} == {
        (None, None, None)
    }


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"zone": "ZZ"}, "zone", "unknown_zone"),
        ({"sku": "NOPE"}, "sku", "unknown_sku"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from", "invalid"),
        ({"cursor": "forged"}, "cursor", "invalid_cursor"),
    ],
)
def test_count_accuracy_report_bad_filters_are_400(counted, boss, params, field, code):
    """Unknown zone or SKU, an inverted period, a forged cursor: 400 problem details."""
    response = boss.get(URL, params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"][0] == {**response.json()["errors"][0], "field": field,
                                            "code": code}  # fmt: skip


def test_count_accuracy_report_csv_xlsx_and_page(counted, boss, client):
    """The CSV has the header and both counts; XLSX streams; the supervisor page lists them."""
    response = boss.get(URL, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines[0][:3] == ["countNumber", "type", "warehouse"]
    assert [line[0] for line in lines[1:]] == [c.count_number for c in counted]
    assert lines[1][8] == "33.33" and lines[1][11] == "6.0000"
    xlsx = boss.get(URL, {"format": "xlsx"})
    assert xlsx.status_code == 200
    assert b"".join(xlsx.streaming_content)[:2] == b"PK"
    client.force_login(UserFactory(username="page-boss", is_superuser=True))
    page = client.get("/reports/count-accuracy/")
    assert page.status_code == 200
    assert counted[0].count_number in page.content.decode()


def test_dashboard_shows_open_counts_lines_counted_of_total(
    counted, warehouse, controller, counter_one, client
):
    """An open count with 1 of its 2 lines counted shows 1 / 2 (50 %); closed counts do not."""
    count = count_open(warehouse=warehouse, type=CountType.SPOT, locations=["A-02"],
                       actor=controller)  # fmt: skip
    one = [{"location": "A-02", "sku": "SKU-1", "qty_counted": "20"}]
    count_result_record(count=count, lines=one, actor=counter_one, request_key="open-1")
    client.force_login(UserFactory(username="wall", is_superuser=True))
    data = client.get("/dashboard/data.json").json()
    assert data["counts"] == [
        {"count": count.count_number, "type": "SPOT", "warehouse": "MAD1", "counted": 1,
         "total": 2, "percent": 50}
    ]  # fmt: skip
    page = client.get("/dashboard/").content.decode()
    assert count.count_number in page and "1 / 2" in page
