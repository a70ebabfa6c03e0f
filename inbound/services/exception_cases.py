"""Receiving exceptions: opened by receiving and put-away, decided by a supervisor."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from wms.exceptions import DomainError
from wms.outbox import outbox_emit

from ..locks import lock_exceptions
from ..models import (
    InboundSettings,
    InboundShipmentLine,
    ReceivingException,
    ReceivingExceptionStatus,
    ReceivingExceptionType,
)
from .common import actor_has_perm, actor_user

APPROVE_PERMISSION = "inbound.approve_receivingexception"


def _event_data(case: ReceivingException) -> dict:
    return {
        "exceptionId": case.pk,
        "context": "receiving",
        "type": case.type,
        "status": case.status,
        "warehouse": case.warehouse.code,
        "inboundShipmentId": case.shipment_id,
        "externalRef": case.shipment.external_ref if case.shipment_id else None,
        "lineNumber": case.shipment_line.line_number if case.shipment_line_id else None,
        "receiptId": case.receipt_id,
        "putAwayTaskId": case.put_away_task_id,
        "sku": case.item.sku if case.item_id else None,
        "qtyExpected": case.qty_expected_base,
        "qtyReceived": case.qty_received_base,
        "detail": case.detail,
    }


def receiving_exception_open(**fields) -> ReceivingException:
    """Create an open case and announce it (``exception.opened``). Runs inside the caller's
    transaction."""
    case = ReceivingException.objects.create(**fields)
    outbox_emit(
        event_type="exception.opened",
        aggregate_type="ReceivingException",
        aggregate_id=case.pk,
        data=_event_data(case),
    )
    return case


def pct_of(part: Decimal, whole: Decimal) -> Decimal:
    return (part * Decimal("100") / whole).quantize(Decimal("0.01"))


def variance_check(
    *, line: InboundShipmentLine, settings_row: InboundSettings, final: bool, receipt=None
) -> ReceivingException | None:
    """Open (or bring up to date) the line's variance case when it breaks a tolerance.

    Over-receipt is checked at every receipt; under-receipt only when receiving
    of the ASN is completed (``final``), since partial receipts are normal.
    Caller holds the shipment lock.
    """
    expected, received = line.qty_expected_base, line.qty_received_base
    if received > expected:
        case_type = ReceivingExceptionType.OVER_RECEIPT
        tolerance = settings_row.over_receipt_tolerance_pct
        variance_pct = pct_of(received - expected, expected)
    elif final and received < expected:
        case_type = ReceivingExceptionType.UNDER_RECEIPT
        tolerance = settings_row.under_receipt_tolerance_pct
        variance_pct = pct_of(expected - received, expected)
    else:
        return None
    if variance_pct <= tolerance:
        return None
    direction = "over" if case_type == ReceivingExceptionType.OVER_RECEIPT else "short"
    detail = (
        f"Line {line.line_number} ({line.item.sku}): expected {expected}, received {received} "
        f"({variance_pct}% {direction}, tolerance {tolerance}%)."
    )
    existing = ReceivingException.objects.filter(
        shipment_line=line, type=case_type, status=ReceivingExceptionStatus.OPEN
    ).first()
    if existing is not None:
        # A later receipt of the same line: the open case follows the line.
        existing.qty_received_base = received
        existing.detail = detail
        existing.save(update_fields=["qty_received_base", "detail"])
        return existing
    return receiving_exception_open(
        warehouse=line.shipment.warehouse,
        type=case_type,
        shipment=line.shipment,
        shipment_line=line,
        receipt=receipt,
        item=line.item,
        qty_expected_base=expected,
        qty_received_base=received,
        detail=detail,
    )


@transaction.atomic
def receiving_exception_resolve(
    *, exception: ReceivingException, approve: bool, note: str = "", actor=None
) -> ReceivingException:
    """Approve (accept the variance) or reject an open case; emits ``exception.resolved``.

    Stock is not touched: the goods were posted when received. A rejected
    over-receipt is returned or adjusted by the inventory controller through the
    counting/adjustment workflow, with its own approval.
    """
    if not actor_has_perm(actor, APPROVE_PERMISSION):
        raise DomainError(
            "Only a supervisor may decide receiving exceptions.",
            code="permission_denied",
            status=403,
        )
    case = lock_exceptions([exception.pk]).select_related("warehouse").get()
    target = ReceivingExceptionStatus.APPROVED if approve else ReceivingExceptionStatus.REJECTED
    if case.status == target:
        return case
    if case.status != ReceivingExceptionStatus.OPEN:
        raise DomainError(
            f"Exception {case.pk} is already {case.get_status_display().lower()}.",
            code="exception_not_open",
        )
    case.status = target
    case.resolved_at = timezone.now()
    case.resolved_by = actor_user(actor)
    case.resolution_note = note[:500]
    case.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    data = _event_data(case)
    data["resolution"] = target
    data["resolutionNote"] = case.resolution_note
    outbox_emit(
        event_type="exception.resolved",
        aggregate_type="ReceivingException",
        aggregate_id=case.pk,
        data=data,
    )
    return case
