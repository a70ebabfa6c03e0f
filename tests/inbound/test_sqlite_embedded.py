"""The embedded default (SQLite): inbound migrations run, and overlapping dock appointments
are still refused (by the service; the exclusion constraint is PostgreSQL only)."""

import textwrap

from tests.sqlite_embedded import EmbeddedSQLite

SCRIPT = textwrap.dedent(
    """
    import django
    django.setup()
    from datetime import datetime, timedelta, timezone
    from django.db import connection
    from inbound.services import dock_assignment_create
    from inventory.models import DockDoor, Warehouse
    from wms.exceptions import DomainError

    assert connection.vendor == "sqlite", connection.vendor
    warehouse = Warehouse.objects.create(code="EMB1", name="Embedded")
    door = DockDoor.objects.create(warehouse=warehouse, code="D01")
    start = datetime(2026, 11, 23, 8, tzinfo=timezone.utc)
    dock_assignment_create(dock_door=door, starts_at=start, ends_at=start + timedelta(hours=2))
    try:
        dock_assignment_create(
            dock_door=door, starts_at=start + timedelta(hours=1), ends_at=start + timedelta(hours=3)
        )
    except DomainError as exc:
        print("refused:", exc.code)
    """
)


def test_inbound_migrations_and_dock_overlap_on_sqlite(tmp_path):
    """``migrate`` succeeds on SQLite and the service refuses an overlapping appointment."""
    assert EmbeddedSQLite(tmp_path).script(SCRIPT) == ["refused: dock_door_overlap"]
