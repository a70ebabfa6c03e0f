"""Stock on hand report (issue 17): hand-computed figures on a fixed data set, as of a
past date from the ledger, scoping, values for finance only, bad input, files."""

import csv
import io
import time
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.utils import timezone
from guardian.shortcuts import assign_perm

from inventory.services.stock import stock_adjust, stock_move, stock_receive
from tests.factories import (
    InventoryStatusFactory,
    ItemFactory,
    LocationFactory,
    UserFactory,
    WarehouseFactory,
    ZoneFactory,
)
from wms.reporting import XLSX_MEDIA_TYPE

URL = "/api/v1/reports/stock-on-hand"


def _user(role_perms, warehouses):
    user = UserFactory(warehouses=warehouses)
    for perm in role_perms:
        assign_perm(perm, user)
    return user


@pytest.fixture
def stock(db):
    """MAD1: SKU-A (cost 2.50) 10 in A-01 (zone PICK), SKU-B (cost 0.75) 4 in B-01 (zone
    BULK) AVAILABLE and 1 DAMAGED; BCN1: SKU-A 7. ``times`` holds the moments between
    postings (each posting commits on its own in transaction=True tests)."""
    mad = WarehouseFactory(code="MAD1", currency="EUR")
    bcn = WarehouseFactory(code="BCN1", currency="EUR")
    available = InventoryStatusFactory(code="AVAILABLE")
    damaged = InventoryStatusFactory(code="DAMAGED", description="Damaged", allocatable=False)
    pick, bulk = ZoneFactory(warehouse=mad, code="PICK"), ZoneFactory(warehouse=mad, code="BULK")
    a01 = LocationFactory(warehouse=mad, zone=pick, code="A-01")
    b01 = LocationFactory(warehouse=mad, zone=bulk, code="B-01")
    c01 = LocationFactory(warehouse=bcn, code="C-01")
    sku_a = ItemFactory(warehouse=mad, sku="SKU-A", unit_cost=Decimal("2.50"))
    sku_b = ItemFactory(warehouse=mad, sku="SKU-B", unit_cost=Decimal("0.75"))
    bcn_a = ItemFactory(warehouse=bcn, sku="SKU-A", unit_cost=Decimal("3.00"))
    times = {}
    stock_receive(
        item=sku_a, location=a01, status=available, qty=12, posting_key="r1", source_ref="R1"
    )
    stock_receive(
        item=sku_b, location=b01, status=available, qty=4, posting_key="r2", source_ref="R2"
    )
    stock_receive(
        item=bcn_a, location=c01, status=available, qty=7, posting_key="r3", source_ref="R3"
    )
    time.sleep(0.01)
    times["after_receipts"] = timezone.now()
    time.sleep(0.01)
    stock_move(item=sku_a, from_location=a01, to_location=b01, status=available, qty=2,
               posting_key="m1", source_ref="M1")  # fmt: skip
    stock_adjust(item=sku_b, location=b01, status=damaged, qty_delta=1, reason_code="FOUND",
                 posting_key="a1", source_ref="A1")  # fmt: skip
    time.sleep(0.01)
    times["now"] = timezone.now()
    return {"mad": mad, "bcn": bcn, "times": times, "sku_a": sku_a, "a01": a01}


def _rows(response):
    assert response.status_code == 200, response.content
    return [
        (r["warehouse"], r["location"], r["sku"], r["status"], r["onHand"], r["value"])
        for r in response.json()["results"]
    ]


@pytest.mark.django_db(transaction=True)
def test_stock_on_hand_hand_computed_figures(stock, api_client):
    """Now: one row per location, SKU and status with stock; value = on hand x unit cost."""
    api_client.force_authenticate(_user(["inventory.view_financeevent"], [stock["mad"]]))
    rows = _rows(api_client.get(URL, {"warehouse": "MAD1"}))
    assert sorted(rows) == [
        ("MAD1", "A-01", "SKU-A", "AVAILABLE", "10.000", "25.0000"),
        ("MAD1", "B-01", "SKU-A", "AVAILABLE", "2.000", "5.0000"),
        ("MAD1", "B-01", "SKU-B", "AVAILABLE", "4.000", "3.0000"),
        ("MAD1", "B-01", "SKU-B", "DAMAGED", "1.000", "0.7500"),
    ]
    assert sum(Decimal(r[5]) for r in rows) == Decimal("33.75")


