"""Receiving: register goods, post them to stock, judge variances, plan put-away.

One receipt is one transaction: receipt and lines, one ``stock_receive`` per
line into the receiving location (the ledger entry and ``inventory.received``
event come from the posting service), the ASN line totals, the exceptions the
warehouse's tolerances call for, the put-away tasks, and ``receipt.posted``.
Any refusal leaves nothing behind.

Locks: the ASN (serialises receipts of one ASN, so line totals and variance
cases stay right), then the warehouse's inbound settings (serialises put-away
placement and handheld replays), then stock balances inside the postings.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from inventory.models import DockDoor, InventoryStatus, Item, UnitOfMeasure
from inventory.services import stock_receive
from wms.exceptions import BusinessValidationError, DomainError
from wms.outbox import outbox_emit

from ..locks import lock_inbound_settings, lock_shipment
from ..models import (
    DockAssignmentStatus,
    InboundShipment,
    InboundShipmentLine,
    InboundStatus,
    PutAwayTask,
    Receipt,
    ReceiptLine,
    ReceivingException,
    ReceivingExceptionType,
)
from ..strategies import putaway_location_choose
from .asn import complete_receiving, lines_invalid, mark_arrived
from .common import (
    DAMAGED_STATUS,
    actor_has_perm,
    actor_label,
    actor_user,
    inventory_status,
    quantity,
    receiving_location_for,
    require_warehouse,
    staging_location_for,
    to_base,
)
from .exception_cases import receiving_exception_open, variance_check

RECEIVE_PERMISSION = "inbound.add_receipt"
BLIND_PERMISSION = "inbound.receive_blind"


@dataclass(frozen=True)
class ReceiptLineSpec:
    """One received quantity. Against an ASN give ``line_number`` (API) or ``item``
    (handheld scan); blind receipts give ``item``. ``uom`` defaults to the ASN
    line's unit (else the item's base unit); ``status_code`` to AVAILABLE."""

    qty: Decimal
    line_number: int | None = None
    item: Item | None = None
    uom: UnitOfMeasure | None = None
    status_code: str | None = None


@dataclass
class ReceiptResult:
    receipt: Receipt
    replayed: bool = False
    exceptions: list[ReceivingException] = field(default_factory=list)
    tasks: list[PutAwayTask] = field(default_factory=list)


class _ResolvedLine(NamedTuple):
    """A spec matched to its ASN line (or none: blind), item, unit and status."""

    asn_line: InboundShipmentLine | None
    item: Item
    uom: UnitOfMeasure
    qty: Decimal
    qty_base: Decimal
    status: InventoryStatus


@transaction.atomic
def receipt_post(
    *,
    lines: list[ReceiptLineSpec],
    shipment: InboundShipment | None = None,
    warehouse=None,
    dock_door: DockDoor | None = None,
    complete: bool = False,
    client_key: str = "",
    actor=None,
) -> ReceiptResult:
    """Receive ``lines`` against ``shipment`` (or blind into ``warehouse``) and post them.

    ``complete`` finishes receiving of the ASN in the same transaction (short
    lines are judged). ``client_key`` makes a handheld resubmission a replay:
    the receipt already posted under that key is returned and nothing else
    happens.
    """
    _receiving_permitted(actor=actor, blind=shipment is None)
    if not lines:
        raise BusinessValidationError(
            "A receipt needs at least one line.",
            code="validation_failed",
            errors=[{"field": "lines", "code": "empty", "message": "No lines."}],
        )
    if shipment is not None:
        shipment = lock_shipment(shipment.pk)
        warehouse = shipment.warehouse
    if warehouse is None:
        raise BusinessValidationError("A blind receipt needs a warehouse.", code="no_warehouse")
    require_warehouse(actor, warehouse)
    settings_row = lock_inbound_settings(warehouse)
    if client_key:
        previous = Receipt.objects.filter(warehouse=warehouse, client_key=client_key).first()
        if previous is not None:
            return ReceiptResult(receipt=previous, replayed=True)
    dock_door = _dock_door_for(shipment=shipment, warehouse=warehouse, dock_door=dock_door)

    resolved = _resolve(lines=lines, shipment=shipment, warehouse=warehouse)
    receipt = Receipt.objects.create(
        warehouse=warehouse,
        shipment=shipment,
        dock_door=dock_door,
        receiving_location=receiving_location_for(
            warehouse=warehouse, dock_door=dock_door, settings_row=settings_row
        ),
        is_blind=shipment is None,
        completes_receiving=bool(complete and shipment is not None),
        received_by=actor_user(actor),
        source=actor_label(actor),
        client_key=client_key,
    )
    receipt_lines = _receipt_lines_post(receipt=receipt, resolved=resolved, actor=actor)

    result = ReceiptResult(receipt=receipt)
    if shipment is not None:
        result.exceptions.extend(
            _shipment_progress(
                shipment=shipment,
                receipt=receipt,
                receipt_lines=receipt_lines,
                settings_row=settings_row,
                complete=complete,
            )
        )
    if settings_row.damaged_opens_exception:
        result.exceptions.extend(_damaged_cases_open(receipt=receipt, receipt_lines=receipt_lines))
    result.tasks, cases = _putaway_tasks_plan(
        receipt_lines=receipt_lines, settings_row=settings_row
    )
    result.exceptions.extend(cases)

    outbox_emit(
        event_type="receipt.posted",
        aggregate_type="Receipt",
        aggregate_id=receipt.pk,
        data=_receipt_event(receipt, receipt_lines),
    )
    return result


def _receiving_permitted(*, actor, blind: bool) -> None:
    if not actor_has_perm(actor, RECEIVE_PERMISSION):
        raise DomainError(_("You may not receive goods."), code="permission_denied", status=403)
    if blind and not actor_has_perm(actor, BLIND_PERMISSION):
        raise DomainError(
            _("Receiving without an ASN needs the blind-receiving permission."),
            code="blind_receiving_not_permitted",
            status=403,
        )


def _dock_door_for(
    *, shipment: InboundShipment | None, warehouse, dock_door: DockDoor | None
) -> DockDoor | None:
    """Refuse a receipt into a completed ASN or through another warehouse's door; without a
    door given, the door of the ASN's appointment where the truck checked in."""
    if shipment is not None and shipment.status in (InboundStatus.RECEIVED, InboundStatus.CLOSED):
        raise DomainError(
            _("Receiving of ASN %(ref)s is already completed.") % {"ref": shipment.external_ref},
            code="shipment_receiving_completed",
        )
    if dock_door is not None and dock_door.warehouse_id != warehouse.pk:
        raise BusinessValidationError("The dock door is in another warehouse.", code="bad_dock")
    if dock_door is None and shipment is not None:
        dock_door = _door_at_work(shipment)
    return dock_door


