"""Receiving: postings, units, tolerances, damaged goods, blind receipts and replays."""

from decimal import Decimal

import pytest

from inbound.models import (
    InboundSettings,
    InboundShipment,
    InboundStatus,
    PutAwayTask,
    Receipt,
    ReceivingException,
    ReceivingExceptionStatus,
    ReceivingExceptionType,
)
from inbound.services import (
    AsnLineSpec,
    ReceiptLineSpec,
    inbound_shipment_close,
    inbound_shipment_complete_receiving,
    inbound_shipment_create,
    receipt_post,
    receiving_exception_resolve,
)
from inventory.models import InventoryLedgerEntry, InventoryPosting
from tests.inventory.helpers import balance_of
from wms.exceptions import BusinessValidationError, DomainError
from wms.models import OutboxEvent

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture(autouse=True)
def _with_strategy(strategy):
    """Every receipt here finds a put-away location (placement is tested in test_putaway)."""


def _events(event_type):
    return list(OutboxEvent.objects.filter(event_type=event_type).order_by("id"))


def test_receipt_post_posts_stock_into_receiving_location(
    layout, inbound_settings, make_asn, receiver
):
    """A receipt line posts one RECEIPT ledger entry into RCV-01 and counts on its ASN line."""
    asn = make_asn(lines=[(1, "SKU-A", "24", "EA")])
    result = receipt_post(
        shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("10"))], actor=receiver
    )
    assert balance_of(layout.sku_a, layout.rcv, layout.available) == (D("10"), D("0"))
    entry = InventoryLedgerEntry.objects.get()
    assert entry.entry_type == "RECEIPT"
    assert entry.source_ref == f"ReceiptLine:{result.receipt.lines.get().pk}"
    asn.refresh_from_db()
    assert asn.status == InboundStatus.RECEIVING
    assert asn.lines.get().qty_received_base == D("10")
    assert result.receipt.received_by == receiver
    [posted] = _events("receipt.posted")
    assert posted.data["lines"][0]["qtyBase"] == "10.000"
    assert len(_events("inventory.received")) == 1
    assert result.exceptions == []  # partial receipt: short is normal until completion


def test_receipt_post_converts_cases_to_base_units(layout, inbound_settings, make_asn, receiver):
    """Two cases of twelve are posted as 24 each."""
    asn = make_asn(lines=[(1, "SKU-A", "2", "CS")])
    assert asn.lines.get().qty_expected_base == D("24")
    receipt_post(shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("2"))], actor=receiver)
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == D("24")
    line = Receipt.objects.get().lines.get()
    assert (line.uom.code, line.qty_received, line.qty_base) == ("CS", D("2"), D("24"))


def test_receipt_post_by_item_scan_uses_the_chosen_unit(
    layout, inbound_settings, make_asn, receiver
):
    """A handheld receipt names the item and unit; the ASN line is found by the item."""
    asn = make_asn(lines=[(1, "SKU-B", "5", "EA"), (2, "SKU-A", "24", "EA")])
    receipt_post(
        shipment=asn,
        lines=[ReceiptLineSpec(item=layout.sku_a, uom=layout.case, qty=D("1"))],
        actor=receiver,
    )
    assert asn.lines.get(line_number=2).qty_received_base == D("12")


def test_receipt_post_over_receipt_beyond_tolerance_opens_one_case(
    layout, inbound_settings, make_asn, receiver
):
    """10 % over is tolerated; beyond it one OVER_RECEIPT case opens and follows later receipts."""
    asn = make_asn(lines=[(1, "SKU-A", "100", "EA")])
    first = receipt_post(
        shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("110"))], actor=receiver
    )
    assert first.exceptions == []
    second = receipt_post(
        shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("5"))], actor=receiver
    )
    [case] = second.exceptions
    assert case.type == ReceivingExceptionType.OVER_RECEIPT
    assert (case.qty_expected_base, case.qty_received_base) == (D("100"), D("115"))
    receipt_post(shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("5"))], actor=receiver)
    case.refresh_from_db()
    assert case.qty_received_base == D("120")
    assert ReceivingException.objects.count() == 1
    assert len(_events("exception.opened")) == 1


