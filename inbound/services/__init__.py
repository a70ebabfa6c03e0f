"""Writes of the inbound context: ASNs, dock appointments, receipts, put-away, exceptions.

Owns: ``InboundShipment`` and its lines, ``DockAssignment``, ``Receipt`` and its
lines, ``PutAwayTask``, ``ReceivingException`` (and reads ``InboundSettings`` /
``PutAwayStrategy``, configured in the admin).

Invariants:
- stock changes only through ``inventory.services`` (``stock_receive`` per
  receipt line, ``stock_move`` per put-away task), each under a posting key
  derived from the row it belongs to, so a retry never posts twice;
- an ASN line's ``qty_received_base`` is the sum of its receipt lines;
- two live appointments of one dock door never overlap;
- at most one open over- or under-receipt case per ASN line;
- an ASN is closed only when none of its exceptions is open.

Lock order: see ``inbound.locks`` (ASN → dock doors → inbound settings →
put-away task / exceptions → stock balances).
"""

from .asn import (
    AsnLineSpec,
    inbound_shipment_close,
    inbound_shipment_complete_receiving,
    inbound_shipment_create,
    inbound_shipment_line_delete,
    inbound_shipment_line_save,
    inbound_shipment_mark_arrived,
    inbound_shipment_update,
)
from .docks import (
    dock_assignment_cancel,
    dock_assignment_check_in,
    dock_assignment_complete,
    dock_assignment_create,
    dock_assignment_reschedule,
)
from .exception_cases import receiving_exception_resolve
from .putaway import PutAwayResult, putaway_task_confirm
from .receiving import ReceiptLineSpec, ReceiptResult, receipt_post

__all__ = [
    "AsnLineSpec",
    "PutAwayResult",
    "ReceiptLineSpec",
    "ReceiptResult",
    "dock_assignment_cancel",
    "dock_assignment_check_in",
    "dock_assignment_complete",
    "dock_assignment_create",
    "dock_assignment_reschedule",
    "inbound_shipment_close",
    "inbound_shipment_complete_receiving",
    "inbound_shipment_create",
    "inbound_shipment_line_delete",
    "inbound_shipment_line_save",
    "inbound_shipment_mark_arrived",
    "inbound_shipment_update",
    "putaway_task_confirm",
    "receipt_post",
    "receiving_exception_resolve",
]