def _receipt_lines_post(
    *, receipt: Receipt, resolved: list[_ResolvedLine], actor
) -> list[ReceiptLine]:
    """The receipt's lines, each posted to stock at the receiving location and added to
    its ASN line's received total."""
    receipt_lines = [
        ReceiptLine.objects.create(
            receipt=receipt,
            line_number=number,
            shipment_line=line.asn_line,
            item=line.item,
            uom=line.uom,
            qty_received=line.qty,
            qty_base=line.qty_base,
            inventory_status=line.status,
        )
        for number, line in enumerate(resolved, 1)
    ]
    for line in receipt_lines:
        stock_receive(
            item=line.item,
            location=receipt.receiving_location,
            status=line.inventory_status,
            qty=line.qty_base,
            posting_key=line.posting_key,
            source_ref=f"ReceiptLine:{line.pk}",
            actor=actor,
        )
        if line.shipment_line_id:
            InboundShipmentLine.objects.filter(pk=line.shipment_line_id).update(
                qty_received_base=F("qty_received_base") + line.qty_base
            )
    return receipt_lines


def _shipment_progress(
    *,
    shipment: InboundShipment,
    receipt: Receipt,
    receipt_lines: list[ReceiptLine],
    settings_row,
    complete: bool,
) -> list[ReceivingException]:
    """The ASN is receiving (or, with ``complete``, received: every line judged); else the
    lines this receipt touched are judged against the over-receipt tolerance."""
    mark_arrived(shipment)
    shipment.status = InboundStatus.RECEIVING
    shipment.save(update_fields=["status"])
    if complete:
        return complete_receiving(shipment, receipt=receipt)
    touched = {line.shipment_line_id for line in receipt_lines if line.shipment_line_id}
    cases = (
        variance_check(line=asn_line, settings_row=settings_row, final=False, receipt=receipt)
        for asn_line in _lines(touched)
    )
    return [case for case in cases if case is not None]


