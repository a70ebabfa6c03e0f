"""Adjustments over the API (CONTRACT.md, Inventory control): who may adjust, the answers,
problem details for bad input, idempotent replays, and approvals by a second person only."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from inventory.models import AdjustmentApproval, AdjustmentState, InventoryAdjustment
from tests.factories import UserFactory

from .adjustment_fixtures import *  # noqa: F403  (the fixtures)
from .helpers import balance_of

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"
URL = "/api/v1/inventory/adjustments"
D = Decimal


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _adjust(client, key="adj-1", **overrides):
    body = {
        "warehouse": "MAD1",
        "sku": "SKU-1001",
        "location": "A-01-01-1",
        "status": "AVAILABLE",
        "qtyDelta": "-2",
        "reasonCode": "DAMAGE",
        "note": "forklift",
        **overrides,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(URL, body, format="json", **headers)


def _decide(client, adjustment_id, action, key="d-1", note=""):
    return client.post(
        f"{URL}/{adjustment_id}/{action}",
        {"note": note},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.fixture
def setup(stocked, reasons, threshold):
    return stocked


def test_adjustment_create_by_controller_applies_and_replays(
    setup, controller_user, bin_a, available
):
    """201 {id, adjustmentNumber, status APPLIED, ledgerEntryIds}; the same key replays."""
    client = _client(controller_user)
    response = _adjust(client)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "adjustmentNumber", "status", "ledgerEntryIds"}
    assert body["status"] == "APPLIED" and len(body["ledgerEntryIds"]) == 1
    assert body["adjustmentNumber"].startswith("ADJ-")

    again = _adjust(client)
    assert (again.status_code, again.json()) == (201, body)
    assert again["Idempotent-Replayed"] == "true"
    assert InventoryAdjustment.objects.count() == 1
    assert balance_of(setup, bin_a, available) == (D("8"), D("3"))


def test_adjustment_create_by_automation_system_above_threshold_is_pending(
    setup, system_client, warehouse
):
    """An automation system may adjust; above the threshold the answer is PENDING_APPROVAL."""
    client = system_client("automation", "RFID1", [warehouse])
    response = _adjust(client, qtyDelta="30", reasonCode="FOUND")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "PENDING_APPROVAL"
    assert response.json()["ledgerEntryIds"] == []
    detail = client.get(f"{URL}/{response.json()['id']}").json()
    assert detail["requestedBy"] == "system:RFID1"
    assert detail["qtyDelta"] == "30.000" and detail["value"] == "75.0000"


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"reasonCode": "NOPE"}, 422, "invalid_reason_code"),
        ({"reasonCode": "SHORT_PICK"}, 422, "invalid_reason_code"),
        ({"qtyDelta": "-8"}, 409, "insufficient_available"),
        ({"qtyDelta": "0"}, 400, None),
        ({"sku": "NOPE"}, 422, "validation_failed"),
    ],
)
def test_adjustment_create_bad_input_is_problem_and_posts_nothing(
    setup, controller_user, overrides, status, code
):
    """Unknown/inapplicable reason 422, below reserved 409, zero 400, unknown SKU 422: nothing."""
    response = _adjust(_client(controller_user), **overrides)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    if code:
        assert response.json()["code"] == code
    assert not InventoryAdjustment.objects.exists()


def test_adjustment_create_requires_idempotency_key(setup, controller_user):
    """No Idempotency-Key → 400 idempotency_key_missing."""
    response = _adjust(_client(controller_user), key=None)
    assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_missing")


def test_adjustment_create_refused_to_store_finance_picker_and_other_warehouse(
    setup, system_client, warehouse, other_warehouse
):
    """Store and finance systems 403, a picker 403, a controller of another warehouse 403."""
    assert _adjust(system_client("store", "S042", [warehouse])).status_code == 403
    assert _adjust(system_client("finance", "FIN1", [warehouse])).status_code == 403
    picker = UserFactory(username="picker", warehouses=[warehouse])
    picker.groups.add(Group.objects.get(name="picker"))
    assert _adjust(_client(picker)).status_code == 403
    elsewhere = UserFactory(username="ctrl-bcn", warehouses=[other_warehouse])
    elsewhere.groups.add(Group.objects.get(name="inventory_controller"))
    assert _adjust(_client(elsewhere)).status_code == 403
    assert not InventoryAdjustment.objects.exists()


def test_adjustment_approve_by_second_person_posts(
    setup, controller_user, supervisor_user, bin_a, available
):
    """A supervisor approves a controller's pending adjustment: 200, APPLIED, stock changed."""
    created = _adjust(_client(controller_user), reasonCode="LOST").json()
    assert created["status"] == "PENDING_APPROVAL"
    response = _decide(_client(supervisor_user), created["id"], "approve", note="ok")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "APPLIED" and len(body["ledgerEntryIds"]) == 1
    assert body["decision"]["decision"] == "APPROVED"
    assert body["decision"]["decidedBy"] == "sup1"
    assert balance_of(setup, bin_a, available) == (D("8"), D("3"))


