"""Report files made by PostgreSQL (issue 17, downloads): the stock-on-hand CSV (COPY) and
XLSX (sheet rows written in SQL) read back as the JSON rows, and the XLSX has the cells
the Python writer gives, also for codes that need quoting or escaping and for hidden
values."""

import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from guardian.shortcuts import assign_perm

from inventory.reports import stock_on_hand
from inventory.services.stock import stock_receive
from tests.factories import InventoryStatusFactory, ItemFactory, LocationFactory, UserFactory
from wms import reporting
from wms.reporting import XLSX_MEDIA_TYPE, _binary_copy_values

URL = "/api/v1/reports/stock-on-hand"
#: Codes that take every branch: CSV quoting (comma, quote, CR, LF), XML escaping,
#: a control character XML does not allow (dropped), a backslash and a tab.
AWKWARD_SKUS = ["PLAIN", "A,B", 'SAY "HI"', "TWO\nLINES", "CR\rX", "R&D <1>", "BEL\x07L", "B\\S\tT"]


@pytest.fixture
def awkward_stock(warehouse):
    """Each awkward SKU in two locations (one with an awkward code too), plus a location
    holding several SKUs (rows joined per location on the server)."""
    available = InventoryStatusFactory(code="AVAILABLE")
    damaged = InventoryStatusFactory(code="DAMAGED", description="Damaged", allocatable=False)
    plain = LocationFactory(warehouse=warehouse, code="L-01")
    odd = LocationFactory(warehouse=warehouse, code='L,"02"')
    for n, sku in enumerate(AWKWARD_SKUS):
        item = ItemFactory(warehouse=warehouse, sku=sku, unit_cost=Decimal("1.2345"))
        for location, status in ((plain, available), (odd, damaged)):
            stock_receive(item=item, location=location, status=status, qty=n + 1,
                          posting_key=f"{sku}-{location.code}", source_ref="R")  # fmt: skip


@pytest.mark.parametrize("hide", [False, True])
def test_stock_on_hand_csv_reads_back_as_the_json_rows(awkward_stock, warehouse, api_client, hide):
    """The CSV download, parsed, has the JSON pages' rows in their order, awkward codes
    (commas, quotes, line breaks) intact and values empty for whoever may not see them."""
    user = UserFactory(warehouses=[warehouse])
    assign_perm("inventory.view_inventorybalance", user)
    if not hide:
        assign_perm("inventory.view_financeevent", user)
    api_client.force_authenticate(user)
    pages = api_client.get(URL, {"limit": 1000}).json()["results"]
    response = api_client.get(URL, HTTP_ACCEPT="text/csv")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [{k: v or None for k, v in row.items()} for row in rows] == pages
    assert len(rows) == 2 * len(AWKWARD_SKUS) and '"SAY ""HI"""' in text


def _sheet_rows(body: bytes) -> list[tuple]:
    workbook = openpyxl.load_workbook(io.BytesIO(body))
    return list(workbook.active.iter_rows(values_only=True))


@pytest.mark.parametrize("hide", [False, True])
def test_stock_on_hand_xlsx_from_sql_has_the_python_writers_cells(awkward_stock, warehouse, hide):
    """The workbook whose rows PostgreSQL wrote reads back (openpyxl) exactly like the one
    written here from the same rows: text escaped, numbers typed, hidden values empty."""
    source = stock_on_hand(warehouse_ids=[warehouse.pk])
    args = {"hide_sensitive": hide, "sheet_title": "Stock on hand"}
    from_sql = b"".join(reporting.source_xlsx_stream(source.columns, source, **args))
    from_python = b"".join(
        reporting.xlsx_stream(source.columns, source.stream(), key_len=source.key_len, **args)
    )
    rows = _sheet_rows(from_sql)
    assert rows == _sheet_rows(from_python)
    assert len(rows) == 1 + 2 * len(AWKWARD_SKUS)
    skus = {row[2] for row in rows[1:]}
    assert {"R&D <1>", "BELL", "B\\S\tT", 'SAY "HI"', "TWO\nLINES"} <= skus
    values = [row[6] for row in rows[1:]]
    assert all(v is None for v in values) if hide else all(isinstance(v, float) for v in values)


def test_stock_on_hand_xlsx_download_rows_numbered_in_order(awkward_stock, warehouse, api_client):
    """The download (rows from SQL) numbers its rows 1.. in the report's order, as JSON."""
    user = UserFactory(warehouses=[warehouse])
    assign_perm("inventory.view_financeevent", user)
    api_client.force_authenticate(user)
    pages = api_client.get(URL, {"limit": 1000}).json()["results"]
    response = api_client.get(URL, HTTP_ACCEPT=XLSX_MEDIA_TYPE)
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    numbers = [row[0].row for row in sheet.iter_rows()]
    assert numbers == list(range(1, len(pages) + 2))
    # XML drops the control character and reads a CR as LF (the Python writer's too).
    assert [(r[1].value, r[2].value) for r in sheet.iter_rows(min_row=2)] == [
        (r["location"], r["sku"].replace("\x07", "").replace("\r", "\n")) for r in pages
    ]


def test_binary_copy_values_whatever_the_message_boundaries(db):
    """The binary COPY parser gives the same values when the stream comes a byte at a
    time as when it comes a message at a time (NULLs skipped, the trailer ignored)."""
    statement = (
        "COPY (SELECT v FROM unnest(ARRAY['a', NULL, '', repeat('xyz', 5000), 'é\n\\'])"
        " WITH ORDINALITY u(v, n) ORDER BY n) TO STDOUT (FORMAT binary)"
    )
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        messages = [bytes(block) for block in copy]
    stream = b"".join(messages)
    expected = [b"a", b"", b"xyz" * 5000, "é\n\\".encode()]
    assert list(_binary_copy_values(messages)) == expected
    assert list(_binary_copy_values([stream[i : i + 1] for i in range(len(stream))])) == expected
    with pytest.raises(ValueError):
        list(_binary_copy_values([b"not a binary copy stream"]))
