"""ASNs: announce an inbound shipment, and move it through its lifecycle.

EXPECTED → ARRIVED (dock check-in or first receipt) → RECEIVING (a receipt is
posted) → RECEIVED (receiving completed: under-receipts are judged) → CLOSED
(a supervisor closes it once no exception is open).
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory.models import Item, UnitOfMeasure
from wms.exceptions import BusinessValidationError, DomainError
from wms.outbox import outbox_emit

from ..locks import lock_shipment
from ..models import (
    InboundShipment,
    InboundShipmentLine,
    InboundStatus,
    InboundType,
    ReceivingException,
    ReceivingExceptionStatus,
)
from .common import actor_label, inbound_settings_for, quantity, require_aware, to_base
from .exception_cases import variance_check


@dataclass(frozen=True)
class AsnLineSpec:
    line_number: int
    sku: str
    qty_expected: Decimal
    uom: str


def _resolve_lines(*, warehouse, lines: list[AsnLineSpec]) -> list[InboundShipmentLine]:
    """Validate every line at once and report every problem, not just the first."""
    errors: list[dict] = []
    resolved: list[InboundShipmentLine] = []
    seen: set[int] = set()
    skus = {spec.sku for spec in lines}
    items = {
        item.sku: item
        for item in Item.objects.filter(warehouse=warehouse, sku__in=skus).select_related(
            "base_uom"
        )
    }
    units = {u.code: u for u in UnitOfMeasure.objects.filter(code__in={s.uom for s in lines})}
    for index, spec in enumerate(lines):
        prefix = f"lines[{index}]"
        if spec.line_number in seen:
            errors.append(_err(f"{prefix}.lineNumber", "duplicate_line_number", spec.line_number))
            continue
        seen.add(spec.line_number)
        item = items.get(spec.sku)
        if item is None or not item.is_active:
            errors.append(_err(f"{prefix}.sku", "unknown_sku", spec.sku))
            continue
        uom = units.get(spec.uom)
        if uom is None:
            errors.append(_err(f"{prefix}.uom", "unknown_uom", spec.uom))
            continue
        try:
            qty = quantity(spec.qty_expected, field=f"{prefix}.qtyExpected")
            qty_base = to_base(item=item, uom=uom, qty=qty, field=f"{prefix}.qtyExpected")
        except BusinessValidationError as exc:
            errors.extend(exc.errors or [_err(f"{prefix}.uom", exc.code, spec.uom, exc.detail)])
            continue
        resolved.append(
            InboundShipmentLine(
                line_number=spec.line_number,
                item=item,
                uom=uom,
                qty_expected=qty,
                qty_expected_base=qty_base,
            )
        )
    if errors:
        raise lines_invalid(errors)
    return resolved


def lines_invalid(errors: list[dict]) -> BusinessValidationError:
    """One problem: its own code and message; several: ``validation_failed`` listing all."""
    if len(errors) == 1:
        return BusinessValidationError(errors[0]["message"], code=errors[0]["code"], errors=errors)
    return BusinessValidationError("One or more lines are invalid.", errors=errors)


def _err(field: str, code: str, value, message: str | None = None) -> dict:
    return {"field": field, "code": code, "message": message or f"'{value}' is not valid here."}


@transaction.atomic
def inbound_shipment_create(
    *,
    warehouse,
    external_ref: str,
    supplier: str,
    expected_arrival_at,
    lines: list[AsnLineSpec],
    type: str = InboundType.SUPPLIER,
    actor=None,
) -> InboundShipment:
    """Record an ASN with its expected lines; emits ``inbound_shipment.created``.

    A second ASN with the same ``external_ref`` in the warehouse is refused with
    409 ``duplicate_inbound_shipment`` naming the existing one.
    """
    require_aware(expected_arrival_at, "expectedArrivalAt")
    resolved = _resolve_lines(warehouse=warehouse, lines=lines)
    existing = InboundShipment.objects.filter(warehouse=warehouse, external_ref=external_ref)
    if existing.exists():
        raise _duplicate(existing.first())
    try:
        with transaction.atomic():
            shipment = InboundShipment.objects.create(
                warehouse=warehouse,
                external_ref=external_ref,
                supplier=supplier,
                type=type,
                expected_arrival_at=expected_arrival_at,
                source=actor_label(actor),
            )
    except IntegrityError as exc:
        # A concurrent create of the same reference won the race.
        raise _duplicate(
            InboundShipment.objects.filter(warehouse=warehouse, external_ref=external_ref).first()
        ) from exc
    for line in resolved:
        line.shipment = shipment
    InboundShipmentLine.objects.bulk_create(resolved)
    outbox_emit(
        event_type="inbound_shipment.created",
        aggregate_type="InboundShipment",
        aggregate_id=shipment.pk,
        data={
            "inboundShipmentId": shipment.pk,
            "externalRef": shipment.external_ref,
            "warehouse": warehouse.code,
            "supplier": supplier,
            "expectedArrivalAt": expected_arrival_at.isoformat(),
            "lines": [
                {
                    "lineNumber": line.line_number,
                    "sku": line.item.sku,
                    "qtyExpected": line.qty_expected,
                    "uom": line.uom.code,
                }
                for line in resolved
            ],
        },
    )
    return shipment


def _duplicate(existing: InboundShipment | None) -> DomainError:
    return DomainError(
        f"An ASN with externalRef '{existing.external_ref if existing else ''}' already exists.",
        code="duplicate_inbound_shipment",
        extra={"existingId": existing.pk if existing else None},
    )


def _editable(shipment: InboundShipment) -> None:
    if shipment.status != InboundStatus.EXPECTED:
        raise DomainError(
            f"ASN {shipment.external_ref} is {shipment.get_status_display().lower()}; "
            "only an expected ASN may be changed.",
            code="shipment_not_editable",
        )


@transaction.atomic
def inbound_shipment_update(
    *, shipment: InboundShipment, supplier=None, expected_arrival_at=None, type=None, actor=None
) -> InboundShipment:
    """Change an expected ASN's header (admin)."""
    shipment = lock_shipment(shipment.pk)
    _editable(shipment)
    if supplier is not None:
        shipment.supplier = supplier
    if expected_arrival_at is not None:
        shipment.expected_arrival_at = require_aware(expected_arrival_at, "expectedArrivalAt")
    if type is not None:
        shipment.type = type
    shipment.save(update_fields=["supplier", "expected_arrival_at", "type"])
    return shipment


