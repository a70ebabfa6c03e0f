"""Four-eyes approvals (``adjustment_approve`` / ``adjustment_reject``): a second person with the
approve permission decides once; the requester never, not even by writing the database."""

import threading
from decimal import Decimal
from functools import partial

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, connections, transaction

from inventory import services
from inventory.models import (
    AdjustmentApproval,
    AdjustmentState,
    AuditEvent,
    FinanceEvent,
    InventoryAdjustment,
    InventoryPosting,
)
from tests.factories import UserFactory
from wms.exceptions import DomainError

from .adjustment_fixtures import *  # noqa: F403  (the fixtures)
from .helpers import balance_of

D = Decimal


@pytest.fixture
def pending(request_adjustment, controller_user):
    """A pending loss of 2 (LOST always needs approval)."""
    return request_adjustment("-2", reason="LOST", actor=controller_user)


def _refused(call) -> tuple[str, int]:
    with pytest.raises(DomainError) as excinfo:
        call()
    return excinfo.value.code, excinfo.value.status


@pytest.mark.django_db
def test_adjustment_approve_posts_finance_and_audit(
    pending, supervisor_user, stocked, bin_a, available, assert_consistent
):
    """Approval posts the loss, values it (negative) and records who decided, when and why."""
    adjustment = services.adjustment_approve(
        adjustment_id=pending.pk, approver=supervisor_user, note="checked the shelf"
    )

    assert adjustment.state == AdjustmentState.APPLIED
    assert balance_of(stocked, bin_a, available) == (D("8"), D("3"))
    approval = AdjustmentApproval.objects.get(adjustment=pending)
    assert (approval.decision, approval.decided_by, approval.note) == (
        "APPROVED",
        supervisor_user,
        "checked the shelf",
    )
    assert approval.requested_by_id == pending.requested_by_id
    assert FinanceEvent.objects.get().total_amount == D("-5.0000")
    events = list(
        AuditEvent.objects.filter(entity_id=str(pending.pk)).values_list("event_type", "actor_id")
    )
    assert sorted(events) == sorted(
        [
            ("adjustment.requested", pending.requested_by_id),
            ("adjustment.approved", supervisor_user.pk),
            ("adjustment.applied", supervisor_user.pk),
        ]
    )
    assert_consistent()


@pytest.mark.django_db
def test_adjustment_reject_posts_nothing(pending, supervisor_user, stocked, bin_a, available):
    """A rejection keeps the decision and its reason, and posts nothing."""
    adjustment = services.adjustment_reject(
        adjustment_id=pending.pk, approver=supervisor_user, note="found it behind the rack"
    )

    assert adjustment.state == AdjustmentState.REJECTED
    assert balance_of(stocked, bin_a, available) == (D("10"), D("3"))
    assert not FinanceEvent.objects.exists()
    assert AdjustmentApproval.objects.get().decision == "REJECTED"
    assert AuditEvent.objects.filter(event_type="adjustment.rejected").count() == 1


@pytest.mark.django_db
def test_adjustment_reject_without_reason_is_422(pending, supervisor_user):
    """A rejection must say why."""
    call = partial(
        services.adjustment_reject,
        adjustment_id=pending.pk,
        approver=supervisor_user,
        note=" ",
    )
    assert _refused(call) == ("note_required", 422)


@pytest.mark.django_db
def test_adjustment_approve_own_request_is_403(warehouse, request_adjustment, supervisor_user):
    """The requester, even with the approve permission, cannot approve their own adjustment."""
    own = request_adjustment("-1", reason="LOST", actor=supervisor_user)
    call = partial(services.adjustment_approve, adjustment_id=own.pk, approver=supervisor_user)
    assert _refused(call) == ("self_approval_forbidden", 403)
    own.refresh_from_db()
    assert own.state == AdjustmentState.PENDING_APPROVAL
    assert not AdjustmentApproval.objects.exists()


@pytest.mark.django_db
def test_adjustment_approve_twice_or_after_rejection_is_409(
    pending, supervisor_user, second_supervisor, request_adjustment, controller_user
):
    """A decided adjustment refuses a second decision: 409 adjustment_already_decided."""
    services.adjustment_approve(adjustment_id=pending.pk, approver=supervisor_user)
    again = partial(
        services.adjustment_approve, adjustment_id=pending.pk, approver=second_supervisor
    )
    assert _refused(again) == ("adjustment_already_decided", 409)

    rejected = request_adjustment("-1", reason="LOST", actor=controller_user)
    services.adjustment_reject(adjustment_id=rejected.pk, approver=supervisor_user, note="no")
    after = partial(
        services.adjustment_approve, adjustment_id=rejected.pk, approver=second_supervisor
    )
    assert _refused(after) == ("adjustment_already_decided", 409)
    assert InventoryPosting.objects.filter(posting_key__startswith="adjustment:").count() == 1


@pytest.mark.django_db
def test_adjustment_approve_without_permission_or_grant_is_403(
    pending, controller_user, warehouse, other_warehouse
):
    """A controller (no approve permission) or a supervisor of another warehouse may not approve."""
    other_controller = UserFactory(username="ctrl2", warehouses=[warehouse])
    other_controller.groups.add(*controller_user.groups.all())
    call = partial(services.adjustment_approve, adjustment_id=pending.pk, approver=other_controller)
    assert _refused(call) == ("approval_not_permitted", 403)

    elsewhere = UserFactory(username="sup-bcn", warehouses=[other_warehouse])
    elsewhere.groups.add(Group.objects.get(name="supervisor"))
    call = partial(services.adjustment_approve, adjustment_id=pending.pk, approver=elsewhere)
    assert _refused(call) == ("approval_not_permitted", 403)


