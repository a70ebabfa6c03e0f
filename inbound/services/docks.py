"""Dock appointments: a door booked for one inbound or outbound flow over a time window.

Two live appointments of one door never overlap. The service checks under a
lock on the door row (a clear 409 ``dock_door_overlap`` on every database);
on PostgreSQL the exclusion constraint ``dock_assignment_no_overlap`` refuses
the overlap even for a writer that bypasses this service.
"""

from django.db import IntegrityError, transaction

from inventory.models import DockDirection, DockDoor
from wms.exceptions import BusinessValidationError, DomainError

from ..locks import lock_dock_door, lock_shipment
from ..models import DockAssignment, DockAssignmentStatus, FlowDirection, InboundStatus
from .asn import mark_arrived
from .common import actor_label, require_aware


def overlapping(*, dock_door_id: int, starts_at, ends_at, exclude_pk=None):
    """Live appointments of the door that share any instant with ``[starts_at, ends_at)``."""
    qs = DockAssignment.objects.filter(
        dock_door_id=dock_door_id, starts_at__lt=ends_at, ends_at__gt=starts_at
    ).exclude(status=DockAssignmentStatus.CANCELLED)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.order_by("starts_at")


def _check_window(starts_at, ends_at) -> None:
    require_aware(starts_at, "startsAt")
    require_aware(ends_at, "endsAt")
    if ends_at <= starts_at:
        raise BusinessValidationError(
            "An appointment must end after it starts.",
            code="invalid_time_window",
            errors=[{"field": "endsAt", "code": "invalid_time_window", "message": "Too early."}],
        )


def _check_door(dock_door: DockDoor, direction: str) -> None:
    if dock_door.direction not in (DockDirection.BOTH, direction):
        raise BusinessValidationError(
            f"Door {dock_door.code} is for {dock_door.get_direction_display().lower()} only.",
            code="dock_door_wrong_direction",
        )


def _refuse_overlap(*, dock_door: DockDoor, starts_at, ends_at, exclude_pk=None) -> None:
    clash = overlapping(
        dock_door_id=dock_door.pk, starts_at=starts_at, ends_at=ends_at, exclude_pk=exclude_pk
    ).first()
    if clash is not None:
        raise overlap_error(dock_door, clash)


def overlap_error(dock_door: DockDoor, clash: DockAssignment | None) -> DomainError:
    when = (
        f" ({clash.starts_at:%Y-%m-%d %H:%M}-{clash.ends_at:%H:%M} UTC)"
        if clash is not None
        else ""
    )
    return DomainError(
        f"Door {dock_door.code} is already booked{when}.",
        code="dock_door_overlap",
        extra={"conflictingAppointmentId": clash.pk if clash is not None else None},
    )


def _save(assignment: DockAssignment, dock_door: DockDoor, **kwargs) -> DockAssignment:
    try:
        with transaction.atomic():
            assignment.save(**kwargs)
    except IntegrityError as exc:
        # Only the exclusion constraint can refuse here (the checks above ran):
        # a writer outside this service booked the door meanwhile.
        clash = overlapping(
            dock_door_id=dock_door.pk,
            starts_at=assignment.starts_at,
            ends_at=assignment.ends_at,
            exclude_pk=assignment.pk,
        ).first()
        raise overlap_error(dock_door, clash) from exc
    return assignment