def test_receipt_post_complete_judges_under_receipts(layout, inbound_settings, make_asn, receiver):
    """On completion a line short by more than 5 % opens UNDER_RECEIPT; within 5 % does not."""
    asn = make_asn(lines=[(1, "SKU-A", "100", "EA"), (2, "SKU-B", "100", "EA")])
    result = receipt_post(
        shipment=asn,
        lines=[
            ReceiptLineSpec(line_number=1, qty=D("96")),
            ReceiptLineSpec(line_number=2, qty=D("90")),
        ],
        complete=True,
        actor=receiver,
    )
    variance = [c for c in result.exceptions if c.type == ReceivingExceptionType.UNDER_RECEIPT]
    assert [(c.shipment_line.line_number, c.qty_received_base) for c in variance] == [(2, D("90"))]
    asn.refresh_from_db()
    assert asn.status == InboundStatus.RECEIVED
    assert len(_events("inbound_shipment.received")) == 1


def test_inbound_shipment_complete_receiving_counts_missing_lines(
    layout, inbound_settings, make_asn, receiver
):
    """A line never received is 100 % short; completing twice opens nothing more."""
    asn = make_asn(lines=[(1, "SKU-A", "10", "EA"), (2, "SKU-B", "10", "EA")])
    receipt_post(shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("10"))], actor=receiver)
    _asn, cases = inbound_shipment_complete_receiving(shipment=asn, actor=receiver)
    assert [(c.type, c.shipment_line.line_number) for c in cases] == [
        (ReceivingExceptionType.UNDER_RECEIPT, 2)
    ]
    assert inbound_shipment_complete_receiving(shipment=asn)[1] == []
    with pytest.raises(DomainError) as late:
        receipt_post(
            shipment=asn, lines=[ReceiptLineSpec(line_number=2, qty=D("1"))], actor=receiver
        )
    assert late.value.code == "shipment_receiving_completed"


def test_receipt_post_damaged_goods_into_damaged_status(
    layout, inbound_settings, make_asn, receiver
):
    """Damaged goods are posted in DAMAGED and open a DAMAGED case (configurable)."""
    asn = make_asn(lines=[(1, "SKU-A", "10", "EA")])
    result = receipt_post(
        shipment=asn,
        lines=[
            ReceiptLineSpec(line_number=1, qty=D("8")),
            ReceiptLineSpec(line_number=1, qty=D("2"), status_code="DAMAGED"),
        ],
        actor=receiver,
    )
    assert balance_of(layout.sku_a, layout.rcv, layout.damaged)[0] == D("2")
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == D("8")
    assert [c.type for c in result.exceptions] == [ReceivingExceptionType.DAMAGED]
    inbound_settings.damaged_opens_exception = False
    inbound_settings.save()
    again = receipt_post(
        shipment=asn,
        lines=[ReceiptLineSpec(line_number=1, qty=D("1"), status_code="DAMAGED")],
        actor=receiver,
    )
    assert [c.type for c in again.exceptions if c.type == "DAMAGED"] == []


