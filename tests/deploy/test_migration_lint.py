"""ops/migration_lint.py: a migration unsafe for a rolling upgrade fails CI, the operation named."""

import subprocess
import sys
from pathlib import Path

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

from ops.migration_lint import DEFAULT_BASELINE, check_plan, full_plan, read_baseline

ROOT = Path(__file__).resolve().parents[2]


def _lint_new_migration(*operations, app="outbound"):
    """Findings for one new migration placed after every migration on disk."""
    plan, state = full_plan()
    new = migrations.Migration("9999_new_release", app)
    new.operations = list(operations)
    baseline = {f"{label}.{m.name}" for label, m in plan}
    return check_plan([*plan, (app, new)], state, baseline)


def test_migration_lint_cli_fails_naming_the_operation(tmp_path):
    """A migration outside the baseline that adds a NOT NULL column fails, naming it."""
    baseline = tmp_path / "baseline.txt"
    kept = read_baseline(DEFAULT_BASELINE) - {"wms.0004_outbox_sink"}
    baseline.write_text("\n".join(sorted(kept)))
    result = subprocess.run(
        [sys.executable, "ops/migration_lint.py", "--baseline", str(baseline)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "wms.0004_outbox_sink: AddField(outboxevent.sink): adds a NOT NULL column" in (
        result.stdout
    )


def test_migration_lint_flags_drops_and_renames():
    """Dropping or renaming a column or a table is flagged, each operation by name."""
    findings = _lint_new_migration(
        migrations.RemoveField("replenishmentorder", "correlation_id"),
        migrations.RenameField("replenishmentorder", "store_code", "store"),
        migrations.DeleteModel("wave"),
    )
    assert [f.operation for f in findings] == [
        "RemoveField(replenishmentorder.correlation_id)",
        "RenameField(Rename field store_code on replenishmentorder to store)",
        "DeleteModel(wave)",
    ]
    assert all(f.migration == "outbound.9999_new_release" for f in findings)


def test_migration_lint_flags_not_null_without_db_default_on_existing_table():
    """NOT NULL without db_default is unsafe; nullable, db_default or a new table are not."""
    findings = _lint_new_migration(
        migrations.AddField("replenishmentorder", "priority", models.IntegerField(default=0)),
        migrations.AddField("replenishmentorder", "note", models.TextField(null=True)),
        migrations.AddField("replenishmentorder", "rank", models.IntegerField(db_default=0)),
        migrations.CreateModel("Fresh", [("id", models.BigAutoField(primary_key=True))]),
        migrations.AddField("fresh", "size", models.IntegerField()),
    )
    assert [f.operation for f in findings] == ["AddField(replenishmentorder.priority)"]
    assert "INSERTs omit it" in findings[0].reason


def test_migration_lint_flags_tightening_and_blocking_changes():
    """NOT NULL on a nullable column, a type change, a locking index and destructive SQL."""
    findings = _lint_new_migration(
        migrations.AlterField("replenishmentorder", "store_code", models.CharField(max_length=16)),
        migrations.AddIndex(
            "replenishmentorder", models.Index(fields=["store_code"], name="order_store_idx")
        ),
        AddIndexConcurrently(
            "replenishmentorder", models.Index(fields=["status"], name="order_status_idx")
        ),
        migrations.RunSQL("ALTER TABLE outbound_wave DROP COLUMN status"),
        migrations.RunSQL("SELECT 1"),
        migrations.RemoveIndex("replenishmentorder", "order_store_idx"),
        RemoveIndexConcurrently("replenishmentorder", "order_status_idx"),
    )
    assert [f.operation for f in findings] == [
        "AlterField(replenishmentorder.store_code)",
        "AddIndex(replenishmentorder.order_store_idx)",
        "RunSQL",
        "RemoveIndex(replenishmentorder.order_store_idx)",
    ]
