"""The other reports (issue 17) against hand-computed figures: movements, open orders
and backorders by store, cycle time percentiles, delivery health; bad periods."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.services.stock import stock_move, stock_receive
from outbound.models import LineStatus, OrderStatus, ReplenishmentOrder, ReplenishmentOrderLine
from tests.factories import (
    InventoryStatusFactory,
    ItemFactory,
    LocationFactory,
    UnitOfMeasureFactory,
    UserFactory,
)
from wms.models import OutboxEvent, OutboxStatus


@pytest.fixture
def boss(api_client):
    api_client.force_authenticate(UserFactory(username="boss", is_superuser=True))
    return api_client


def _results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _order(warehouse, store, status, accepted_hours_ago, shipped_after_hours=None):
    accepted = timezone.now() - dt.timedelta(hours=accepted_hours_ago)
    return ReplenishmentOrder.objects.create(
        warehouse=warehouse,
        store_code=store,
        external_order_id=f"{store}-{accepted_hours_ago}-{status}-{shipped_after_hours}",
        status=status,
        accepted_at=accepted,
        shipped_at=accepted + dt.timedelta(hours=shipped_after_hours)
        if shipped_after_hours
        else None,
    )


def test_stock_movements_report_rows_and_values(warehouse, boss):
    """A receipt and a move of 2: three ledger rows, each valued at unit cost."""
    available = InventoryStatusFactory(code="AVAILABLE")
    item = ItemFactory(warehouse=warehouse, sku="SKU-M", unit_cost=Decimal("2.50"))
    a, b = (
        LocationFactory(warehouse=warehouse, code="A"),
        LocationFactory(warehouse=warehouse, code="B"),
    )
    stock_receive(item=item, location=a, status=available, qty=12, posting_key="r", source_ref="R1")
    stock_move(item=item, from_location=a, to_location=b, status=available, qty=2,
               posting_key="m", source_ref="M1")  # fmt: skip
    rows = _results(boss.get("/api/v1/reports/stock-movements", {"sku": "SKU-M"}))
    assert [(r["entryType"], r["location"], r["qty"], r["value"]) for r in rows] == [
        ("RECEIPT", "A", "12.000", "30.0000"),
        ("MOVE_OUT", "A", "-2.000", "-5.0000"),
        ("MOVE_IN", "B", "2.000", "5.0000"),
    ]


@pytest.mark.parametrize("report", ["stock-movements", "order-cycle-time", "pick-productivity"])
def test_period_reports_refuse_an_inverted_period(report, warehouse, boss):
    """from after to is a 400 naming 'from', never an empty report."""
    response = boss.get(
        f"/api/v1/reports/{report}",
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "from"


def test_open_orders_by_store_counts_backorders_and_age(warehouse, boss):
    """Per store: open orders, backordered orders/lines/quantity, age buckets; shipped and
    cancelled orders left out."""
    backordered = _order(warehouse, "S1", OrderStatus.BACKORDERED, 30)
    _order(warehouse, "S1", OrderStatus.PLANNED, 2)
    _order(warehouse, "S1", OrderStatus.SHIPPED, 100, 5)
    _order(warehouse, "S2", OrderStatus.ACCEPTED, 80)
    _order(warehouse, "S2", OrderStatus.CANCELLED, 1)
    item = ItemFactory(warehouse=warehouse, sku="SKU-O")
    ReplenishmentOrderLine.objects.create(
        order=backordered, line_number=1, item=item, uom=UnitOfMeasureFactory(),
        qty_requested=5, qty_requested_base=5, qty_allocated=2, status=LineStatus.BACKORDERED,
    )  # fmt: skip
    rows = {r["store"]: r for r in _results(boss.get("/api/v1/reports/open-orders"))}
    assert set(rows) == {"S1", "S2"}
    s1 = rows["S1"]
    assert (s1["openOrders"], s1["backorderedOrders"], s1["backorderedLines"]) == (2, 1, 1)
    assert s1["backorderedQty"] == "3.000"
    assert (s1["ageUnder24h"], s1["age24To72h"], s1["ageOver72h"]) == (1, 1, 0)
    assert Decimal(s1["oldestAgeHours"]) == Decimal("30.00")
    assert (rows["S2"]["openOrders"], rows["S2"]["ageOver72h"]) == (1, 1)


def test_order_cycle_time_percentiles(warehouse, boss):
    """Orders shipped 1, 2, 3 and 4 h after acceptance: median 2.5 h, p90 3.7 h, p95 3.85
    h, longest 4 h (continuous percentiles)."""
    for hours in (1, 2, 3, 4):
        _order(warehouse, "S1", OrderStatus.SHIPPED, 10, hours)
    _order(warehouse, "S1", OrderStatus.SHIPPED, 24 * 30, 1)  # shipped before the period
    [row] = _results(boss.get("/api/v1/reports/order-cycle-time"))
    assert (row["shippedOrders"], row["p50Hours"], row["p90Hours"]) == (4, "2.50", "3.70")
    assert (row["p95Hours"], row["maxHours"]) == ("3.85", "4.00")


def test_delivery_health_counts_the_outbox(db, boss):
    """Pending and dead outbox events, and the oldest pending one's age."""
    OutboxEvent.objects.create(event_type="x", aggregate_type="X", aggregate_id="1")
    OutboxEvent.objects.create(
        event_type="x", aggregate_type="X", aggregate_id="2", status=OutboxStatus.DEAD
    )
    [outbox] = [
        r for r in _results(boss.get("/api/v1/reports/delivery-health")) if r["channel"] == "outbox"
    ]
    assert (outbox["pending"], outbox["dead"]) == (1, 1)
    assert outbox["oldestAgeSeconds"] is not None