def test_receipt_post_at_a_dock_door_posts_into_its_location(
    layout, inbound_settings, make_asn, receiver
):
    """Receiving at door D01 posts into the door's location DCK-01."""
    asn = make_asn()
    result = receipt_post(
        shipment=asn,
        dock_door=layout.d1,
        lines=[ReceiptLineSpec(line_number=1, qty=D("3"))],
        actor=receiver,
    )
    assert result.receipt.receiving_location == layout.dck
    assert balance_of(layout.sku_a, layout.dck, layout.available)[0] == D("3")


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"line_number": 9, "qty": D("1")}, "unknown_line_number"),
        ({"line_number": 1, "qty": D("0")}, "quantity_not_positive"),
        ({"line_number": 1, "qty": D("1.0001")}, "quantity_precision"),
        ({"line_number": 1, "qty": D("1"), "status_code": "NOPE"}, "unknown_status"),
        ({"item": "sku_c", "qty": D("1")}, "item_not_on_asn"),
        ({"line_number": 1, "item": "sku_b", "qty": D("1")}, "item_not_on_line"),
    ],
)
def test_receipt_post_refuses_bad_lines_and_changes_nothing(
    layout, inbound_settings, make_asn, receiver, spec, code
):
    """Every refused receipt leaves no receipt, posting, task or event behind."""
    asn = make_asn()
    events_before = OutboxEvent.objects.count()
    spec = dict(spec)
    if "item" in spec:
        spec["item"] = getattr(layout, spec["item"])
    if "uom" in spec:
        spec["uom"] = getattr(layout, spec["uom"])
    good = ReceiptLineSpec(line_number=1, qty=D("1"))
    with pytest.raises(BusinessValidationError) as refused:
        receipt_post(shipment=asn, lines=[good, ReceiptLineSpec(**spec)], actor=receiver)
    assert refused.value.errors[0]["code"] == code
    assert refused.value.errors[0]["field"].startswith("lines[1]")
    assert Receipt.objects.count() == 0
    assert InventoryPosting.objects.count() == 0
    assert PutAwayTask.objects.count() == 0
    assert OutboxEvent.objects.count() == events_before
    asn.refresh_from_db()
    assert asn.status == InboundStatus.EXPECTED


def test_receipt_post_blind_needs_the_permission(layout, inbound_settings, receiver, supervisor):
    """A receiver may not receive without an ASN; a supervisor (receive_blind) may."""
    line = ReceiptLineSpec(item=layout.sku_b, qty=D("4"))
    with pytest.raises(DomainError) as refused:
        receipt_post(warehouse=layout.warehouse, lines=[line], actor=receiver)
    assert (refused.value.code, refused.value.status) == ("blind_receiving_not_permitted", 403)
    result = receipt_post(warehouse=layout.warehouse, lines=[line], actor=supervisor)
    assert result.receipt.is_blind
    assert result.receipt.shipment is None
    assert balance_of(layout.sku_b, layout.rcv, layout.available)[0] == D("4")


def test_receipt_post_client_key_replays_the_first_receipt(
    layout, inbound_settings, make_asn, receiver
):
    """A resubmitted handheld form (same key) returns the first receipt and posts nothing."""
    asn = make_asn()
    line = [ReceiptLineSpec(line_number=1, qty=D("6"))]
    first = receipt_post(shipment=asn, lines=line, client_key="form-123", actor=receiver)
    again = receipt_post(shipment=asn, lines=line, client_key="form-123", actor=receiver)
    assert again.replayed and again.receipt.pk == first.receipt.pk
    assert InventoryPosting.objects.count() == 1
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == D("6")


def test_inbound_shipment_close_waits_for_exceptions(
    layout, inbound_settings, make_asn, receiver, supervisor
):
    """Closing is refused while a case is open; a supervisor's decision lets it close."""
    asn = make_asn(lines=[(1, "SKU-A", "10", "EA")])
    result = receipt_post(
        shipment=asn,
        lines=[ReceiptLineSpec(line_number=1, qty=D("5"))],
        complete=True,
        actor=receiver,
    )
    [case] = result.exceptions
    with pytest.raises(DomainError) as refused:
        inbound_shipment_close(shipment=asn, actor=supervisor)
    assert refused.value.code == "open_exceptions"
    with pytest.raises(DomainError) as not_allowed:
        receiving_exception_resolve(exception=case, approve=True, actor=receiver)
    assert not_allowed.value.status == 403
    receiving_exception_resolve(
        exception=case, approve=True, note="Supplier credit", actor=supervisor
    )
    case.refresh_from_db()
    assert case.status == ReceivingExceptionStatus.APPROVED
    assert case.resolved_by == supervisor
    [resolved] = _events("exception.resolved")
    assert resolved.data["resolution"] == "APPROVED"
    closed = inbound_shipment_close(shipment=asn, actor=supervisor)
    assert closed.status == InboundStatus.CLOSED


