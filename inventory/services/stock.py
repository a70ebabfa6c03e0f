"""Stock postings: receipts, moves, status transfers, issues and count adjustments."""

from decimal import Decimal

from django.conf import settings

from ..exceptions import InvalidPosting
from ..models import (
    InventoryStatus,
    Item,
    LedgerEntryType,
    Location,
    PostingKind,
    ReasonCode,
)
from .engine import (
    Line,
    Plan,
    PostingCompanion,
    PostingResult,
    accepting,
    post,
    posting_transaction,
    qty_checked,
    same_warehouse,
)


@posting_transaction
def stock_receive(
    *,
    item: Item,
    location: Location,
    status: InventoryStatus,
    qty,
    posting_key: str,
    source_ref: str,
    actor=None,
) -> PostingResult:
    """Stock arrives at ``location`` (a receipt, a return)."""
    qty = qty_checked(qty)
    same_warehouse(item, location)
    accepting(location)
    return post(
        kind=PostingKind.RECEIVE,
        posting_key=posting_key,
        content={
            "item": item,
            "location": location,
            "status": status,
            "qty": qty,
            "source_ref": source_ref,
        },
        source_ref=source_ref,
        actor=actor,
        plan=Plan(
            lines=[Line(LedgerEntryType.RECEIPT, item, location, status, on_hand_delta=qty)],
            event_type="inventory.received",
            item=item,
            qty=qty,
            event={"location": location.code, "status": status.code},
        ),
    )


@posting_transaction
def stock_move(
    *,
    item: Item,
    from_location: Location,
    to_location: Location,
    status: InventoryStatus,
    qty,
    posting_key: str,
    source_ref: str,
    actor=None,
) -> PostingResult:
    """Available stock moves between two locations of one warehouse (put-away, relocation)."""
    qty = qty_checked(qty)
    same_warehouse(item, from_location, to_location)
    if from_location.pk == to_location.pk:
        raise InvalidPosting("A move needs two different locations.", code="same_location")
    accepting(to_location)
    return post(
        kind=PostingKind.MOVE,
        posting_key=posting_key,
        content={
            "item": item,
            "from_location": from_location,
            "to_location": to_location,
            "status": status,
            "qty": qty,
            "source_ref": source_ref,
        },
        source_ref=source_ref,
        actor=actor,
        plan=Plan(
            lines=[
                Line(LedgerEntryType.MOVE_OUT, item, from_location, status, on_hand_delta=-qty),
                Line(LedgerEntryType.MOVE_IN, item, to_location, status, on_hand_delta=qty),
            ],
            event_type="inventory.moved",
            item=item,
            qty=qty,
            event={
                "fromLocation": from_location.code,
                "toLocation": to_location.code,
                "status": status.code,
            },
        ),
    )


def _reason(reason_code) -> str:
    return reason_code.code if isinstance(reason_code, ReasonCode) else reason_code


@posting_transaction
def stock_status_transfer(
    *,
    item: Item,
    location: Location,
    from_status: InventoryStatus,
    to_status: InventoryStatus,
    qty,
    posting_key: str,
    source_ref: str,
    actor=None,
    reason_code: str = "",
) -> PostingResult:
    """Available stock changes status in place (available → quarantined, damaged…)."""
    qty = qty_checked(qty)
    same_warehouse(item, location)
    if from_status.pk == to_status.pk:
        raise InvalidPosting("A status transfer needs two different statuses.", code="same_status")
    reason_code = _reason(reason_code)
    return post(
        kind=PostingKind.STATUS_TRANSFER,
        posting_key=posting_key,
        content={
            "item": item,
            "location": location,
            "from_status": from_status,
            "to_status": to_status,
            "qty": qty,
            "source_ref": source_ref,
            "reason_code": reason_code,
        },
        source_ref=source_ref,
        actor=actor,
        plan=Plan(
            lines=[
                Line(LedgerEntryType.STATUS_OUT, item, location, from_status, on_hand_delta=-qty),
                Line(LedgerEntryType.STATUS_IN, item, location, to_status, on_hand_delta=qty),
            ],
            event_type="inventory.status_changed",
            item=item,
            qty=qty,
            reason_code=reason_code,
            event={
                "location": location.code,
                "fromStatus": from_status.code,
                "toStatus": to_status.code,
                "reasonCode": reason_code,
            },
        ),
    )


@posting_transaction
def stock_issue(
    *,
    item: Item,
    location: Location,
    status: InventoryStatus,
    qty,
    posting_key: str,
    source_ref: str,
    actor=None,
) -> PostingResult:
    """Available (unreserved) stock leaves the warehouse on a shipment."""
    qty = qty_checked(qty)
    same_warehouse(item, location)
    return post(
        kind=PostingKind.ISSUE,
        posting_key=posting_key,
        content={
            "item": item,
            "location": location,
            "status": status,
            "qty": qty,
            "source_ref": source_ref,
        },
        source_ref=source_ref,
        actor=actor,
        plan=Plan(
            lines=[Line(LedgerEntryType.ISSUE, item, location, status, on_hand_delta=-qty)],
            event_type="inventory.issued",
            item=item,
            qty=qty,
            event={"location": location.code, "status": status.code},
        ),
    )


@posting_transaction
def stock_adjust(
    *,
    item: Item,
    location: Location,
    status: InventoryStatus,
    qty_delta,
    reason_code,
    posting_key: str,
    source_ref: str,
    actor=None,
    companion: PostingCompanion | None = None,
) -> PostingResult:
    """A count found more (positive delta) or less (negative delta) than the books say.

    A negative delta may only take available stock: reservations on the
    balance must be released first (a count never silently breaks a pick).
    ``companion``: the adjustment's own rows, written in the posting's statement
    (``inventory.services.adjustments``).
    """
    qty_delta = qty_checked(qty_delta, field_name="qty_delta", allow_negative=True)
    same_warehouse(item, location)
    reason_code = _reason(reason_code)
    if not reason_code:
        raise InvalidPosting("An adjustment needs a reason code.", code="reason_code_required")
    return post(
        kind=PostingKind.ADJUST,
        posting_key=posting_key,
        content={
            "item": item,
            "location": location,
            "status": status,
            "qty_delta": qty_delta,
            "reason_code": reason_code,
            "source_ref": source_ref,
        },
        source_ref=source_ref,
        actor=actor,
        companion=companion,
        plan=Plan(
            lines=[
                Line(LedgerEntryType.ADJUSTMENT, item, location, status, on_hand_delta=qty_delta)
            ],
            event_type="inventory.adjusted",
            item=item,
            qty=qty_delta,
            reason_code=reason_code,
            event={
                "location": location.code,
                "status": status.code,
                "reasonCode": reason_code,
                "unitCost": format(item.unit_cost, "f"),
                "amount": format((qty_delta * item.unit_cost).quantize(Decimal("0.0001")), "f"),
                "currency": settings.WMS_CURRENCY,
            },
        ),
    )
