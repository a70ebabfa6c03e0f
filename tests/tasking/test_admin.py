"""The supervisor's picking desk in the admin: controlled actions only, warehouse scoped."""

from decimal import Decimal

import pytest

from tasking.models import ExceptionCase, PickTask, PickTaskStatus
from tasking.services import pick_confirm, pick_task_next_for_picker
from tests.factories import WarehouseFactory

from .conftest import balance

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def sara(client, supervisor):
    client.force_login(supervisor)
    return client


def test_admin_exception_short_action_resolves_case(sara, release_order, picker, layout):
    """Select the open case, run "Short the line": resolved, remainder released."""
    release_order([("SKU-A", 10)])
    task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    case = pick_confirm(task_id=task.pk, qty="8", request_key="k", actor=picker).exception_case
    listing = sara.get("/admin/tasking/exceptioncase/")
    assert listing.status_code == 200 and case.label in listing.content.decode()
    response = sara.post(
        "/admin/tasking/exceptioncase/",
        {"action": "resolve_short", "_selected_action": [case.pk]},
        follow=True,
    )
    assert response.status_code == 200
    case.refresh_from_db()
    assert (case.status, case.resolution, case.resolved_by.username) == (
        "RESOLVED",
        "SHORTED",
        "sara",
    )
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("42"), D("0"))


def test_admin_reassign_action_with_picker_form(sara, release_order, picker, picker2, layout):
    """Reassign asks for a picker (people of the warehouse who may pick), then moves it."""
    _order, (task,) = release_order([("SKU-A", 1)])
    pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    form = sara.post(
        "/admin/tasking/picktask/", {"action": "reassign", "_selected_action": [str(task.pk)]}
    )
    assert form.status_code == 200
    choices = [str(u) for u in form.context["form"].fields["picker"].queryset]
    assert choices == ["pablo", "paula", "sara"]
    done = sara.post(
        "/admin/tasking/picktask/",
        {"action": "reassign", "_selected_action": [str(task.pk)], "picker": picker2.pk},
        follow=True,
    )
    assert done.status_code == 200
    task.refresh_from_db()
    assert (task.status, task.assigned_to) == (PickTaskStatus.ASSIGNED, picker2)


def test_admin_picking_lists_stop_at_the_warehouse_grant(sara, release_order, layout):
    """Tasks of a warehouse the supervisor was not granted are not listed or openable."""
    _order, (task,) = release_order([("SKU-A", 1)])
    other = WarehouseFactory(code="BCN1")
    PickTask.objects.filter(pk=task.pk).update(warehouse=other)
    assert str(task.pk) not in sara.get("/admin/tasking/picktask/").content.decode()
    assert sara.get(f"/admin/tasking/picktask/{task.pk}/change/").status_code in (302, 404)
    assert not ExceptionCase.objects.exists()


def test_admin_picker_cannot_resolve(client, picker, release_order, layout):
    """A picker has no admin access (not staff)."""
    client.force_login(picker)
    assert client.get("/admin/tasking/exceptioncase/").status_code == 302
