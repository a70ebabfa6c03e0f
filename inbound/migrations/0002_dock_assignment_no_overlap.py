"""Two live appointments of one dock door never overlap (PostgreSQL only).

An exclusion constraint over ``(dock_door_id WITH =, [starts_at, ends_at) WITH &&)``
needs the btree_gist extension for the equality part. SQLite (the embedded
default) has neither, so both steps check the database vendor and do nothing
there; ``inbound.services.dock_assignment_create`` checks overlaps under a lock
on the door on every database.
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

CONSTRAINT = "dock_assignment_no_overlap"
TABLE = "inbound_dockassignment"


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {CONSTRAINT} EXCLUDE USING gist "
        "(dock_door_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        "WHERE (status <> 'CANCELLED')"
    )


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [("inbound", "0001_initial")]

    operations = [
        # CreateExtension is a no-op on other databases.
        BtreeGistExtension(),
        migrations.RunPython(add_constraint, drop_constraint, elidable=False),
    ]