def test_dead_outbox_events_are_counted_through_their_partial_index(db):
    """The dead count (alert, delivery health) can read ``outbox_dead_id_idx`` alone, and a
    published event is not in that index: no publish pays for it. (Sequential scans off:
    on a test-sized table the planner would rightly prefer one.)"""
    from django.db import connection

    queryset = OutboxEvent.objects.filter(status=OutboxStatus.DEAD)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
        cursor.execute(
            "SELECT pg_get_expr(indpred, indrelid) FROM pg_index "
            "WHERE indexrelid = 'outbox_dead_id_idx'::regclass"
        )
        [(predicate,)] = cursor.fetchall()
    assert "outbox_dead_id_idx" in plan, plan
    assert "DEAD" in predicate and "PUBLISHED" not in predicate and "PENDING" not in predicate


def test_exceptions_report_by_type_and_age(warehouse, boss):
    """Open receiving exceptions per type with the oldest and their age buckets; resolved
    ones only with status=ALL; the exception-age alert names the old one."""
    from inbound.models import ReceivingException, ReceivingExceptionStatus
    from integrations.alerts import alert_rules_evaluate
    from wms.models import Alert, AlertKind, AlertRule

    now = timezone.now()
    for minutes, status in ((5, "OPEN"), (90, "OPEN"), (300, "OPEN"), (10, "APPROVED")):
        ReceivingException.objects.create(
            warehouse=warehouse,
            type="OVER_RECEIPT",
            status=ReceivingExceptionStatus(status),
            opened_at=now - dt.timedelta(minutes=minutes),
            resolved_at=now if status != "OPEN" else None,
        )
    [row] = _results(boss.get("/api/v1/reports/exceptions"))
    assert (row["source"], row["type"], row["count"]) == ("receiving", "OVER_RECEIPT", 3)
    buckets = [row[k] for k in ("ageUnder15m", "age15To60m", "age1To4h", "ageOver4h")]
    assert buckets == [1, 0, 1, 1]
    [row] = _results(boss.get("/api/v1/reports/exceptions", {"status": "ALL"}))
    assert row["count"] == 4
    rule = AlertRule.objects.create(
        warehouse=warehouse, name="Old", kind=AlertKind.EXCEPTION_AGE, threshold=120
    )
    alert_rules_evaluate()
    assert Alert.objects.filter(rule=rule).count() == 1


def test_reports_need_credentials(db, api_client):
    """No token and no session: 401, as every API answers."""
    assert api_client.get("/api/v1/reports/stock-on-hand").status_code == 401
