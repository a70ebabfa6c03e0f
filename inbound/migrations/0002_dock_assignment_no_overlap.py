"""Two live appointments of one dock door never overlap.

An exclusion constraint over ``(dock_door_id WITH =, [starts_at, ends_at) WITH &&)``
needs the btree_gist extension for the equality part;
``inbound.services.dock_assignment_create`` also checks overlaps under a lock
on the door, to answer with a domain error.
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

CONSTRAINT = "dock_assignment_no_overlap"
TABLE = "inbound_dockassignment"


ADD_CONSTRAINT = (
    f"ALTER TABLE {TABLE} ADD CONSTRAINT {CONSTRAINT} EXCLUDE USING gist "
    "(dock_door_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
    "WHERE (status <> 'CANCELLED')"
)
DROP_CONSTRAINT = f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {CONSTRAINT}"


class Migration(migrations.Migration):
    dependencies = [("inbound", "0001_initial")]

    operations = [
        BtreeGistExtension(),
        migrations.RunSQL([ADD_CONSTRAINT], [DROP_CONSTRAINT], elidable=False),
    ]
