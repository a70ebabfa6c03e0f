"""Outbound admin: orders with lines, allocations and history; waves released and
cancelled by a supervisor; planning jobs and the backlog — all scoped by warehouse."""

from datetime import datetime

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from outbound.models import OrderStatus, Wave, WaveReleaseMode, WaveStatus
from tasking.models import PickTask
from tests.factories import UserFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

SHIP_BY = timezone.make_aware(datetime(2030, 11, 23, 18, 30))


@pytest.fixture
def supervisor(client, warehouse):
    user = UserFactory(username="sup", warehouses=[warehouse])
    user.groups.add(Group.objects.get(name="supervisor"))
    client.force_login(user)
    return client


@pytest.fixture
def planned(accept, plan_all, item, location, receive, wave_policy):
    """One planned order in an open wave (manual release), stock at P-01."""
    wave_policy(release_mode=WaveReleaseMode.MANUAL)
    sku = item("SKU-1001")
    receive(sku, location("P-01"), 50)
    order = accept("E1", [("SKU-1001", 5)], ship_by=SHIP_BY)
    plan_all()
    order.refresh_from_db()
    return order


def test_admin_order_page_shows_lines_allocations_and_history(supervisor, planned):
    """The order's page lists its lines and allocations; its history page its changes."""
    url = reverse("admin:outbound_replenishmentorder_change", args=[planned.pk])
    page = supervisor.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "SKU-1001" in html and "P-01" in html and "Planned" in html
    history = supervisor.get(
        reverse("admin:outbound_replenishmentorder_history", args=[planned.pk])
    )
    assert history.status_code == 200
    listing = supervisor.get(reverse("admin:outbound_replenishmentorder_changelist"))
    assert "E1" in listing.content.decode()


def test_admin_order_list_stops_at_the_warehouse_grant(client, planned):
    """A supervisor of another warehouse sees no order and gets 404 for its page."""
    other = WarehouseFactory(code="BCN1")
    user = UserFactory(username="sup2", warehouses=[other])
    user.groups.add(Group.objects.get(name="supervisor"))
    client.force_login(user)
    listing = client.get(reverse("admin:outbound_replenishmentorder_changelist"))
    assert "E1" not in listing.content.decode()
    page = client.get(reverse("admin:outbound_replenishmentorder_change", args=[planned.pk]))
    assert page.status_code in (302, 404)


def test_admin_wave_release_action_creates_pick_tasks(supervisor, planned):
    """The supervisor releases the wave: pick tasks exist, the order is RELEASED."""
    response = supervisor.post(
        reverse("admin:outbound_wave_changelist"),
        {"action": "release_waves", "_selected_action": [str(planned.wave_id)]},
        follow=True,
    )
    assert response.status_code == 200
    wave = Wave.objects.get(pk=planned.wave_id)
    assert (wave.status, wave.release_reason) == (WaveStatus.RELEASED, "MANUAL")
    assert wave.released_by.username == "sup"
    planned.refresh_from_db()
    assert planned.status == OrderStatus.RELEASED
    assert PickTask.objects.filter(wave=wave).count() == 1
    page = supervisor.get(reverse("admin:outbound_wave_change", args=[wave.pk]))
    assert page.status_code == 200 and "P-01" in page.content.decode()


def test_admin_wave_cancel_action_returns_orders(supervisor, planned):
    """Cancelling an open wave puts its orders back to PLANNED without a wave."""
    supervisor.post(
        reverse("admin:outbound_wave_changelist"),
        {"action": "cancel_waves", "_selected_action": [str(planned.wave_id)]},
    )
    assert Wave.objects.get(pk=planned.wave_id).status == WaveStatus.CANCELLED
    planned.refresh_from_db()
    assert (planned.status, planned.wave_id) == (OrderStatus.PLANNED, None)


def test_admin_order_cancel_action(supervisor, planned):
    """The cancel action cancels the order and releases its stock."""
    supervisor.post(
        reverse("admin:outbound_replenishmentorder_changelist"),
        {"action": "cancel_orders", "_selected_action": [str(planned.pk)]},
    )
    planned.refresh_from_db()
    assert planned.status == OrderStatus.CANCELLED


def test_admin_actions_need_the_change_permission(client, planned, warehouse):
    """Someone who may only view waves cannot release them."""
    user = UserFactory(username="viewer", warehouses=[warehouse])
    user.groups.add(Group.objects.get(name="finance"))  # outbound.view_* only
    client.force_login(user)
    response = client.post(
        reverse("admin:outbound_wave_changelist"),
        {"action": "release_waves", "_selected_action": [str(planned.wave_id)]},
    )
    assert response.status_code in (302, 403)
    assert Wave.objects.get(pk=planned.wave_id).status == WaveStatus.OPEN


def test_admin_planning_jobs_and_backlog(supervisor, planned, accept):
    """Planning jobs are listed; the backlog page counts waiting and backordered orders."""
    accept("E2", [("SKU-1001", 5)], ship_by=SHIP_BY)  # accepted, not yet planned
    jobs = supervisor.get(reverse("admin:outbound_planningjob_changelist"))
    assert jobs.status_code == 200
    assert reverse("admin:outbound_planning_backlog") in jobs.content.decode()
    backlog = supervisor.get(reverse("admin:outbound_planning_backlog"))
    assert backlog.status_code == 200
    assert backlog.context["totals"]["waiting"] == 1
    assert "MAD1" in backlog.content.decode()
