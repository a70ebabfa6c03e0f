"""Waves: grouping under limits, automatic and manual release into pick tasks, cancel."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from inventory.models import InventoryBalance
from outbound.models import OrderStatus, Wave, WaveReleaseMode, WaveStatus
from outbound.services import (
    order_cancel,
    wave_cancel,
    wave_release,
    waves_build,
    waves_release_due,
)
from tasking.models import PickTask, PickTaskStatus
from wms.models import OutboxEvent

from .conftest import post_order

pytestmark = pytest.mark.django_db

SHIP_BY = timezone.make_aware(datetime(2030, 11, 23, 18, 30))


@pytest.fixture
def stocked(item, location, receive, zone_b):
    """SKU-1001 at P-01 (zone A), SKU-1002 at P-02 (zone A) and reserve R-01, SKU-2001 in zone B."""
    a, b, c = item("SKU-1001"), item("SKU-1002"), item("SKU-2001")
    receive(a, location("P-01", pick_sequence=10), 1000)
    receive(b, location("P-02", pick_sequence=5), 10)
    receive(b, location("R-01", type="RESERVE", pick_sequence=90), 1000)
    receive(c, location("B-01", zone=zone_b, pick_sequence=20), 1000)
    return a, b, c


def test_waves_group_by_priority_window_and_zone(accept, plan_all, stocked, wave_policy):
    """Same priority, ship-by window and zone share a wave; any difference separates."""
    wave_policy(release_mode=WaveReleaseMode.MANUAL, window_minutes=120)
    o1 = accept("E1", [("SKU-1001", 1)], ship_by=SHIP_BY)
    o2 = accept("E2", [("SKU-1001", 1)], ship_by=SHIP_BY + timedelta(minutes=20))
    o3 = accept("E3", [("SKU-1001", 1)], priority=1, ship_by=SHIP_BY)
    o4 = accept("E4", [("SKU-1001", 1)], ship_by=SHIP_BY + timedelta(hours=3))
    o5 = accept("E5", [("SKU-2001", 5), ("SKU-1001", 1)], ship_by=SHIP_BY)
    plan_all()
    for order in (o1, o2, o3, o4, o5):
        order.refresh_from_db()
    waves = {o.external_order_id: o.wave_id for o in (o1, o2, o3, o4, o5)}
    assert waves["E1"] == waves["E2"]
    assert len({waves["E1"], waves["E3"], waves["E4"], waves["E5"]}) == 4
    wave = Wave.objects.get(pk=waves["E1"])
    assert (wave.order_count, wave.line_count, wave.unit_count) == (2, 2, Decimal("2"))
    assert wave.window_start <= SHIP_BY < wave.window_end
    assert Wave.objects.get(pk=waves["E5"]).zone.code == "B"
    assert set(Wave.objects.values_list("status", flat=True)) == {WaveStatus.OPEN}


def test_waves_respect_the_policy_limits(accept, plan_all, stocked, wave_policy):
    """A wave takes orders until a limit would be passed; the next opens a new wave."""
    wave_policy(release_mode=WaveReleaseMode.MANUAL, max_orders=2, max_lines=10, max_units=50)
    for n in range(5):
        accept(f"E{n}", [("SKU-1001", 1)], ship_by=SHIP_BY)
    accept("BIG", [("SKU-1001", 60)], ship_by=SHIP_BY)  # more units than a wave: its own wave
    plan_all()
    # E0 E1 | E2 E3 | E4 (closed: BIG does not fit) | BIG alone.
    waves = Wave.objects.order_by("created_at", "id")
    assert [(w.order_count, w.unit_count, w.is_full) for w in waves] == [
        (2, Decimal("2"), True),
        (2, Decimal("2"), True),
        (1, Decimal("1"), True),
        (1, Decimal("60"), False),
    ]


def test_wave_release_creates_pick_tasks_along_the_pick_path(
    accept, plan_all, stocked, wave_policy
):
    """One task per order line x location with its quantity and reservations, in pick order."""
    wave_policy(release_mode=WaveReleaseMode.MANUAL)
    o1 = accept("E1", [("SKU-1001", 3), ("SKU-1002", 14)], ship_by=SHIP_BY)
    o2 = accept("E2", [("SKU-1002", 2)], ship_by=SHIP_BY)
    plan_all()
    o1.refresh_from_db()
    supervisor = get_user_model().objects.create_user("sup1")
    wave = wave_release(wave_id=o1.wave_id, actor=supervisor)
    assert wave.status == WaveStatus.RELEASED and wave.release_reason == "MANUAL"
    assert wave.released_by == supervisor
    tasks = list(PickTask.objects.filter(wave=wave).order_by("sequence"))
    rows = [
        (t.sequence, t.from_location.code, t.order.external_order_id, t.item.sku, t.qty_to_pick)
        for t in tasks
    ]
    # P-02 (sequence 5) holds 10 of SKU-1002: E1 took 10 there and 4 from R-01; E2 2 from R-01.
    assert rows == [
        (1, "P-02", "E1", "SKU-1002", Decimal("10")),
        (2, "P-01", "E1", "SKU-1001", Decimal("3")),
        (3, "R-01", "E1", "SKU-1002", Decimal("4")),
        (4, "R-01", "E2", "SKU-1002", Decimal("2")),
    ]
    assert {t.status for t in tasks} == {PickTaskStatus.RELEASED}
    for task in tasks:
        reservations = list(task.reservations.all())
        assert sum(r.qty for r in reservations) == task.qty_to_pick
        assert {r.location_id for r in reservations} == {task.from_location_id}
    for task in tasks:  # each task's first history record: as created, by the supervisor
        [record] = task.history.all()
        assert (record.history_type, record.history_change_reason) == ("+", "wave released")
        assert (record.history_user_id, record.status, record.qty_to_pick) == (
            supervisor.pk,
            PickTaskStatus.RELEASED,
            task.qty_to_pick,
        )
    for order in (o1, o2):
        order.refresh_from_db()
        assert order.status == OrderStatus.RELEASED
        latest = order.history.first()
        assert (latest.status, latest.history_change_reason, latest.history_user_id) == (
            OrderStatus.RELEASED,
            "wave released",
            supervisor.pk,
        )
    event = OutboxEvent.objects.get(event_type="wave.released")
    assert event.data["pickTaskCount"] == 4
    # Releasing again changes nothing.
    assert wave_release(wave_id=wave.pk).status == WaveStatus.RELEASED
    assert PickTask.objects.count() == 4
    assert OutboxEvent.objects.filter(event_type="wave.released").count() == 1


def test_waves_release_automatically_by_policy(accept, plan_all, stocked, wave_policy):
    """Manual policy never releases; automatic releases full, due or old waves."""
    policy = wave_policy(release_mode=WaveReleaseMode.MANUAL, max_open_minutes=0)
    order = accept("E1", [("SKU-1001", 1)], ship_by=SHIP_BY)
    plan_all()
    assert waves_release_due(warehouse_id=order.warehouse_id) == []
    policy.release_mode = WaveReleaseMode.AUTOMATIC
    policy.max_open_minutes = 60
    policy.save()
    assert waves_release_due(warehouse_id=order.warehouse_id) == []  # not old, not due, not full
    policy.release_lead_minutes = 60 * 24 * 365 * 10  # the window is "due" ten years ahead
    policy.save()
    released = waves_release_due(warehouse_id=order.warehouse_id)
    assert [w.release_reason for w in released] == ["DUE"]
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED


def test_planning_job_releases_due_waves(accept, plan_all, stocked, wave_policy):
    """With an automatic policy that releases at once, planning ends with pick tasks."""
    wave_policy(release_mode=WaveReleaseMode.AUTOMATIC, max_open_minutes=0)
    order = accept("E1", [("SKU-1001", 2)], ship_by=SHIP_BY)
    plan_all()
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert PickTask.objects.get(order=order).qty_to_pick == Decimal("2")


def test_wave_cancel_returns_orders_and_allows_a_new_wave(accept, plan_all, stocked, wave_policy):
    """Cancel a released wave: tasks cancelled, orders PLANNED again (stock kept), re-waved."""
    wave_policy(release_mode=WaveReleaseMode.MANUAL)
    order = accept("E1", [("SKU-1001", 2)], ship_by=SHIP_BY)
    plan_all()
    order.refresh_from_db()
    first = wave_release(wave_id=order.wave_id)
    wave_cancel(wave_id=first.pk)
    order.refresh_from_db()
    assert (order.status, order.wave_id) == (OrderStatus.PLANNED, None)
    assert set(PickTask.objects.values_list("status", flat=True)) == {PickTaskStatus.CANCELLED}
    assert InventoryBalance.objects.get(location__code="P-01").reserved == Decimal("2")
    assert waves_build(warehouse_id=order.warehouse_id)
    order.refresh_from_db()
    second = wave_release(wave_id=order.wave_id)
    assert second.pk != first.pk
    assert PickTask.objects.filter(wave=second, status=PickTaskStatus.RELEASED).count() == 1


def test_order_cancel_after_release_cancels_tasks_and_frees_stock(
    accept, plan_all, stocked, wave_policy
):
    """A released order whose tasks nobody started cancels; its stock is available again."""
    wave_policy(release_mode=WaveReleaseMode.AUTOMATIC, max_open_minutes=0)
    order = accept("E1", [("SKU-1001", 2)], ship_by=SHIP_BY)
    plan_all()
    order_cancel(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert PickTask.objects.get(order=order).status == PickTaskStatus.CANCELLED
    assert InventoryBalance.objects.get(location__code="P-01").reserved == Decimal("0")


def test_order_cancel_refused_once_picking_started(store, stocked, wave_policy, warehouse):
    """Through the API: a task in a picker's hands → 409 order_not_cancellable, nothing changes."""
    wave_policy(release_mode=WaveReleaseMode.AUTOMATIC, max_open_minutes=0)
    body = {
        "externalOrderId": "E1",
        "storeCode": "S042",
        "requestedShipBy": SHIP_BY.isoformat(),
        "lines": [{"lineNumber": 1, "sku": "SKU-1001", "qty": "2"}],
    }
    order_id = post_order(store, body).json()["id"]
    from outbound.services import planning_group_for, planning_job_run

    planning_job_run(warehouse_id=warehouse.pk, planning_group=planning_group_for("S042"))
    PickTask.objects.filter(order_id=order_id).update(status=PickTaskStatus.ASSIGNED)
    response = store.post(
        f"/api/v1/replenishment-orders/{order_id}/cancel",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY="cancel-1",
    )
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "order_not_cancellable"
    assert store.get(f"/api/v1/replenishment-orders/{order_id}").json()["status"] == "RELEASED"
    assert InventoryBalance.objects.get(location__code="P-01").reserved == Decimal("2")
    assert not OutboxEvent.objects.filter(event_type="order.cancelled").exists()
