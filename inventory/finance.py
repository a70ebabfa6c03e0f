"""The finance feed: one ``FinanceEvent`` per financially relevant stock fact.

Writers (shipment confirmation now, inventory adjustments next) call
``finance_event_record`` inside their own transaction; readers page through
``finance_events_after`` with the last ``sequence`` they saw.

Why not a database sequence for ``sequence``: ``nextval`` hands numbers out at
call time, not at commit. Transaction A takes 41, B takes 42 and commits
first; a reader who saw 42 and asks for ``after=42`` never sees 41 when A
commits. So the number comes from a single counter row
(``FinanceSequence``), incremented under its row lock, and the lock is held
until the writer's transaction ends: the next writer gets its number only
after the previous one committed (or rolled back, and then the same number
again). Numbers are therefore gap-free and visible in order: at any moment the
committed events are exactly 1..N, and ``sequence > cursor`` never skips.

The cost is that recording finance events is serial across the instance.
Writers take the counter lock as their *last* step, after their business
locks and postings, so it is held only from that statement to the commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from wms.correlation import get_correlation_id

from .models import FinanceEvent, FinanceSequence, Item, Warehouse

AMOUNT_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class FinanceLine:
    """``qty`` (base unit, signed: negative for a loss) of an item, valued at its unit cost."""

    item: Item
    qty: Decimal
    uom: str


def _line(line: FinanceLine) -> tuple[dict, Decimal]:
    unit_cost = line.item.unit_cost
    amount = (line.qty * unit_cost).quantize(AMOUNT_PLACES)
    return (
        {
            "sku": line.item.sku,
            "qty": format(line.qty.normalize(), "f"),
            "uom": line.uom,
            "unitCost": str(unit_cost),
            "amount": str(amount),
        },
        amount,
    )


def _sequence_lock() -> int:
    """The counter's current value, its row locked until this transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last FROM {FinanceSequence._meta.db_table} WHERE id = 1 FOR UPDATE")
        row = cursor.fetchone()
    if row is None:  # the migration creates it; a flushed test database may not have it
        FinanceSequence.objects.create(pk=1, last=0)
        return _sequence_lock()
    return row[0]


def finance_event_record(
    *,
    event_type: str,
    warehouse: Warehouse,
    reference_type: str,
    reference_id: str,
    reference_number: str = "",
    store_code: str = "",
    reason_code: str = "",
    lines: list[FinanceLine],
    source_key: str,
    occurred_at=None,
) -> FinanceEvent:
    """Record one finance event in the caller's transaction; idempotent by ``source_key``.

    Call it last in the transaction (see the module docstring: it serialises
    writers from here to commit).
    """
    last = _sequence_lock()
    existing = FinanceEvent.objects.filter(source_key=source_key).first()
    if existing is not None:
        return existing
    rendered, total = [], Decimal("0")
    for line in lines:
        row, amount = _line(line)
        rendered.append(row)
        total += amount
    FinanceSequence.objects.filter(pk=1).update(last=last + 1)
    return FinanceEvent.objects.create(
        sequence=last + 1,
        event_id=uuid.uuid4(),
        event_type=event_type,
        occurred_at=occurred_at or timezone.now(),
        warehouse=warehouse,
        currency=warehouse.currency,
        reference_type=reference_type,
        reference_id=str(reference_id),
        reference_number=reference_number,
        store_code=store_code,
        reason_code=reason_code,
        lines=rendered,
        total_amount=total,
        source_key=source_key,
        correlation_id=get_correlation_id() or "",
    )


def finance_events_after(*, after: int, limit: int, warehouse_ids=None):
    """Events with ``sequence > after`` in sequence order, at most ``limit`` (a queryset)."""
    queryset = FinanceEvent.objects.filter(sequence__gt=after).select_related("warehouse")
    if warehouse_ids is not None:
        queryset = queryset.filter(warehouse_id__in=list(warehouse_ids))
    return queryset.order_by("sequence")[:limit]


def finance_event_as_dict(event: FinanceEvent) -> dict:
    """The contract's shape of one event (CONTRACT.md, Finance)."""
    data = {
        "sequence": event.sequence,
        "id": str(event.event_id),
        "type": event.event_type,
        "occurredAt": event.occurred_at.isoformat(),
        "warehouse": event.warehouse.code,
        "currency": event.currency,
        "reference": {
            "type": event.reference_type,
            "id": event.reference_id,
            "number": event.reference_number,
        },
        "lines": event.lines,
        "totalAmount": str(event.total_amount),
    }
    if event.store_code:
        data["storeCode"] = event.store_code
    if event.reason_code:
        data["reasonCode"] = event.reason_code
    return data
