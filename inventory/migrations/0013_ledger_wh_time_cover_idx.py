"""The ledger's (warehouse, occurred_at, id) index carries the columns the stock-on-hand
report "as of" reads from the entries after the date (item, location, status, on-hand
change), so that read is an index-only scan instead of a heap fetch per entry
(issue 17). A replacement, not a second index: postings keep maintaining one index,
only its tuples are wider (bench database: 41 -> 77 bytes an entry freshly built,
WAL of a ledger insert 725 -> 761 bytes). The ledger API's order (occurred_at, id)
uses the same key.

Built concurrently, then the old index dropped concurrently: writes go on during both
(``atomic = False``); the previous release's queries are served by either index.

An index-only scan skips the heap only on pages the visibility map marks all-visible,
and the entries of the last days are the newest pages: with PostgreSQL's default,
autovacuum visits an insert-only table after 20 % of it is new (2,000,000 entries of a
10,000,000-entry ledger, weeks of postings), so the recent pages would mostly be
fetched from the heap anyway. 1 % keeps them marked within days; such a vacuum of an
append-only table reads only the pages not yet all-visible."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("inventory", "0012_adjustment_number_from_id")]

    operations = [
        AddIndexConcurrently(
            model_name="inventoryledgerentry",
            index=models.Index(
                fields=["warehouse", "occurred_at", "id"],
                include=["item", "location", "status", "on_hand_delta"],
                name="ledger_wh_time_cover_idx",
            ),
        ),
        RemoveIndexConcurrently(model_name="inventoryledgerentry", name="ledger_wh_time_idx"),
        migrations.RunSQL(
            "ALTER TABLE inventory_inventoryledgerentry "
            "SET (autovacuum_vacuum_insert_scale_factor = 0.01)",
            "ALTER TABLE inventory_inventoryledgerentry "
            "RESET (autovacuum_vacuum_insert_scale_factor)",
        ),
    ]
