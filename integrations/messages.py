"""The log of exchanges with external systems (``IntegrationMessage``).

``integration_message_record`` is the one writer; call it from any code that
talks to an external system (inbound API calls are recorded automatically by
the receiver below, outbound deliveries by ``integrations.webhooks``). It joins
the caller's transaction when there is one, so a message about an effect
commits or rolls back with it.
"""

import logging

from django.db import transaction

from wms.correlation import get_correlation_id
from wms.idempotency import idempotent_request_handled
from wms.models import IdempotencyRecord
from wms.sql import server_bound_cursor

from .models import ExternalSystem, IntegrationMessage, MessageDirection, MessageStatus
from .queries import MESSAGE_COLUMNS, MESSAGE_INSERT

logger = logging.getLogger(__name__)

_OUTCOME_STATUS = {
    "processed": MessageStatus.PROCESSED,
    "replayed": MessageStatus.REPLAYED,
    "rejected": MessageStatus.REJECTED,
    "conflict": MessageStatus.REJECTED,
}


@transaction.atomic
def integration_message_record(
    *,
    system: ExternalSystem,
    direction: str,
    message_type: str,
    status: str,
    idempotency_key: str = "",
    correlation_id: str | None = None,
    payload_ref: str = "",
    http_status: int | None = None,
    detail: str = "",
) -> IntegrationMessage:
    """Append one message to the log (``correlation_id`` defaults to the current one)."""
    return IntegrationMessage.objects.create(
        **_fields(
            system=system,
            direction=direction,
            message_type=message_type,
            status=status,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            payload_ref=payload_ref,
            http_status=http_status,
            detail=detail,
        )
    )


def _fields(
    *,
    system,
    direction,
    message_type,
    status,
    idempotency_key,
    correlation_id,
    payload_ref,
    http_status,
    detail,
) -> dict:
    return dict(
        system=system,
        direction=direction,
        message_type=message_type[:200],
        status=status,
        idempotency_key=idempotency_key[:255],
        correlation_id=(correlation_id if correlation_id is not None else get_correlation_id())[
            :128
        ],
        payload_ref=payload_ref[:200],
        http_status=http_status,
        detail=detail,
    )


def _message_insert(**values) -> None:
    """The row ``integration_message_record`` writes, as one plain INSERT.

    For the request path inside the transaction of the effect (a processed
    idempotent call): no savepoint (a failure rolls the whole request back
    anyway) and no model instance.
    """
    fields = _fields(**values)
    fields["system_id"] = fields.pop("system").pk
    with server_bound_cursor() as cursor:
        cursor.execute(MESSAGE_INSERT, [fields[column] for column in MESSAGE_COLUMNS])


def _message_type(request) -> str:
    """``POST api/v1/replenishment-orders/<uuid:pk>/cancel``: the route, not the ids."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None) if match else None
    return f"{request.method} {route or request.path}"


def _detail(body) -> str:
    if isinstance(body, dict) and body.get("code"):
        return f"{body.get('code')}: {body.get('detail', '')}"[:2000]
    return ""


def record_inbound_idempotent_request(
    sender, *, request, outcome, status, key, scope, body=None, **kwargs
):
    """Receiver of ``wms.idempotency.idempotent_request_handled``: external systems only."""
    system = getattr(getattr(request, "user", None), "system", None)
    if system is None:
        return  # a person's session call is not an integration exchange
    payload_ref = ""
    if outcome in ("processed", "replayed"):
        record_id = kwargs.get("record_id")
        if record_id is None:
            record_id = (
                IdempotencyRecord.objects.filter(scope=scope, key=key)
                .values_list("id", flat=True)
                .first()
            )
        if record_id:
            payload_ref = f"IdempotencyRecord:{record_id}"
    values = dict(
        system=system,
        direction=MessageDirection.INBOUND,
        message_type=_message_type(request),
        status=_OUTCOME_STATUS.get(outcome, MessageStatus.REJECTED),
        idempotency_key=key,
        correlation_id=None,
        http_status=status,
        payload_ref=payload_ref,
        detail=_detail(body) if outcome != "processed" else "",
    )
    if outcome == "processed" and transaction.get_connection().in_atomic_block:
        _message_insert(**values)
    else:
        integration_message_record(**values)


def connect_receivers() -> None:
    idempotent_request_handled.connect(
        record_inbound_idempotent_request, dispatch_uid="integrations.inbound_messages"
    )
