"""Dead outbox events get a partial index (``outbox_dead_id_idx``, WHERE status = DEAD).

The dead-letter alert and the delivery-health report counted them by scanning the
table (0.4 s on 1,000,000 events, at every alert evaluation). A partial index on
DEAD rows is written only when the relay gives an event up: inserts (PENDING) and
publishes (PUBLISHED) do not match its predicate, and the publish was not a HOT
update already (status is in the other partial indexes' predicates), so writers
pay nothing for it. Built CONCURRENTLY: no lock that would queue the previous
release's writers while it serves.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("wms", "0009_outbox_index_review"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("status", "DEAD")), fields=["id"], name="outbox_dead_id_idx"
            ),
        ),
    ]
