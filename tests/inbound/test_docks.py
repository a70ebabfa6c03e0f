"""Dock appointments: one door, one flow at a time (service check and database constraint)."""

import threading
from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inbound.models import DockAssignment, DockAssignmentStatus, FlowDirection, InboundStatus
from inbound.selectors import dock_day_view
from inbound.services import (
    dock_assignment_cancel,
    dock_assignment_check_in,
    dock_assignment_create,
    dock_assignment_reschedule,
)
from inventory.models import DockDirection
from tests.factories import DockDoorFactory
from wms.exceptions import BusinessValidationError, DomainError

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.get_fixed_timezone(60))


def _book(door, start_h, end_h, **kwargs):
    return dock_assignment_create(
        dock_door=door,
        starts_at=T0 + timedelta(hours=start_h),
        ends_at=T0 + timedelta(hours=end_h),
        **kwargs,
    )


def test_dock_assignment_create_books_door_for_asn(layout, make_asn, supervisor):
    """An inbound appointment links the ASN to the door for its window."""
    asn = make_asn()
    booking = _book(layout.d1, 0, 2, inbound_shipment=asn, actor=supervisor)
    assert booking.dock_door == layout.d1
    assert booking.inbound_shipment == asn
    assert booking.assigned_by == "user:sam"
    assert booking.status == DockAssignmentStatus.SCHEDULED


def test_dock_assignment_create_refuses_overlap(layout):
    """A second appointment sharing any minute with a live one is refused with a clear 409."""
    first = _book(layout.d1, 0, 2)
    with pytest.raises(DomainError) as refused:
        _book(layout.d1, 1, 3)
    assert refused.value.code == "dock_door_overlap"
    assert refused.value.status == 409
    assert refused.value.extra["conflictingAppointmentId"] == first.pk
    assert "D01" in refused.value.detail
    assert DockAssignment.objects.count() == 1


def test_dock_assignment_create_allows_back_to_back_and_other_doors(layout):
    """Windows are half-open: 8-10 and 10-12 do not overlap; another door is independent."""
    _book(layout.d1, 0, 2)
    _book(layout.d1, 2, 4)
    _book(layout.d2, 1, 3)
    assert DockAssignment.objects.count() == 3


def test_dock_assignment_cancel_frees_the_window(layout):
    """A cancelled appointment no longer holds the door."""
    first = _book(layout.d1, 0, 2)
    dock_assignment_cancel(assignment=first)
    second = _book(layout.d1, 0, 2)
    assert second.pk != first.pk


def test_dock_assignment_reschedule_refuses_overlap(layout):
    """Moving an appointment onto a booked window is refused; moving it elsewhere works."""
    _book(layout.d1, 0, 2)
    other = _book(layout.d1, 3, 4)
    with pytest.raises(DomainError) as refused:
        dock_assignment_reschedule(
            assignment=other, starts_at=T0 + timedelta(hours=1), ends_at=T0 + timedelta(hours=3)
        )
    assert refused.value.code == "dock_door_overlap"
    moved = dock_assignment_reschedule(
        assignment=other,
        starts_at=T0 + timedelta(hours=1),
        ends_at=T0 + timedelta(hours=3),
        dock_door=layout.d2,
    )
    assert moved.dock_door == layout.d2


def test_dock_assignment_create_refuses_bad_windows_and_doors(layout):
    """End before start, naive times and an outbound-only door for inbound are refused."""
    with pytest.raises(BusinessValidationError) as bad_window:
        _book(layout.d1, 2, 1)
    assert bad_window.value.code == "invalid_time_window"
    with pytest.raises(BusinessValidationError) as naive:
        dock_assignment_create(
            dock_door=layout.d1,
            starts_at=datetime(2026, 11, 23, 8),
            ends_at=datetime(2026, 11, 23, 9),
        )
    assert naive.value.code == "naive_datetime"
    outbound_only = DockDoorFactory(
        warehouse=layout.warehouse, code="D09", direction=DockDirection.OUTBOUND
    )
    with pytest.raises(BusinessValidationError) as wrong:
        _book(outbound_only, 0, 1, direction=FlowDirection.INBOUND)
    assert wrong.value.code == "dock_door_wrong_direction"
    assert _book(outbound_only, 0, 1, direction=FlowDirection.OUTBOUND, outbound_ref="Shipment:9")
    assert DockAssignment.objects.count() == 1


def test_dock_constraint_refuses_overlap_in_database(layout):
    """The PostgreSQL exclusion constraint refuses an overlap written past the service."""
    _book(layout.d1, 0, 2)
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        DockAssignment.objects.create(
            warehouse=layout.warehouse,
            dock_door=layout.d1,
            starts_at=T0 + timedelta(minutes=90),
            ends_at=T0 + timedelta(hours=5),
        )
    assert "dock_assignment_no_overlap" in str(refused.value)
    # A cancelled row may overlap: the constraint only covers live appointments.
    DockAssignment.objects.create(
        warehouse=layout.warehouse,
        dock_door=layout.d1,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        status=DockAssignmentStatus.CANCELLED,
    )


def test_dock_assignment_check_in_marks_asn_arrived(layout, make_asn):
    """Checking the truck in at the door marks the appointment and its ASN arrived."""
    asn = make_asn()
    booking = _book(layout.d1, 0, 2, inbound_shipment=asn)
    dock_assignment_check_in(assignment=booking)
    asn.refresh_from_db()
    assert booking.status == DockAssignmentStatus.ARRIVED
    assert asn.status == InboundStatus.ARRIVED
    assert asn.arrived_at is not None


def test_dock_day_view_lists_every_door_with_its_appointments(layout, supervisor, make_asn):
    """The supervisor's day view has every door, its live appointments of that day only."""
    asn = make_asn()
    _book(layout.d1, 0, 2, inbound_shipment=asn)
    _book(layout.d1, 26, 27)  # the next day
    cancelled = _book(layout.d2, 1, 2)
    dock_assignment_cancel(assignment=cancelled)
    day = dock_day_view(actor=supervisor, warehouse=layout.warehouse, day=T0.date())
    by_code = {row.door.code: row.appointments for row in day.doors}
    assert set(by_code) == {"D01", "D02"}
    assert [a.inbound_shipment for a in by_code["D01"]] == [asn]
    assert by_code["D02"] == []


@pytest.mark.django_db(transaction=True)
def test_dock_assignment_create_concurrent_bookings_one_wins(layout):
    """Two simultaneous bookings of one window on real connections: exactly one succeeds."""
    barrier = threading.Barrier(2)
    outcomes = []

    def book(offset):
        try:
            barrier.wait(timeout=10)
            _book(layout.d1, offset, offset + 2)
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(h,)) for h in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["dock_door_overlap", "ok"]
    assert DockAssignment.objects.count() == 1
