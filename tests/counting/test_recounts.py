"""Recounts: a variance above tolerance waits for a second, different person."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from counting.exceptions import RecountBySameCounter, RecountPending, SubmissionKeyReused
from counting.models import CountLine, CountLineState, CountSettings, CountType
from counting.services import (
    count_close,
    count_lines_recount_request,
    count_lines_variance_accept,
    count_open,
    count_result_record,
)

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def tolerance(warehouse):
    return CountSettings.objects.create(warehouse=warehouse, recount_tolerance_qty=D("2"))


@pytest.fixture
def spot(warehouse, stocked, controller):
    """A spot count of A-01 (10 of SKU-1 on the books)."""
    return count_open(
        warehouse=warehouse, type=CountType.SPOT, locations=["A-01"], actor=controller
    )


def _count(count, qty, actor, key):
    return count_result_record(
        count=count,
        lines=[{"location": "A-01", "sku": "SKU-1", "qty_counted": qty}],
        actor=actor,
        request_key=key,
    )


def _line(count):
    return CountLine.objects.get(count=count, item__sku="SKU-1")


def test_count_result_record_above_tolerance_needs_recount_by_another_person(
    tolerance, spot, counter_one, counter_two, controller, receive, stocked
):
    """Above tolerance: no close before the recount, the first counter may not recount,
    and the recount (with its own ledger mark) is what gets adjusted."""
    _count(spot, "5", counter_one, "c1")
    assert _line(spot).state == CountLineState.RECOUNT_REQUIRED
    with pytest.raises(RecountPending):
        count_close(count=spot, actor=controller)
    with pytest.raises(RecountBySameCounter):
        _count(spot, "5", counter_one, "c1-again")
    bins, items = stocked
    receive(items[0], bins[0], 3)  # arrives between the first count and the recount
    _count(spot, "12", counter_two, "c2")
    line = _line(spot)
    assert line.state == CountLineState.COUNTED and line.recount_by == counter_two
    closed = count_close(count=spot, actor=controller)
    assert [a.qty_delta for a in closed.adjustments] == [D("-1")]  # 12 against 10 + 3


def test_count_result_record_within_tolerance_needs_no_recount(tolerance, spot, counter_one):
    """A variance within the tolerance is counted at once."""
    _count(spot, "9", counter_one, "c1")
    assert _line(spot).state == CountLineState.COUNTED


def test_count_line_recount_by_the_counter_refused_by_the_database(spot, counter_one):
    """The database refuses a recount recorded under the first counter's name."""
    _count(spot, "9", counter_one, "c1")
    with pytest.raises(IntegrityError), transaction.atomic():
        CountLine.objects.filter(count=spot, item__sku="SKU-1").update(
            recount_qty=D("9"),
            recount_ledger_mark=0,
            recount_by=counter_one,
            recount_by_label="someone-else",
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        CountLine.objects.filter(count=spot, item__sku="SKU-1").update(
            recount_qty=D("9"), recount_ledger_mark=0, recount_by_label="counter1"
        )


def test_count_lines_variance_accept_not_by_the_counter(tolerance, spot, counter_one, controller):
    """A supervisor may accept a variance instead of a recount, but not its own count."""
    _count(spot, "1", controller, "c1")
    with pytest.raises(RecountBySameCounter):
        count_lines_variance_accept(count=spot, line_ids=[_line(spot).pk], actor=controller)
    count_lines_variance_accept(count=spot, line_ids=[_line(spot).pk], actor=counter_one)
    line = _line(spot)
    assert line.state == CountLineState.COUNTED and line.reviewed_by_label == "counter1"


def test_count_lines_recount_request_sends_a_line_back(spot, counter_one, counter_two, controller):
    """A supervisor who doubts a count asks for a recount; another person does it."""
    _count(spot, "10", counter_one, "c1")
    count_lines_recount_request(count=spot, line_ids=[_line(spot).pk], actor=controller)
    assert _line(spot).state == CountLineState.RECOUNT_REQUIRED
    _count(spot, "10", counter_two, "c2")
    assert count_close(count=spot, actor=controller).adjustments == []


def test_count_result_record_replays_its_key(spot, counter_one):
    """The same key and results answer the first outcome; other results under it are refused."""
    first = _count(spot, "10", counter_one, "same")
    again = _count(spot, "10", counter_one, "same")
    assert again.replayed and [x.pk for x in again.lines] == [x.pk for x in first.lines]
    with pytest.raises(SubmissionKeyReused):
        _count(spot, "11", counter_one, "same")
    assert _line(spot).qty_counted == D("10")
