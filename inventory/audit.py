"""The audit trail: append-only records of inventory-affecting decisions and actions.

Other apps (counting) record their decisions through ``audit_record`` inside
the transaction of the decision, so the record exists if and only if the
decision committed. Stock movements themselves are not repeated here: the
immutable ledger is their trail (actor, correlation id, source document).
The database refuses UPDATE and DELETE on ``AuditEvent`` (a trigger, see
migration ``0009``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from wms.correlation import get_correlation_id

from .models import AuditEvent, Warehouse
from .services.engine import _actor_fields


@dataclass(frozen=True)
class AuditEntry:
    """One record to write with ``audit_record_many``."""

    event_type: str
    entity_type: str
    entity_id: str
    before: dict | None = None
    after: dict | None = None


def audit_record(
    *,
    event_type: str,
    actor,
    warehouse: Warehouse | None,
    entity_type: str,
    entity_id,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Record one audited action now, in the caller's transaction.

    ``actor``: a user, an external system's principal, a plain label, or None
    (the system itself). ``before``/``after``: JSON-serialisable snapshots of
    what changed (decimals as strings). The correlation id is the current one.
    """
    [event] = audit_record_many(
        entries=[AuditEntry(event_type, entity_type, str(entity_id), before, after)],
        actor=actor,
        warehouse=warehouse,
    )
    return event


def audit_record_many(
    *, entries: list[AuditEntry], actor, warehouse: Warehouse | None
) -> list[AuditEvent]:
    """Several records of one actor and warehouse in one INSERT (a decision and its effect)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit records are written in the transaction of what they record")
    events = audit_events(entries=entries, actor=actor, warehouse=warehouse)
    return AuditEvent.objects.bulk_create(events)


def audit_events(*, entries: list[AuditEntry], actor, warehouse: Warehouse | None):
    """The unsaved ``AuditEvent`` rows of ``entries`` (actor, time and correlation id now)."""
    events = []
    for values in audit_values(entries=entries, actor=actor, warehouse=warehouse):
        event = AuditEvent(**values)
        AuditEvent.warehouse.field.set_cached_value(event, warehouse)
        events.append(event)
    return events


def audit_values(*, entries: list[AuditEntry], actor, warehouse: Warehouse | None) -> list[dict]:
    """The column values (attnames) of ``entries``' records, no model instance built: for
    a hot path that writes them in its own statement (``queries.adjustment_insert``)."""
    actor_id, actor_label = _actor_fields(actor)
    correlation_id = get_correlation_id()
    now = timezone.now()
    warehouse_id = warehouse.pk if warehouse is not None else None
    return [
        {
            "event_type": entry.event_type,
            "occurred_at": now,
            "actor_id": actor_id,
            "actor_label": actor_label,
            "warehouse_id": warehouse_id,
            "entity_type": entry.entity_type,
            "entity_id": entry.entity_id,
            "before": entry.before,
            "after": entry.after,
            "correlation_id": correlation_id,
        }
        for entry in entries
    ]