def test_inbound_shipment_create_refuses_duplicates_and_reports_every_bad_line(layout, make_asn):
    """Same external reference → 409 naming the ASN; all bad lines are listed in one error."""
    asn = make_asn(ref="ASN-9")
    with pytest.raises(DomainError) as duplicate:
        make_asn(ref="ASN-9")
    assert duplicate.value.code == "duplicate_inbound_shipment"
    assert duplicate.value.extra == {"existingId": asn.pk}
    with pytest.raises(BusinessValidationError) as invalid:
        inbound_shipment_create(
            warehouse=layout.warehouse,
            external_ref="ASN-10",
            supplier="ACME",
            expected_arrival_at=asn.expected_arrival_at,
            lines=[
                AsnLineSpec(1, "SKU-NOPE", D("1"), "EA"),
                AsnLineSpec(1, "SKU-A", D("1"), "EA"),
                AsnLineSpec(2, "SKU-B", D("1"), "CS"),
                AsnLineSpec(3, "SKU-A", D("1"), "KG"),
            ],
        )
    codes = [(e["field"], e["code"]) for e in invalid.value.errors]
    assert codes == [
        ("lines[0].sku", "unknown_sku"),
        ("lines[1].lineNumber", "duplicate_line_number"),
        ("lines[2].uom", "unknown_uom_for_item"),
        ("lines[3].uom", "unknown_uom"),
    ]
    assert not InboundShipment.objects.filter(external_ref="ASN-10").exists()


def test_inbound_settings_defaults_apply_without_a_row(layout, make_asn, receiver):
    """Without settings: zero tolerance and the first RECEIVING location."""
    assert not InboundSettings.objects.exists()
    asn = make_asn(lines=[(1, "SKU-A", "10", "EA")])
    result = receipt_post(
        shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("11"))], actor=receiver
    )
    assert result.receipt.receiving_location == layout.rcv
    assert [c.type for c in result.exceptions][:1] == [ReceivingExceptionType.OVER_RECEIPT]


@pytest.mark.django_db(transaction=True)
def test_receipt_post_concurrent_receipts_of_one_asn_add_up(
    layout, inbound_settings, make_asn, receiver
):
    """Four receipts of one ASN line on real connections at once: totals and stock add up,
    and exactly one over-receipt case is open."""
    import threading

    from django.db import connection

    asn = make_asn(lines=[(1, "SKU-A", "100", "EA")])
    barrier = threading.Barrier(4)
    errors = []

    def receive():
        try:
            barrier.wait(timeout=10)
            receipt_post(
                shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("30"))], actor=receiver
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=receive) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert asn.lines.get().qty_received_base == D("120")
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == D("120")
    [case] = ReceivingException.objects.filter(type=ReceivingExceptionType.OVER_RECEIPT)
    assert case.qty_received_base == D("120")
    assert Receipt.objects.count() == 4


def test_receipt_post_refuses_a_user_of_another_warehouse(layout, inbound_settings, make_asn):
    """A receiver granted only another warehouse cannot receive here, even calling the service."""
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory, WarehouseFactory

    outsider = UserFactory(username="olga", warehouses=[WarehouseFactory(code="BCN1")])
    outsider.groups.add(Group.objects.get(name="receiver"))
    asn = make_asn()
    with pytest.raises(DomainError) as refused:
        receipt_post(
            shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("1"))], actor=outsider
        )
    assert (refused.value.code, refused.value.status) == ("permission_denied", 403)
    assert not Receipt.objects.exists()
