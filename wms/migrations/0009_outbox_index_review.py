"""Outbox index review (issue 18): two of the seven indexes no query uses.

EXPLAIN (ANALYZE) of every statement on the outbox, on a table of 1,000,000
events (2,000 pending, 50 dead, the rest published; docs/architecture.md, "The
outbox's indexes"):

- ``outbox_pending_idx`` (next_attempt_at, id) WHERE PENDING: the relay orders its
  batch by id, so PostgreSQL walks ``outbox_pending_id_idx`` and checks
  next_attempt_at on the way; no statement chose this index.
- ``outbox_type_idx`` (event_type, id), 78 MB: the handheld push asks for the
  pushed types after the last id it sent, a few seconds back: the primary key
  range is cheaper and is the plan taken. Only the admin's "event type" filter
  on a type that is rare across the whole table used it (0.02 ms; without it a
  scan of 0.23 s on a million rows, an operator's page, not a writer's path).

Every insert wrote both and every publish (status PENDING -> PUBLISHED, not a HOT
update: status is in the partial indexes' predicate) wrote ``outbox_type_idx``
again. Dropped CONCURRENTLY: no lock that would queue the previous release's
writers while it serves; the previous release names no index, so it does not
notice.
"""

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("wms", "0008_alert_kinds_count_variance"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="outboxevent", name="outbox_pending_idx"),
        RemoveIndexConcurrently(model_name="outboxevent", name="outbox_type_idx"),
    ]
