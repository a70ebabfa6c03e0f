"""Intake under concurrent requests (threads, each with its own database connection)."""

import threading

import pytest
from django.db import connection

from outbound.models import ReplenishmentOrder

from .conftest import order_body, post_order

pytestmark = pytest.mark.django_db(transaction=True)


def _together(calls):
    """Run the callables at the same moment, each in a thread; return their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_order_accept_same_external_id_racing_under_two_keys(store, item, monkeypatch):
    """Two submissions of one externalOrderId at once: one 202, one 409 with its id."""
    monkeypatch.setattr("outbound.services.planning.planning_nudge", lambda **kwargs: False)
    item("SKU-1001")
    body = order_body("RACE-1")
    responses = _together([lambda n=n: post_order(store, body, key=f"k{n}") for n in range(4)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202, 409, 409, 409]
    order = ReplenishmentOrder.objects.get()
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "duplicate_external_order"
            assert response.json()["existingOrderId"] == str(order.pk)
    assert order.lines.count() == 1


def test_order_accept_many_at_once_all_stored(store, item, monkeypatch):
    """Eight different orders of one store at once: eight 202s, eight orders."""
    monkeypatch.setattr("outbound.services.planning.planning_nudge", lambda **kwargs: False)
    item("SKU-1001")
    responses = _together(
        [lambda n=n: post_order(store, order_body(f"MANY-{n}")) for n in range(8)]
    )
    assert [r.status_code for r in responses] == [202] * 8
    assert ReplenishmentOrder.objects.count() == 8
