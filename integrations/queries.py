"""Hand-written SQL on the integration layer's own tables: the message log.

Each statement says what ORM code it replaces and the figure that earns it
its place; generic helpers are in ``wms.sql``.
"""

from wms.models import OutboxEvent

from .models import IntegrationMessage, WebhookDelivery

#: The columns ``MESSAGE_INSERT`` takes, in its parameters' order (the others
#: take their database defaults: id, ``occurred_at``).
MESSAGE_COLUMNS = (
    "system_id",
    "direction",
    "message_type",
    "status",
    "idempotency_key",
    "correlation_id",
    "payload_ref",
    "http_status",
    "detail",
)

#: One row of the message log. Replaces ``IntegrationMessage.objects.create``
#: inside a savepoint on the request path of every processed idempotent call:
#: no savepoint, no model instance, and prepared on the server (commit b4ba9ac:
#: PostgreSQL CPU per order 1.69/1.81 -> 1.11/1.13 ms through gunicorn with
#: the idempotency statements of ``wms.queries``).
MESSAGE_INSERT = (
    f"INSERT INTO {IntegrationMessage._meta.db_table} ({', '.join(MESSAGE_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(MESSAGE_COLUMNS))})"
)


# --- retention (integrations.retention) ------------------------------------------------
# One batch each: the ids in a subquery with LIMIT and SKIP LOCKED, which the ORM's
# delete() cannot say. The oldest rows come first (by id: the primary key index walks
# from the start of the table, where the rows past their retention are).


def _purge_statement(table: str, condition: str) -> str:
    # Table names and conditions are constants of this module; values are parameters.
    return (
        f"DELETE FROM {table} WHERE id IN ("
        f"SELECT id FROM {table} WHERE {condition} "
        "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
    )


OUTBOX_PUBLISHED_PURGE = _purge_statement(
    OutboxEvent._meta.db_table, "status = 'PUBLISHED' AND published_at < %s"
)
DELIVERY_DELIVERED_PURGE = _purge_statement(
    WebhookDelivery._meta.db_table, "status = 'DELIVERED' AND delivered_at < %s"
)
MESSAGE_PURGE = _purge_statement(IntegrationMessage._meta.db_table, "occurred_at < %s")
