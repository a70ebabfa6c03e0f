"""Write domain events to the transactional outbox.

Call ``outbox_emit`` inside the service's transaction: the event exists if and
only if the change it describes committed. The relay in
``integrations.relay`` publishes it afterwards (at least once, same id).
"""

from django.db import transaction

from .correlation import get_correlation_id
from .models import OutboxEvent


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