@transaction.atomic
def dock_assignment_create(
    *,
    dock_door: DockDoor,
    starts_at,
    ends_at,
    direction: str = FlowDirection.INBOUND,
    inbound_shipment=None,
    outbound_ref: str = "",
    note: str = "",
    actor=None,
) -> DockAssignment:
    """Book ``dock_door`` for ``[starts_at, ends_at)``; 409 ``dock_door_overlap`` if taken."""
    _check_window(starts_at, ends_at)
    _check_door(dock_door, direction)
    if inbound_shipment is not None:
        if direction != FlowDirection.INBOUND:
            raise BusinessValidationError(
                "Only an inbound appointment names an ASN.", code="invalid_direction"
            )
        if inbound_shipment.warehouse_id != dock_door.warehouse_id:
            raise BusinessValidationError(
                "The ASN belongs to another warehouse.", code="warehouse_mismatch"
            )
        if inbound_shipment.status == InboundStatus.CLOSED:
            raise DomainError("The ASN is closed.", code="shipment_closed")
    dock_door = lock_dock_door(dock_door.pk)
    _refuse_overlap(dock_door=dock_door, starts_at=starts_at, ends_at=ends_at)
    assignment = DockAssignment(
        warehouse_id=dock_door.warehouse_id,
        dock_door=dock_door,
        direction=direction,
        inbound_shipment=inbound_shipment,
        outbound_ref=outbound_ref,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note,
        assigned_by=actor_label(actor),
    )
    return _save(assignment, dock_door)


@transaction.atomic
def dock_assignment_reschedule(
    *, assignment: DockAssignment, starts_at, ends_at, dock_door: DockDoor | None = None, actor=None
) -> DockAssignment:
    """Move an appointment to another window (and door); the same overlap rule applies."""
    _check_window(starts_at, ends_at)
    dock_door = dock_door or assignment.dock_door
    _check_door(dock_door, assignment.direction)
    if dock_door.warehouse_id != assignment.warehouse_id:
        raise BusinessValidationError(
            "The door is in another warehouse.", code="warehouse_mismatch"
        )
    if assignment.status == DockAssignmentStatus.CANCELLED:
        raise DomainError("A cancelled appointment cannot be moved.", code="appointment_cancelled")
    # Lock both doors in primary-key order when the appointment changes door.
    for pk in sorted({assignment.dock_door_id, dock_door.pk}):
        locked = lock_dock_door(pk)
        if pk == dock_door.pk:
            dock_door = locked
    _refuse_overlap(
        dock_door=dock_door, starts_at=starts_at, ends_at=ends_at, exclude_pk=assignment.pk
    )
    assignment.dock_door = dock_door
    assignment.starts_at = starts_at
    assignment.ends_at = ends_at
    return _save(assignment, dock_door, update_fields=["dock_door", "starts_at", "ends_at"])


@transaction.atomic
def dock_assignment_cancel(*, assignment: DockAssignment, actor=None) -> DockAssignment:
    if assignment.status == DockAssignmentStatus.CANCELLED:
        return assignment
    if assignment.status == DockAssignmentStatus.COMPLETED:
        raise DomainError("A completed appointment cannot be cancelled.", code="appointment_done")
    assignment.status = DockAssignmentStatus.CANCELLED
    assignment.save(update_fields=["status"])
    return assignment


@transaction.atomic
def dock_assignment_check_in(*, assignment: DockAssignment, actor=None) -> DockAssignment:
    """The truck is at the door: the appointment is ARRIVED and so is its ASN."""
    if assignment.status == DockAssignmentStatus.CANCELLED:
        raise DomainError("The appointment was cancelled.", code="appointment_cancelled")
    if assignment.inbound_shipment_id:
        mark_arrived(lock_shipment(assignment.inbound_shipment_id))
    if assignment.status == DockAssignmentStatus.SCHEDULED:
        assignment.status = DockAssignmentStatus.ARRIVED
        assignment.save(update_fields=["status"])
    return assignment


@transaction.atomic
def dock_assignment_complete(*, assignment: DockAssignment, actor=None) -> DockAssignment:
    if assignment.status == DockAssignmentStatus.CANCELLED:
        raise DomainError("The appointment was cancelled.", code="appointment_cancelled")
    if assignment.status != DockAssignmentStatus.COMPLETED:
        assignment.status = DockAssignmentStatus.COMPLETED
        assignment.save(update_fields=["status"])
    return assignment
