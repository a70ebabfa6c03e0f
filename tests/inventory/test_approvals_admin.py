"""Inventory control in the admin: requesting an adjustment, the approvals queue (never one's
own), thresholds only for approvers, and the audit trail's CSV export for auditors."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from inventory.models import (
    AdjustmentApproval,
    AdjustmentState,
    AdjustmentThreshold,
    AuditEvent,
    InventoryAdjustment,
)

from .adjustment_fixtures import *  # noqa: F403  (the fixtures)

pytestmark = pytest.mark.django_db
ADMIN = "/admin/inventory"
D = Decimal


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _queue_action(client, action, ids, note=""):
    return client.post(
        f"{ADMIN}/pendingadjustment/",
        {"action": action, "_selected_action": ids, "note": note, "index": 0},
        follow=True,
    )


def test_adjustment_admin_add_calls_the_service(
    stocked, reasons, threshold, controller_user, warehouse, bin_a, available
):
    """The add form requests the adjustment (source admin); a resubmitted form adds nothing."""
    client = _client(controller_user)
    form = {
        "warehouse": warehouse.pk,
        "item": stocked.pk,
        "location": bin_a.pk,
        "status": available.pk,
        "qty_delta": "-1",
        "reason_code": reasons["DAMAGE"].pk,
        "note": "dropped",
        "request_key": "form-1",
    }
    response = client.post(f"{ADMIN}/inventoryadjustment/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    adjustment = InventoryAdjustment.objects.get()
    assert (adjustment.source, adjustment.state) == ("admin", AdjustmentState.APPLIED)
    assert adjustment.requested_by == controller_user

    client.post(f"{ADMIN}/inventoryadjustment/add/", form)
    assert InventoryAdjustment.objects.count() == 1


def test_adjustment_admin_add_shows_service_refusal(
    stocked, reasons, threshold, controller_user, warehouse, bin_a, available
):
    """Taking more than the unreserved stock: the form shows the refusal, nothing is added."""
    form = {
        "warehouse": warehouse.pk,
        "item": stocked.pk,
        "location": bin_a.pk,
        "status": available.pk,
        "qty_delta": "-9",
        "reason_code": reasons["DAMAGE"].pk,
        "request_key": "form-2",
    }
    response = _client(controller_user).post(f"{ADMIN}/inventoryadjustment/add/", form)
    assert response.status_code == 200
    assert "available" in response.content.decode()
    assert not InventoryAdjustment.objects.exists()


def test_approval_queue_approves_others_refuses_own(
    request_adjustment, controller_user, supervisor_user
):
    """The queue's approve action decides a controller's adjustment; the approver's own
    stays pending with the service's message."""
    theirs = request_adjustment("-1", reason="LOST", actor=controller_user)
    own = request_adjustment("-1", reason="LOST", actor=supervisor_user)

    response = _queue_action(
        _client(supervisor_user), "approve_selected", [theirs.pk, own.pk], note="seen"
    )
    assert response.status_code == 200
    text = " ".join(_messages(response))
    assert own.adjustment_number in text and "another person" in text
    theirs.refresh_from_db()
    own.refresh_from_db()
    assert theirs.state == AdjustmentState.APPLIED
    assert own.state == AdjustmentState.PENDING_APPROVAL
    assert AdjustmentApproval.objects.get().decided_by == supervisor_user


def test_approval_queue_reject_needs_note(request_adjustment, controller_user, supervisor_user):
    """Rejecting without a note is refused with a message; with one it rejects."""
    pending = request_adjustment("-1", reason="LOST", actor=controller_user)
    client = _client(supervisor_user)
    _queue_action(client, "reject_selected", [pending.pk])
    pending.refresh_from_db()
    assert pending.state == AdjustmentState.PENDING_APPROVAL
    _queue_action(client, "reject_selected", [pending.pk], note="recounted: it is there")
    pending.refresh_from_db()
    assert pending.state == AdjustmentState.REJECTED


def test_approval_queue_hidden_from_controllers(request_adjustment, controller_user):
    """A controller (no approve permission) cannot open the queue nor run its actions."""
    pending = request_adjustment("-1", reason="LOST", actor=controller_user)
    client = _client(controller_user)
    assert client.get(f"{ADMIN}/pendingadjustment/").status_code == 403
    _queue_action(client, "approve_selected", [pending.pk])
    pending.refresh_from_db()
    assert pending.state == AdjustmentState.PENDING_APPROVAL


def test_threshold_admin_changes_only_for_approvers(threshold, controller_user, supervisor_user):
    """A controller may not raise the limits; a supervisor may."""
    url = f"{ADMIN}/adjustmentthreshold/{threshold.pk}/change/"
    form = {"warehouse": threshold.warehouse_id, "max_abs_qty": "1000", "max_abs_value": "5"}
    _client(controller_user).post(url, form)
    threshold.refresh_from_db()
    assert threshold.max_abs_qty == D("20")
    response = _client(supervisor_user).post(url, form)
    assert response.status_code == 302
    threshold.refresh_from_db()
    assert threshold.max_abs_qty == D("1000")
    assert AdjustmentThreshold.history.filter(id=threshold.pk).count() == 2


def test_audit_admin_lists_filters_and_exports_csv(
    request_adjustment, controller_user, supervisor_user
):
    """The audit list filters by event; the CSV export has a header and one row per event."""
    adjustment = request_adjustment("-1", actor=controller_user)
    client = _client(supervisor_user)
    listing = client.get(f"{ADMIN}/auditevent/", {"event_type": "adjustment.applied"})
    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset.values_list("event_type", flat=True)) == [
        "adjustment.applied"
    ]
    ids = list(AuditEvent.objects.values_list("pk", flat=True))
    response = client.post(
        f"{ADMIN}/auditevent/", {"action": "export_csv", "_selected_action": ids, "index": 0}
    )
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["id", "occurred_at", "event_type"]
    assert {row[2] for row in rows[1:]} == {"adjustment.requested", "adjustment.applied"}
    assert all(row[6] == str(adjustment.pk) for row in rows[1:])


def test_audit_admin_refuses_change_and_delete(
    request_adjustment, controller_user, supervisor_user
):
    """No one edits or deletes an audit event in the admin."""
    request_adjustment("-1", actor=controller_user)
    event = AuditEvent.objects.first()
    client = _client(supervisor_user)
    assert client.post(f"{ADMIN}/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