def _damaged_cases_open(
    *, receipt: Receipt, receipt_lines: list[ReceiptLine]
) -> list[ReceivingException]:
    """A DAMAGED exception for every line received in the damaged status."""
    location = receipt.receiving_location
    return [
        receiving_exception_open(
            warehouse=receipt.warehouse,
            type=ReceivingExceptionType.DAMAGED,
            shipment=receipt.shipment,
            shipment_line_id=line.shipment_line_id,
            receipt=receipt,
            item=line.item,
            qty_received_base=line.qty_base,
            detail=f"{line.qty_base} {line.item.base_uom.code} of {line.item.sku} "
            f"received damaged into {location.code}.",
        )
        for line in receipt_lines
        if line.inventory_status.code == DAMAGED_STATUS
    ]


def _putaway_tasks_plan(
    *, receipt_lines: list[ReceiptLine], settings_row
) -> tuple[list[PutAwayTask], list[ReceivingException]]:
    """A put-away task per line, and the exceptions of those no rule found a place for."""
    tasks, cases = [], []
    for line in receipt_lines:
        task, case = putaway_task_plan(receipt_line=line, settings_row=settings_row)
        tasks.append(task)
        if case is not None:
            cases.append(case)
    return tasks, cases


def _door_at_work(shipment: InboundShipment) -> DockDoor | None:
    """The door of the ASN's appointment where the truck checked in, if any."""
    appointment = (
        shipment.dock_assignments.filter(status=DockAssignmentStatus.ARRIVED)
        .select_related("dock_door__location")
        .order_by("-starts_at")
        .first()
    )
    return appointment.dock_door if appointment else None


def _lines(pks) -> list[InboundShipmentLine]:
    return list(
        InboundShipmentLine.objects.filter(pk__in=pks)
        .select_related("item", "shipment__warehouse")
        .order_by("line_number")
    )


def _resolve(*, lines, shipment, warehouse) -> list[_ResolvedLine]:
    """Match every spec to its ASN line, unit and status; report all problems at once."""
    asn_lines = []
    if shipment is not None:
        asn_lines = list(
            shipment.lines.select_related("item__base_uom", "uom").order_by("line_number")
        )
    by_number = {line.line_number: line for line in asn_lines}
    # Remaining per ASN line, followed in memory while this receipt is matched.
    remaining = {line.pk: line.qty_expected_base - line.qty_received_base for line in asn_lines}
    errors: list[dict] = []
    resolved = []
    for index, spec in enumerate(lines):
        prefix = f"lines[{index}]"
        try:
            if shipment is not None:
                asn_line = _asn_line_match(
                    spec,
                    prefix=prefix,
                    shipment=shipment,
                    asn_lines=asn_lines,
                    by_number=by_number,
                    remaining=remaining,
                )
                item = asn_line.item
            else:
                asn_line, item = None, spec.item
                if item is None or item.warehouse_id != warehouse.pk or not item.is_active:
                    raise _line_error(f"{prefix}.item", "unknown_item", _("Unknown item."))
            uom = spec.uom or (asn_line.uom if asn_line else item.base_uom)
            qty = quantity(spec.qty, field=f"{prefix}.qtyReceived")
            qty_base = to_base(item=item, uom=uom, qty=qty, field=f"{prefix}.qtyReceived")
            status = inventory_status(spec.status_code, field=f"{prefix}.status")
        except BusinessValidationError as exc:
            errors.extend(
                exc.errors or [{"field": f"{prefix}.uom", "code": exc.code, "message": exc.detail}]
            )
            continue
        if asn_line is not None:
            remaining[asn_line.pk] -= qty_base
        resolved.append(_ResolvedLine(asn_line, item, uom, qty, qty_base, status))
    if errors:
        raise lines_invalid(errors)
    return resolved


