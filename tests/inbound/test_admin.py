"""Inbound admin: ASNs and dock appointments through the services, the day view of the doors,
exception decisions, and the warehouse grant."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inbound.models import (
    DockAssignment,
    InboundShipment,
    ReceivingException,
    ReceivingExceptionStatus,
)
from inbound.services import ReceiptLineSpec, dock_assignment_create, receipt_post
from tests.factories import DockDoorFactory, WarehouseFactory
from wms.models import OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def sam(client, supervisor):
    client.force_login(supervisor)
    return client


def _inline(prefix, rows, total=None):
    data = {
        f"{prefix}-TOTAL_FORMS": str(total if total is not None else len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{index}-{key}"] = value
    return data


def _asn_form(layout, ref="ASN-ADM-1", lines=None):
    lines = lines or [
        {"line_number": "1", "item": layout.sku_a.pk, "uom": layout.case.pk, "qty_expected": "3"}
    ]
    data = {
        "warehouse": layout.warehouse.pk,
        "external_ref": ref,
        "supplier": "ACME",
        "type": "SUPPLIER",
        "expected_arrival_at_0": "2026-11-23",
        "expected_arrival_at_1": "08:00:00",
    }
    data.update(_inline("lines", lines))
    data.update(_inline("receipts", []))
    return data


def test_admin_every_inbound_changelist_opens(sam, layout):
    """Each inbound admin list answers 200 for a supervisor."""
    for model in (
        "inboundsettings",
        "putawaystrategy",
        "inboundshipment",
        "dockassignment",
        "receipt",
        "putawaytask",
        "receivingexception",
    ):
        assert sam.get(f"/admin/inbound/{model}/").status_code == 200, model


def test_admin_asn_add_creates_through_the_service(sam, layout):
    """Adding an ASN with a line in cases stores base units and emits the created event."""
    response = sam.post("/admin/inbound/inboundshipment/add/", _asn_form(layout))
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    asn = InboundShipment.objects.get()
    assert asn.source == "user:sam"
    line = asn.lines.get()
    assert (line.qty_expected, line.qty_expected_base) == (Decimal("3"), Decimal("36"))
    event = OutboxEvent.objects.get(event_type="inbound_shipment.created")
    assert event.data["lines"][0]["uom"] == "CS"


def test_admin_asn_add_refuses_unit_without_conversion(sam, layout):
    """A line in a unit the item does not convert from is a form error; nothing is stored."""
    lines = [
        {"line_number": "1", "item": layout.sku_b.pk, "uom": layout.case.pk, "qty_expected": "1"}
    ]
    response = sam.post("/admin/inbound/inboundshipment/add/", _asn_form(layout, lines=lines))
    assert response.status_code == 200
    assert "has no conversion from CS to EA" in response.content.decode()
    assert not InboundShipment.objects.exists()


def test_admin_dock_assignment_overlap_is_a_form_error(sam, layout):
    """Booking a taken window in the admin shows the clash; nothing is stored."""
    start = timezone.make_aware(datetime(2026, 11, 23, 8, 0))
    dock_assignment_create(dock_door=layout.d1, starts_at=start, ends_at=start + timedelta(hours=2))
    data = {
        "dock_door": layout.d1.pk,
        "direction": "INBOUND",
        "outbound_ref": "",
        "starts_at_0": "2026-11-23",
        "starts_at_1": "09:00:00",
        "ends_at_0": "2026-11-23",
        "ends_at_1": "11:00:00",
        "note": "",
    }
    response = sam.post("/admin/inbound/dockassignment/add/", data)
    assert response.status_code == 200
    assert "Door D01 is already booked from 2026-11-23 08:00 to 10:00." in response.content.decode()
    assert DockAssignment.objects.count() == 1
    data["dock_door"] = layout.d2.pk
    assert sam.post("/admin/inbound/dockassignment/add/", data).status_code == 302
    booked = DockAssignment.objects.get(dock_door=layout.d2)
    assert booked.assigned_by == "user:sam"
    assert booked.warehouse == layout.warehouse


def test_admin_dock_day_view_shows_doors_and_appointments(sam, layout, make_asn):
    """The day view lists every door with its appointments of the day on a timeline."""
    asn = make_asn(ref="ASN-DAY")
    start = timezone.make_aware(datetime(2026, 11, 23, 6, 0))
    dock_assignment_create(
        dock_door=layout.d1,
        starts_at=start,
        ends_at=start + timedelta(hours=6),
        inbound_shipment=asn,
    )
    response = sam.get("/admin/inbound/dockassignment/day/?warehouse=MAD1&date=2026-11-23")
    assert response.status_code == 200
    rows = {row["door"].code: row["bars"] for row in response.context["rows"]}
    assert set(rows) == {"D01", "D02"}
    [bar] = rows["D01"]
    assert (bar["left"], bar["width"]) == (25.0, 25.0)
    assert "ASN-DAY" in response.content.decode()
    assert (
        sam.get("/admin/inbound/dockassignment/day/?date=2026-11-24").context["rows"][0]["bars"]
        == []
    )


def test_admin_exception_approve_action_needs_the_permission(
    client, sam, layout, inbound_settings, make_asn, receiver
):
    """A supervisor approves through the action; a receiver has no such action."""
    asn = make_asn(lines=[(1, "SKU-A", "10", "EA")])
    receipt_post(
        shipment=asn,
        lines=[ReceiptLineSpec(line_number=1, qty=Decimal("5"))],
        complete=True,
        actor=receiver,
    )
    case = ReceivingException.objects.get(type="UNDER_RECEIPT")
    response = sam.post(
        "/admin/inbound/receivingexception/",
        {"action": "approve", "_selected_action": [case.pk]},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == ReceivingExceptionStatus.APPROVED
    client.force_login(receiver)
    listing = client.get("/admin/inbound/receivingexception/")
    assert listing.status_code == 200
    assert listing.context["action_form"] is None  # no action offered at all
    other = ReceivingException.objects.create(
        warehouse=layout.warehouse, type="DAMAGED", shipment=asn, detail="test"
    )
    client.post(
        "/admin/inbound/receivingexception/",
        {"action": "approve", "_selected_action": [other.pk]},
    )
    other.refresh_from_db()
    assert other.status == ReceivingExceptionStatus.OPEN


def test_admin_lists_stop_at_the_warehouse_grant(sam, layout, make_asn):
    """ASNs and doors of a warehouse not granted are neither listed nor bookable."""
    make_asn(ref="ASN-MAD")
    other = WarehouseFactory(code="BCN1")
    from inbound.services import AsnLineSpec, inbound_shipment_create
    from tests.factories import ItemFactory

    ItemFactory(warehouse=other, sku="SKU-BCN", base_uom=layout.each)
    inbound_shipment_create(
        warehouse=other,
        external_ref="ASN-BCN",
        supplier="X",
        expected_arrival_at=timezone.now(),
        lines=[AsnLineSpec(1, "SKU-BCN", Decimal("1"), "EA")],
    )
    door = DockDoorFactory(warehouse=other, code="B01")
    listing = sam.get("/admin/inbound/inboundshipment/").content.decode()
    assert "ASN-MAD" in listing and "ASN-BCN" not in listing
    form = sam.get("/admin/inbound/dockassignment/add/").context["adminform"].form
    assert door not in form.fields["dock_door"].queryset
