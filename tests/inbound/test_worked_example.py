"""Worked example, end to end: ASN → dock appointment → receipt with an over, an under and a
damaged line → exceptions → put-away placed by the rules → moves → balances, ledger clean."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inbound.models import InboundStatus, PutAwayTaskStatus, ReceivingExceptionType
from inbound.services import (
    AsnLineSpec,
    ReceiptLineSpec,
    dock_assignment_check_in,
    dock_assignment_create,
    inbound_shipment_close,
    inbound_shipment_create,
    putaway_task_confirm,
    receipt_post,
    receiving_exception_resolve,
)
from inventory.models import InventoryBalance, InventoryLedgerEntry, LedgerEntryType
from tests.inventory.helpers import balance_of
from wms.models import OutboxEvent

pytestmark = pytest.mark.django_db

D = Decimal


def test_worked_example_asn_to_putaway(
    layout, inbound_settings, strategy, receiver, supervisor, assert_inventory_clean
):
    """Tolerances 10 % over / 5 % under; every step's effect checked; ledger and balances agree."""
    # 1. The ERP announces 3 lines: 2 cases of SKU-A (24 EA), 50 SKU-B, 40 SKU-C.
    arrival = timezone.now() + timedelta(hours=1)
    asn = inbound_shipment_create(
        warehouse=layout.warehouse,
        external_ref="PO-4711-ASN-1",
        supplier="ACME Foods",
        expected_arrival_at=arrival,
        lines=[
            AsnLineSpec(1, "SKU-A", D("2"), "CS"),
            AsnLineSpec(2, "SKU-B", D("50"), "EA"),
            AsnLineSpec(3, "SKU-C", D("40"), "EA"),
        ],
        actor=supervisor,
    )
    assert [line.qty_expected_base for line in asn.lines.order_by("line_number")] == [
        D("24"),
        D("50"),
        D("40"),
    ]

    # 2. The supervisor books door D01 for the truck; it checks in.
    booking = dock_assignment_create(
        dock_door=layout.d1,
        starts_at=arrival - timedelta(minutes=30),
        ends_at=arrival + timedelta(hours=1),
        inbound_shipment=asn,
        actor=supervisor,
    )
    dock_assignment_check_in(assignment=booking, actor=supervisor)
    asn.refresh_from_db()
    assert asn.status == InboundStatus.ARRIVED

    # 3. One receipt, receiving complete: SKU-A 3 cases (36, 50 % over), SKU-B 45 (10 %
    #    short) and SKU-C 38 good + 2 damaged (complete, 2 damaged).
    result = receipt_post(
        shipment=asn,
        lines=[
            ReceiptLineSpec(line_number=1, qty=D("3")),
            ReceiptLineSpec(line_number=2, qty=D("45")),
            ReceiptLineSpec(line_number=3, qty=D("38")),
            ReceiptLineSpec(line_number=3, qty=D("2"), status_code="DAMAGED"),
        ],
        complete=True,
        actor=receiver,
    )
    receipt = result.receipt
    # Received at the door the truck checked in at: its location DCK-01.
    assert receipt.dock_door == layout.d1 and receipt.receiving_location == layout.dck
    assert balance_of(layout.sku_a, layout.dck, layout.available)[0] == D("36")
    assert balance_of(layout.sku_b, layout.dck, layout.available)[0] == D("45")
    assert balance_of(layout.sku_c, layout.dck, layout.available)[0] == D("38")
    assert balance_of(layout.sku_c, layout.dck, layout.damaged)[0] == D("2")
    asn.refresh_from_db()
    assert asn.status == InboundStatus.RECEIVED

    # 4. Exceptions as configured: one over (line 1), one under (line 2), one damaged.
    cases = sorted(
        (case.type, case.shipment_line.line_number if case.shipment_line else None)
        for case in result.exceptions
    )
    assert cases == [
        (ReceivingExceptionType.DAMAGED, 3),
        (ReceivingExceptionType.OVER_RECEIPT, 1),
        (ReceivingExceptionType.UNDER_RECEIPT, 2),
    ]
    assert OutboxEvent.objects.filter(event_type="exception.opened").count() == 3
    # Line 3 is complete in total (38 + 2 = 40): no variance case for it.

    # 5. Put-away tasks placed by the rules: SKU-A 36 → nearest empty pick face A-01,
    #    SKU-B → its fixed location A-03, SKU-C (FROZEN) → reserve R-01, damaged → QA-01.
    tasks = {(t.item.sku, t.inventory_status.code): t for t in result.tasks}
    placed = {key: task.to_location.code for key, task in tasks.items()}
    assert placed == {
        ("SKU-A", "AVAILABLE"): "A-01",
        ("SKU-B", "AVAILABLE"): "A-03",
        ("SKU-C", "AVAILABLE"): "R-01",
        ("SKU-C", "DAMAGED"): "QA-01",
    }
    assert all(t.from_location == layout.dck for t in result.tasks)

    # 6. The receiver confirms each task by scanning its destination: one move each.
    for task in result.tasks:
        putaway_task_confirm(task=task, location=task.to_location, actor=receiver)
    for task in result.tasks:
        task.refresh_from_db()
        assert task.status == PutAwayTaskStatus.DONE

    # 7. Balances: nothing left at the dock, everything where the rules said.
    assert not InventoryBalance.objects.filter(location=layout.dck, on_hand__gt=0).exists()
    assert balance_of(layout.sku_a, layout.a1, layout.available) == (D("36"), D("0"))
    assert balance_of(layout.sku_b, layout.a3, layout.available) == (D("45"), D("0"))
    assert balance_of(layout.sku_c, layout.r1, layout.available) == (D("38"), D("0"))
    assert balance_of(layout.sku_c, layout.qa1, layout.damaged) == (D("2"), D("0"))
    entry_types = list(
        InventoryLedgerEntry.objects.order_by("id").values_list("entry_type", flat=True)
    )
    assert entry_types.count(LedgerEntryType.RECEIPT) == 4
    assert entry_types.count(LedgerEntryType.MOVE_OUT) == 4
    assert entry_types.count(LedgerEntryType.MOVE_IN) == 4
    assert_inventory_clean()

    # 8. The supervisor decides the exceptions; only then does the ASN close.
    for case in result.exceptions:
        receiving_exception_resolve(exception=case, approve=True, note="Accepted", actor=supervisor)
    closed = inbound_shipment_close(shipment=asn, actor=supervisor)
    assert closed.status == InboundStatus.CLOSED
    assert OutboxEvent.objects.filter(event_type="exception.resolved").count() == 3
    assert OutboxEvent.objects.filter(event_type="receipt.posted").count() == 1
    assert OutboxEvent.objects.filter(event_type="inventory.received").count() == 4