def _asn_line_match(
    spec: ReceiptLineSpec, *, prefix, shipment, asn_lines, by_number, remaining
) -> InboundShipmentLine:
    """The ASN line ``spec`` receives against: by its number, else by its item; a scanned
    item must be the line's."""
    if spec.line_number is not None:
        asn_line = by_number.get(spec.line_number)
        if asn_line is None:
            raise _line_error(
                f"{prefix}.lineNumber",
                "unknown_line_number",
                _("ASN %(ref)s has no line %(line)s.")
                % {"ref": shipment.external_ref, "line": spec.line_number},
            )
    else:
        asn_line = _line_for_item(asn_lines, spec.item, remaining)
        if asn_line is None:
            raise _line_error(
                f"{prefix}.item",
                "item_not_on_asn",
                _("%(sku)s is not on ASN %(ref)s. Nothing was received.")
                % {"sku": spec.item.sku if spec.item else "?", "ref": shipment.external_ref},
            )
    if spec.item is not None and spec.item.pk != asn_line.item.pk:
        raise _line_error(
            f"{prefix}.item",
            "item_not_on_line",
            _("Line %(line)s expects %(expected)s, not %(sku)s.")
            % {"line": asn_line.line_number, "expected": asn_line.item.sku, "sku": spec.item.sku},
        )
    return asn_line


def _line_for_item(asn_lines, item, remaining):
    """The first line of ``item`` still expecting goods, else its last line (over-receipt)."""
    if item is None:
        return None
    candidates = [line for line in asn_lines if line.item_id == item.pk]
    for line in candidates:
        if remaining[line.pk] > 0:
            return line
    return candidates[-1] if candidates else None


def _line_error(field_name: str, code: str, message: str) -> BusinessValidationError:
    return BusinessValidationError(
        message, code=code, errors=[{"field": field_name, "code": code, "message": message}]
    )


def putaway_task_plan(*, receipt_line: ReceiptLine, settings_row) -> tuple[PutAwayTask, object]:
    """Create the put-away task of a receipt line where the strategy says; no location →
    staging (or none) and a NO_PUTAWAY_LOCATION exception. Caller holds the settings lock."""
    receipt = receipt_line.receipt
    placement = putaway_location_choose(
        warehouse=receipt.warehouse,
        item=receipt_line.item,
        status=receipt_line.inventory_status,
        qty=receipt_line.qty_base,
        exclude_ids={receipt.receiving_location_id},
    )
    to_location = placement.location
    if to_location is None:
        to_location = staging_location_for(warehouse=receipt.warehouse, settings_row=settings_row)
        if to_location is not None and to_location.pk == receipt.receiving_location_id:
            to_location = None
    task = PutAwayTask.objects.create(
        warehouse=receipt.warehouse,
        receipt_line=receipt_line,
        item=receipt_line.item,
        inventory_status=receipt_line.inventory_status,
        qty=receipt_line.qty_base,
        from_location=receipt.receiving_location,
        to_location=to_location,
        strategy=placement.strategy,
        rule=placement.rule,
    )
    case = None
    if placement.location is None:
        where = f"staging location {to_location.code}" if to_location else "no location"
        case = receiving_exception_open(
            warehouse=receipt.warehouse,
            type=ReceivingExceptionType.NO_PUTAWAY_LOCATION,
            shipment=receipt.shipment,
            shipment_line_id=receipt_line.shipment_line_id,
            receipt=receipt,
            put_away_task=task,
            item=receipt_line.item,
            qty_received_base=receipt_line.qty_base,
            detail=f"No put-away rule found a location for {receipt_line.qty_base} "
            f"{receipt_line.item.base_uom.code} of {receipt_line.item.sku}; sent to {where}.",
        )
    return task, case


def _receipt_event(receipt: Receipt, lines: list[ReceiptLine]) -> dict:
    return {
        "receiptId": receipt.pk,
        "warehouse": receipt.warehouse.code,
        "inboundShipmentId": receipt.shipment_id,
        "externalRef": receipt.shipment.external_ref if receipt.shipment_id else None,
        "blind": receipt.is_blind,
        "receivedAt": receipt.received_at.isoformat(),
        "location": receipt.receiving_location.code,
        "lines": [
            {
                "lineNumber": line.shipment_line.line_number if line.shipment_line_id else None,
                "sku": line.item.sku,
                "qtyReceived": line.qty_received,
                "uom": line.uom.code,
                "qtyBase": line.qty_base,
                "baseUom": line.item.base_uom.code,
                "status": line.inventory_status.code,
            }
            for line in lines
        ],
    }
