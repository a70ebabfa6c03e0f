"""Write domain events to the transactional outbox.

Call ``outbox_emit`` inside the service's transaction: the event exists if and
only if the change it describes committed. The relay in
``integrations.relay`` publishes it afterwards (at least once, same id).
"""

import uuid
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from .correlation import get_correlation_id
from .models import OutboxEvent, OutboxStatus


def outbox_emit(
    *, event_type: str, aggregate_type: str, aggregate_id, data: dict, version: int = 1
) -> OutboxEvent:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_emit must run inside the transaction of the change it reports")
    return OutboxEvent.objects.create(
        event_type=event_type,
        version=version,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        correlation_id=get_correlation_id(),
        data=data,
    )


def outbox_row(
    *,
    event_type: str,
    aggregate_type: str,
    aggregate_id,
    data: dict,
    correlation_id: str | None = None,
    version: int = 1,
) -> dict:
    """The columns of the row ``outbox_emit`` writes, as database parameters.

    For a service that writes its rows with its own statements (the inventory
    posting engine), inside the transaction of the change it reports.
    """
    fields = OutboxEvent._meta
    return {
        # Only these two need the backend's adaptation (UUID as text and JSON on SQLite).
        "event_id": fields.get_field("event_id").get_db_prep_save(uuid.uuid4(), connection),
        "data": fields.get_field("data").get_db_prep_save(data, connection),
        "event_type": event_type,
        "version": version,
        "aggregate_type": aggregate_type,
        "aggregate_id": str(aggregate_id),
        "correlation_id": get_correlation_id() if correlation_id is None else correlation_id,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "sink": "",
        "last_error": "",
    }


OUTBOX_TABLE = OutboxEvent._meta.db_table


def outbox_insert(**event) -> tuple[str, list]:
    """The INSERT of the row ``outbox_emit(**event)`` writes, as ``(sql, params)``,
    for a service that sends its writes in one batch (``wms.sql.execute``) inside
    the transaction of the change it reports."""
    row = outbox_row(**event)
    quote = connection.ops.quote_name
    return (
        f"INSERT INTO {quote(OUTBOX_TABLE)} ({', '.join(quote(c) for c in row)}) "
        f"VALUES ({', '.join(['%s'] * len(row))})",
        list(row.values()),
    )


def outbox_events_replay(*, event_ids: Iterable[int]) -> int:
    """Put dead (or published) events back in the queue; they keep their id.

    A supervisor's replay from the admin: the relay publishes them again with
    the same envelope, and consumers deduplicate by event id.
    """
    with transaction.atomic():
        return (
            OutboxEvent.objects.filter(id__in=list(event_ids))
            .filter(status__in=[OutboxStatus.DEAD, OutboxStatus.PUBLISHED])
            .update(
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=timezone.now(),
                last_error="",
            )
        )