@pytest.mark.django_db
def test_adjustment_approve_loss_that_no_longer_fits_is_409_and_stays_pending(
    pending, supervisor_user, stocked, bin_a, available
):
    """Stock reserved since the request: the approval's posting refuses, nothing is decided."""
    services.reservation_create(
        item=stocked, location=bin_a, status=available, qty=6, demand_ref="o2", posting_key="r2"
    )
    call = partial(services.adjustment_approve, adjustment_id=pending.pk, approver=supervisor_user)
    assert _refused(call) == ("insufficient_available", 409)
    pending.refresh_from_db()
    assert pending.state == AdjustmentState.PENDING_APPROVAL
    assert not AdjustmentApproval.objects.exists()


# --- four eyes in the database --------------------------------------------------------


@pytest.mark.django_db
def test_approval_by_requester_inserted_directly_is_refused_by_the_database(
    pending, controller_user, second_supervisor
):
    """A hand-written INSERT of the requester's own approval fails the four-eyes constraint,
    whatever ``requested_by`` it claims."""
    with (
        pytest.raises(IntegrityError, match="approval_four_eyes"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO inventory_adjustmentapproval "
            "(adjustment_id, decision, decided_by_id, requested_by_id, decided_at, note) "
            "VALUES (%s, 'APPROVED', %s, %s, now(), '')",
            [pending.pk, controller_user.pk, second_supervisor.pk],
        )
    with pytest.raises(IntegrityError, match="approval_four_eyes"), transaction.atomic():
        AdjustmentApproval.objects.create(
            adjustment=pending, decision="APPROVED", decided_by=controller_user
        )


@pytest.mark.django_db
def test_approval_update_to_requester_is_refused_by_the_database(
    pending, controller_user, supervisor_user
):
    """An approval is append-only: an UPDATE making the requester the decider (or any) fails."""
    services.adjustment_approve(adjustment_id=pending.pk, approver=supervisor_user)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AdjustmentApproval.objects.filter(adjustment=pending).update(decided_by=controller_user)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AdjustmentApproval.objects.filter(adjustment=pending).delete()


@pytest.mark.django_db
def test_adjustment_request_columns_and_decided_state_are_final_in_the_database(
    pending, supervisor_user, controller_user
):
    """An UPDATE of a request's quantity, or of a decided adjustment, or a DELETE, fails."""
    with pytest.raises(IntegrityError, match="does not change"), transaction.atomic():
        InventoryAdjustment.objects.filter(pk=pending.pk).update(qty_delta=D("-1"))
    with pytest.raises(IntegrityError, match="does not change"), transaction.atomic():
        InventoryAdjustment.objects.filter(pk=pending.pk).update(requested_by=supervisor_user)
    services.adjustment_reject(adjustment_id=pending.pk, approver=supervisor_user, note="no")
    with pytest.raises(IntegrityError, match="final"), transaction.atomic():
        InventoryAdjustment.objects.filter(pk=pending.pk).update(state="PENDING_APPROVAL")
    with (
        pytest.raises(IntegrityError, match="never deleted"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM inventory_inventoryadjustment WHERE id = %s", [pending.pk])


# --- two approvers at once ---------------------------------------------------------------


def _decide_at_once(adjustment_id: int, deciders) -> list[str]:
    """Each (user, "approve" | "reject") in its own thread and connection, released together."""
    deciders = list(deciders)
    barrier = threading.Barrier(len(deciders))
    outcomes = []

    def decide(user, decision):
        try:
            barrier.wait()
            if decision == "approve":
                services.adjustment_approve(adjustment_id=adjustment_id, approver=user)
            else:
                services.adjustment_reject(adjustment_id=adjustment_id, approver=user, note="no")
            outcomes.append("decided")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=decider) for decider in deciders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_adjustment_approve_two_approvers_at_once_one_decision(
    warehouse,
    request_adjustment,
    controller_user,
    supervisor_user,
    second_supervisor,
    stocked,
    bin_a,
    available,
):
    """Two supervisors approve (or one approves, one rejects) the same adjustment at the same
    moment, each on its own connection: one decision, one posting, one finance event."""
    for round_no, decisions in enumerate([("approve", "approve"), ("approve", "reject")]):
        pending = request_adjustment("-1", reason="LOST", actor=controller_user)
        outcomes = _decide_at_once(
            pending.pk, zip((supervisor_user, second_supervisor), decisions, strict=True)
        )
        assert sorted(outcomes) == ["adjustment_already_decided", "decided"], round_no
        assert AdjustmentApproval.objects.filter(adjustment=pending).count() == 1
        pending.refresh_from_db()
        posted = InventoryPosting.objects.filter(
            posting_key=f"adjustment:{pending.adjustment_number}"
        ).count()
        assert posted == (1 if pending.state == AdjustmentState.APPLIED else 0)
        assert FinanceEvent.objects.filter(source_key=f"adjustment:{pending.pk}").count() == posted