def test_adjustment_approve_own_is_403_twice_is_409_after_reject_is_409(
    setup, controller_user, supervisor_user, second_supervisor
):
    """The requester 403 self_approval_forbidden; a decided one 409 adjustment_already_decided."""
    # A supervisor who is also a controller requests, then tries to approve it.
    supervisor_user.groups.add(Group.objects.get(name="inventory_controller"))
    own = _adjust(_client(supervisor_user), key="own", reasonCode="LOST").json()
    response = _decide(_client(supervisor_user), own["id"], "approve")
    assert (response.status_code, response.json()["code"]) == (403, "self_approval_forbidden")
    assert response["Content-Type"] == PROBLEM
    assert not AdjustmentApproval.objects.exists()

    assert _decide(_client(second_supervisor), own["id"], "approve").status_code == 200
    twice = _decide(_client(second_supervisor), own["id"], "approve", key="d-2")
    assert (twice.status_code, twice.json()["code"]) == (409, "adjustment_already_decided")

    other = _adjust(_client(controller_user), key="other", reasonCode="LOST").json()
    rejected = _decide(_client(supervisor_user), other["id"], "reject", key="r-1", note="no")
    assert rejected.json()["status"] == AdjustmentState.REJECTED
    after = _decide(_client(second_supervisor), other["id"], "approve", key="d-3")
    assert (after.status_code, after.json()["code"]) == (409, "adjustment_already_decided")


def test_adjustment_approve_by_controller_or_system_is_403(
    setup, controller_user, system_client, warehouse
):
    """Without the approve permission (a controller) or as a system: 403, nothing decided."""
    created = _adjust(_client(controller_user), reasonCode="LOST").json()
    other_controller = UserFactory(username="ctrl2", warehouses=[warehouse])
    other_controller.groups.add(*controller_user.groups.all())
    assert _decide(_client(other_controller), created["id"], "approve").status_code == 403
    automation = system_client("automation", "AUTO1", [warehouse])
    assert _decide(automation, created["id"], "approve").status_code == 403
    assert not AdjustmentApproval.objects.exists()


def test_adjustment_reject_without_note_is_422(setup, controller_user, supervisor_user):
    """A rejection says why: 422 note_required."""
    created = _adjust(_client(controller_user), reasonCode="LOST").json()
    response = _decide(_client(supervisor_user), created["id"], "reject")
    assert (response.status_code, response.json()["code"]) == (422, "note_required")


def test_adjustment_detail_and_list_scoped_to_warehouse(setup, controller_user, other_warehouse):
    """GET by id and the list show the caller's warehouses only (404 otherwise)."""
    created = _adjust(_client(controller_user)).json()
    assert _client(controller_user).get(f"{URL}/{created['id']}").json()["sku"] == "SKU-1001"
    rows = _client(controller_user).get(URL, {"status": "APPLIED"}).json()["results"]
    assert [row["id"] for row in rows] == [created["id"]]
    outsider = UserFactory(username="outsider", warehouses=[other_warehouse], is_superuser=False)
    outsider.groups.add(*controller_user.groups.all())
    assert _client(outsider).get(f"{URL}/{created['id']}").status_code == 404
    assert _client(outsider).get(URL).json()["results"] == []


def test_adjustment_endpoints_in_openapi_schema(api_client):
    """The schema describes the adjustment endpoints."""
    schema = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert "post" in paths["/api/v1/inventory/adjustments"]
    assert "get" in paths["/api/v1/inventory/adjustments/{adjustment_id}"]
    assert "post" in paths["/api/v1/inventory/adjustments/{adjustment_id}/approve"]
    assert "post" in paths["/api/v1/inventory/adjustments/{adjustment_id}/reject"]
