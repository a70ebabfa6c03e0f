"""The contract's event envelope (CONTRACT.md, Events): one shape for the bus and webhooks."""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from wms.models import OutboxEvent


def event_envelope(event: OutboxEvent) -> dict:
    """The envelope of one outbox event, as the bus and every webhook receive it."""
    return {
        "id": str(event.event_id),
        "type": event.event_type,
        "occurredAt": event.occurred_at.isoformat(),
        "instanceId": settings.WMS_INSTANCE_ID,
        "correlationId": event.correlation_id,
        "aggregate": {"type": event.aggregate_type, "id": event.aggregate_id},
        "version": event.version,
        "data": event.data,
    }


def envelope_bytes(envelope: dict) -> bytes:
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