@pytest.mark.django_db(transaction=True)
def test_stock_on_hand_as_of_equals_ledger_sum(stock, api_client):
    """asOf a past moment gives the ledger's sum up to it for every balance."""
    api_client.force_authenticate(_user(["inventory.view_financeevent"], [stock["mad"]]))
    as_of = stock["times"]["after_receipts"]
    rows = _rows(api_client.get(URL, {"warehouse": "MAD1", "asOf": as_of.isoformat()}))
    assert sorted(rows) == [
        ("MAD1", "A-01", "SKU-A", "AVAILABLE", "12.000", "30.0000"),
        ("MAD1", "B-01", "SKU-B", "AVAILABLE", "4.000", "3.0000"),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.code, i.sku, s.code, sum(e.on_hand_delta) "
            "FROM inventory_inventoryledgerentry e "
            "JOIN inventory_location l ON l.id = e.location_id "
            "JOIN inventory_item i ON i.id = e.item_id "
            "JOIN inventory_inventorystatus s ON s.id = e.status_id "
            "WHERE e.warehouse_id = %s AND e.occurred_at <= %s "
            "GROUP BY 1, 2, 3 HAVING sum(e.on_hand_delta) <> 0",
            [stock["mad"].pk, as_of],
        )
        ledger = sorted((loc, sku, st, f"{qty:.3f}") for loc, sku, st, qty in cursor.fetchall())
    assert ledger == sorted((r[1], r[2], r[3], r[4]) for r in rows)
    # The download reads the later ledger grouped once, the page per balance: same rows.
    response = api_client.get(URL, {"asOf": as_of.isoformat()}, HTTP_ACCEPT="text/csv")
    reader = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert sorted((r["location"], r["sku"], r["status"], r["onHand"]) for r in reader) == ledger


@pytest.mark.django_db(transaction=True)
def test_stock_on_hand_filters_and_pages(stock, api_client):
    """zone, sku and status filter; limit pages with a next cursor until the end."""
    api_client.force_authenticate(_user(["inventory.view_inventorybalance"], [stock["mad"]]))
    assert [r[1] for r in _rows(api_client.get(URL, {"zone": "PICK"}))] == ["A-01"]
    assert len(_rows(api_client.get(URL, {"sku": "SKU-B"}))) == 2
    assert [r[2] for r in _rows(api_client.get(URL, {"status": "DAMAGED"}))] == ["SKU-B"]
    seen, url, params = [], URL, {"limit": 3}
    while url:
        page = api_client.get(url, params).json()
        seen += page["results"]
        url, params = page["next"], None
    assert len(seen) == 4 and len({(r["location"], r["sku"], r["status"]) for r in seen}) == 4


@pytest.mark.django_db(transaction=True)
def test_stock_on_hand_scoped_and_values_hidden_from_floor(stock, api_client):
    """A floor user sees only granted warehouses and no values; another warehouse is 400."""
    api_client.force_authenticate(_user(["inventory.view_inventorybalance"], [stock["mad"]]))
    body = api_client.get(URL).json()
    assert {r["warehouse"] for r in body["results"]} == {"MAD1"}
    assert all(r["value"] is None and r["unitCost"] is None for r in body["results"])
    response = api_client.get(URL, {"warehouse": "BCN1"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "unknown_warehouse"
    csv_text = b"".join(api_client.get(URL, HTTP_ACCEPT="text/csv").streaming_content).decode()
    assert all(row["value"] == "" for row in csv.DictReader(io.StringIO(csv_text)))


@pytest.mark.django_db(transaction=True)
def test_stock_on_hand_finance_client_reads_values(stock, system_client):
    """A finance system reads values in its granted warehouses; a store system may not read."""
    finance = system_client("finance", "FIN", [stock["bcn"]])
    rows = finance.get(URL).json()["results"]
    assert [(r["warehouse"], r["onHand"], r["value"], r["currency"]) for r in rows] == [
        ("BCN1", "7.000", "21.0000", "EUR")
    ]
    assert system_client("store", "S1", [stock["bcn"]]).get(URL).status_code == 403


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"asOf": "2999-01-01T00:00:00Z"}, "asOf"),
        ({"warehouse": "NOPE"}, "warehouse"),
        ({"zone": "NOPE"}, "zone"),
        ({"sku": "NOPE"}, "sku"),
        ({"status": "NOPE"}, "status"),
        ({"asOf": "yesterday"}, "asOf"),
        ({"cursor": "forged"}, "cursor"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_stock_on_hand_bad_input_is_400(params, field, warehouse, api_client):
    """Every bad filter is a 400 problem naming the field, never a 500 or an empty report."""
    InventoryStatusFactory(code="AVAILABLE")
    api_client.force_authenticate(UserFactory(is_superuser=True))
    response = api_client.get(URL, params)
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.django_db(transaction=True)
def test_stock_on_hand_csv_and_xlsx_have_the_json_rows(stock, api_client):
    """The CSV and the XLSX downloads hold the same rows as the JSON pages."""
    api_client.force_authenticate(_user(["inventory.view_financeevent"], [stock["mad"]]))
    expected = sorted(_rows(api_client.get(URL)))
    response = api_client.get(URL, HTTP_ACCEPT="text/csv")
    assert response["Content-Type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert (
        sorted(
            (r["warehouse"], r["location"], r["sku"], r["status"], r["onHand"], r["value"])
            for r in reader
        )
        == expected
    )
    response = api_client.get(URL, HTTP_ACCEPT=XLSX_MEDIA_TYPE)
    assert response["Content-Type"] == XLSX_MEDIA_TYPE
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, *cells = list(sheet.iter_rows(values_only=True))
    assert header[:5] == ("Warehouse", "Location", "SKU", "Status", "On hand")
    assert (
        sorted(
            (r[0], r[1], r[2], r[3], f"{Decimal(str(r[4])):.3f}", f"{Decimal(str(r[6])):.4f}")
            for r in cells
        )
        == expected
    )