@transaction.atomic
def inbound_shipment_line_save(
    *,
    shipment: InboundShipment,
    line_number: int,
    item,
    uom,
    qty_expected,
    line: InboundShipmentLine | None = None,
) -> InboundShipmentLine:
    """Add or change one expected line of an expected ASN (admin)."""
    shipment = lock_shipment(shipment.pk)
    _editable(shipment)
    if item.warehouse_id != shipment.warehouse_id:
        raise BusinessValidationError("The item belongs to another warehouse.", code="unknown_sku")
    qty = quantity(qty_expected, field="qty_expected")
    line = line or InboundShipmentLine(shipment=shipment)
    line.line_number = line_number
    line.item = item
    line.uom = uom
    line.qty_expected = qty
    line.qty_expected_base = to_base(item=item, uom=uom, qty=qty, field="qty_expected")
    line.save()
    return line


@transaction.atomic
def inbound_shipment_line_delete(*, line: InboundShipmentLine) -> None:
    _editable(lock_shipment(line.shipment_id))
    line.delete()


def mark_arrived(shipment: InboundShipment, *, at=None) -> bool:
    """EXPECTED → ARRIVED (caller holds the shipment lock). True if it changed."""
    if shipment.status != InboundStatus.EXPECTED:
        return False
    shipment.status = InboundStatus.ARRIVED
    shipment.arrived_at = at or timezone.now()
    shipment.save(update_fields=["status", "arrived_at"])
    return True


@transaction.atomic
def inbound_shipment_mark_arrived(*, shipment: InboundShipment, actor=None) -> InboundShipment:
    """The truck is here (dock check-in). Repeating it changes nothing."""
    shipment = lock_shipment(shipment.pk)
    mark_arrived(shipment)
    return shipment


def complete_receiving(shipment: InboundShipment, *, receipt=None) -> list[ReceivingException]:
    """Judge every line against the under-receipt tolerance and mark the ASN RECEIVED.

    Caller holds the shipment lock. Returns the variance cases opened or updated.
    """
    settings_row = inbound_settings_for(shipment.warehouse)
    cases = []
    for line in shipment.lines.select_related("item", "shipment__warehouse").order_by(
        "line_number"
    ):
        case = variance_check(line=line, settings_row=settings_row, final=True, receipt=receipt)
        if case is not None:
            cases.append(case)
    now = timezone.now()
    shipment.arrived_at = shipment.arrived_at or now
    shipment.status = InboundStatus.RECEIVED
    shipment.received_at = now
    shipment.save(update_fields=["status", "arrived_at", "received_at"])
    outbox_emit(
        event_type="inbound_shipment.received",
        aggregate_type="InboundShipment",
        aggregate_id=shipment.pk,
        data={
            "inboundShipmentId": shipment.pk,
            "externalRef": shipment.external_ref,
            "warehouse": shipment.warehouse.code,
            "lines": [
                {
                    "lineNumber": line.line_number,
                    "sku": line.item.sku,
                    "qtyExpected": line.qty_expected_base,
                    "qtyReceived": line.qty_received_base,
                    "uom": line.item.base_uom.code,
                }
                for line in shipment.lines.select_related("item__base_uom")
            ],
        },
    )
    return cases


@transaction.atomic
def inbound_shipment_complete_receiving(
    *, shipment: InboundShipment, actor=None
) -> tuple[InboundShipment, list[ReceivingException]]:
    """Receiving of this ASN is finished: short lines beyond tolerance open exceptions.

    Completing an ASN that is already received changes nothing.
    """
    shipment = lock_shipment(shipment.pk)
    if shipment.status in (InboundStatus.RECEIVED, InboundStatus.CLOSED):
        return shipment, []
    cases = complete_receiving(shipment)
    return shipment, cases


@transaction.atomic
def inbound_shipment_close(*, shipment: InboundShipment, actor=None) -> InboundShipment:
    """RECEIVED → CLOSED, refused while an exception of the ASN is still open."""
    shipment = lock_shipment(shipment.pk)
    if shipment.status == InboundStatus.CLOSED:
        return shipment
    if shipment.status != InboundStatus.RECEIVED:
        raise DomainError(
            f"ASN {shipment.external_ref} must be received before it is closed.",
            code="shipment_not_received",
        )
    open_cases = shipment.exceptions.filter(status=ReceivingExceptionStatus.OPEN).count()
    if open_cases:
        raise DomainError(
            f"ASN {shipment.external_ref} has {open_cases} open receiving exception(s).",
            code="open_exceptions",
        )
    shipment.status = InboundStatus.CLOSED
    shipment.closed_at = timezone.now()
    shipment.save(update_fields=["status", "closed_at"])
    outbox_emit(
        event_type="inbound_shipment.closed",
        aggregate_type="InboundShipment",
        aggregate_id=shipment.pk,
        data={"inboundShipmentId": shipment.pk, "externalRef": shipment.external_ref},
    )
    return shipment
