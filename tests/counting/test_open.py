"""Opening counts: scopes (locations, zone, SKUs, ABC class, not counted for N days)."""

import pytest

from counting.models import CountType
from counting.services import count_close, count_open, count_result_record
from wms.exceptions import BusinessValidationError

pytestmark = pytest.mark.django_db


def _lines(count):
    return sorted(
        (line.location.code, line.item.sku if line.item else None)
        for line in count.lines.select_related("location", "item")
    )


def test_count_open_full_covers_every_location(warehouse, stocked, staging, controller):
    """A full count has a line per balance and one per empty location, staging included."""
    count = count_open(warehouse=warehouse, type=CountType.FULL, actor=controller)
    assert _lines(count) == [
        ("A-01", "SKU-1"),
        ("A-02", "SKU-1"),
        ("A-02", "SKU-2"),
        ("A-03", None),
        ("A-04", None),
        ("STG-01", None),
    ]
    line = count.lines.get(location__code="A-02", item__sku="SKU-1")
    assert line.qty_expected == 20 and line.opened_ledger_mark > 0


def test_count_open_by_sku_has_no_empty_location_lines(warehouse, stocked, controller):
    """A count of SKUs covers their balances only."""
    count = count_open(warehouse=warehouse, type=CountType.CYCLE, skus=["SKU-2"], actor=controller)
    assert _lines(count) == [("A-02", "SKU-2")]


def test_count_open_by_abc_class(warehouse, stocked, controller):
    """An ABC count covers the balances of the items of that class."""
    _bins, items = stocked
    items[1].item_class = "A"
    items[1].save()
    count = count_open(warehouse=warehouse, type=CountType.CYCLE, abc_class="A", actor=controller)
    assert _lines(count) == [("A-02", "SKU-2")]


def test_count_open_not_counted_for_days_skips_recent_counts(
    warehouse, stocked, controller, counter_one
):
    """A schedule count leaves out locations counted within the last N days."""
    first = count_open(
        warehouse=warehouse, type=CountType.SPOT, locations=["A-01"], actor=controller
    )
    count_result_record(
        count=first,
        lines=[{"location": "A-01", "sku": "SKU-1", "qty_counted": "10"}],
        actor=counter_one,
        request_key="first",
    )
    count_close(count=first, actor=controller)
    bins, _items = stocked
    count = count_open(
        warehouse=warehouse,
        type=CountType.CYCLE,
        zone=bins[0].zone,
        not_counted_days=30,
        actor=controller,
    )
    assert "A-01" not in {code for code, _sku in _lines(count)}
    assert "A-02" in {code for code, _sku in _lines(count)}


def test_count_open_refuses_unknown_location_and_missing_scope(warehouse, stocked, controller):
    """Unknown codes and a cycle count without scope are refused (422), nothing opened."""
    with pytest.raises(BusinessValidationError) as unknown:
        count_open(warehouse=warehouse, type=CountType.CYCLE, locations=["Z-99"], actor=controller)
    assert unknown.value.errors[0]["code"] == "unknown_location"
    with pytest.raises(BusinessValidationError) as missing:
        count_open(warehouse=warehouse, type=CountType.CYCLE, actor=controller)
    assert missing.value.code == "scope_required"
