"""Flag migrations that are unsafe while the previous release still serves.

A rolling upgrade runs the migrations first (the chart's pre-upgrade Job), then
replaces the pods one by one: for minutes the PREVIOUS release's code runs on
the NEW schema. So every migration must be an "expand" step the old code does
not notice; the "contract" step (dropping what the old code used) comes one
release later, once nothing running reads it, and is recorded in the baseline
with its reason.

Unsafe, each reported with the migration and the operation named:
  - RemoveField, DeleteModel: the old code still selects / inserts the column or table;
  - RenameField, RenameModel, AlterModelTable: the old code uses the old name;
  - AddField NOT NULL without a database default (``db_default``) on an existing
    table: the old code's INSERTs omit the column and fail (Django's ``default``
    lives in Python only);
  - AlterField to NOT NULL, to another type, or to a shorter max_length: the old
    code's writes fail;
  - AddIndex / AddConstraint of a unique kind on an existing table without
    CONCURRENTLY: the table is locked against writes while it builds;
  - RemoveIndex without CONCURRENTLY: DROP INDEX locks the table against reads
    too, and waits (with everything queued behind it) for any long query;
  - RunSQL dropping or renaming a column or table, or setting NOT NULL.

Usage: ``python ops/migration_lint.py [--baseline FILE] [--write-baseline]``.
The baseline (ops/migration_lint_baseline.txt) lists migrations accepted as
they are: the history before this check existed, and contract steps with their
reason. Exit status 1 when a migration outside it is unsafe.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = Path(__file__).resolve().parent / "migration_lint_baseline.txt"
# Only the project's own apps: third-party migrations are their authors' business.
PROJECT_APPS = ("wms", "inventory", "inbound", "outbound", "tasking", "counting", "integrations")
_DESTRUCTIVE_SQL = re.compile(
    r"\b(DROP\s+(COLUMN|TABLE)|RENAME\s+(COLUMN|TO)|SET\s+NOT\s+NULL)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Finding:
    migration: str  # "app.0003_name"
    operation: str  # "RemoveField(order.note)"
    reason: str

    def __str__(self) -> str:
        return f"{self.migration}: {self.operation}: {self.reason}"


def _field_type_changed(old, new) -> bool:
    if type(old) is not type(new):
        return True
    for attr in ("max_digits", "decimal_places"):
        if getattr(old, attr, None) != getattr(new, attr, None):
            return True
    old_len, new_len = getattr(old, "max_length", None), getattr(new, "max_length", None)
    return old_len is not None and new_len is not None and new_len < old_len


def _has_db_default(field) -> bool:
    from django.db.models.fields import NOT_PROVIDED

    return getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED


def _operation_findings(app_label, operation, state, created) -> list[tuple[str, str]]:
    """(operation, reason) pairs for one operation, judged against the state before it."""
    from django.db import migrations

    name = type(operation).__name__
    model = getattr(operation, "model_name", None) or getattr(operation, "name", "")
    model_key = (app_label, str(model).lower())
    existing = model_key in state.models and model_key not in created
    field_name = getattr(operation, "name", "")
    label = f"{name}({model}.{field_name})" if hasattr(operation, "model_name") else name
    if isinstance(operation, migrations.RemoveField):
        return [(label, "drops a column the previous release still reads and writes")]
    if isinstance(operation, migrations.DeleteModel):
        return [(f"{name}({operation.name})", "drops a table the previous release still uses")]
    if isinstance(operation, migrations.RenameField | migrations.RenameModel):
        return [(f"{name}({operation.describe()})", "the previous release uses the old name")]
    if isinstance(operation, migrations.AlterModelTable):
        return [(f"{name}({operation.name})", "the previous release uses the old table name")]
    if isinstance(operation, migrations.AddField) and existing:
        field = operation.field
        if not field.null and not field.many_to_many and not _has_db_default(field):
            return [
                (
                    label,
                    "adds a NOT NULL column without db_default to an existing table: "
                    "the previous release's INSERTs omit it and fail",
                )
            ]
    if isinstance(operation, migrations.AlterField) and existing:
        old = state.models[model_key].fields.get(operation.name)
        new = operation.field
        if old is not None and old.null and not new.null:
            return [(label, "makes a column NOT NULL: the previous release may write NULL")]
        if old is not None and _field_type_changed(old, new):
            return [(label, "changes the column's type: the previous release writes the old one")]
    concurrent = name.endswith("Concurrently")  # django.contrib.postgres.operations
    if isinstance(operation, migrations.AddIndex) and existing and not concurrent:
        return [
            (
                f"{name}({model}.{operation.index.name})",
                "builds an index under a write lock on an existing table: "
                "use AddIndexConcurrently in an atomic = False migration",
            )
        ]
    if isinstance(operation, migrations.RemoveIndex) and existing and not concurrent:
        return [
            (
                f"{name}({model}.{operation.name})",
                "drops an index under an ACCESS EXCLUSIVE lock (reads wait too, and queue "
                "behind any long query): use RemoveIndexConcurrently in an atomic = False "
                "migration",
            )
        ]
    if isinstance(operation, migrations.AddConstraint) and existing:
        kind = type(operation.constraint).__name__
        if kind == "UniqueConstraint":
            return [
                (
                    f"{name}({model}.{operation.constraint.name})",
                    "builds a unique index under a write lock on an existing table: "
                    "create the index concurrently first, then attach it",
                )
            ]
    if isinstance(operation, migrations.RunSQL):
        sql = operation.sql if isinstance(operation.sql, str) else repr(operation.sql)
        match = _DESTRUCTIVE_SQL.search(sql)
        if match:
            return [(name, f"runs '{match.group(0)}': the previous release may still use it")]
    if isinstance(operation, migrations.SeparateDatabaseAndState):
        return [
            finding
            for inner in operation.database_operations
            for finding in _operation_findings(app_label, inner, state, created)
        ]
    return []


def check_plan(plan, state, baseline: set[str] = frozenset()) -> list[Finding]:
    """Findings for migrations applied in ``plan`` order on top of ``state`` (mutated).

    ``plan`` is a sequence of (app_label, Migration); only project apps outside
    the baseline are judged, but every migration moves the state forward.
    """
    findings = []
    for app_label, migration in plan:
        key = f"{app_label}.{migration.name}"
        judged = app_label in PROJECT_APPS and key not in baseline
        created: set[tuple[str, str]] = set()
        for operation in migration.operations:
            if judged:
                for op, reason in _operation_findings(app_label, operation, state, created):
                    findings.append(Finding(key, op, reason))
            if type(operation).__name__ == "CreateModel":
                created.add((app_label, operation.name_lower))
            operation.state_forwards(app_label, state)
    return findings


def full_plan():
    """Every migration on disk in dependency order, and the empty state to start from."""
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    loader = MigrationLoader(None, ignore_no_migrations=True)
    graph = loader.graph
    seen, plan = set(), []
    for leaf in sorted(graph.leaf_nodes()):
        for node in graph.forwards_plan(leaf):
            if node not in seen:
                seen.add(node)
                plan.append((node[0], loader.disk_migrations[node]))
    return plan, ProjectState(real_apps=loader.unmigrated_apps)


def read_baseline(path: Path) -> set[str]:
    if not path.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    parser.add_argument(
        "--write-baseline",
        action="store_true",
        help="accept every migration on disk now (run once, when adopting the check)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")
    os.environ.setdefault("SECRET_KEY", "migration-lint")
    import django

    django.setup()
    plan, state = full_plan()
    if args.write_baseline:
        names = sorted(f"{app}.{m.name}" for app, m in plan if app in PROJECT_APPS)
        header = (
            "# Migrations accepted by ops/migration_lint.py as they are: the history before\n"
            "# the check existed. Add a contract step here only with its reason, e.g.\n"
            "# outbound.0042_drop_order_note  # column unused since release 1.7\n"
        )
        args.baseline.write_text(header + "\n".join(names) + "\n")
        print(f"baseline: {len(names)} migrations written to {args.baseline}")
        return 0
    findings = check_plan(plan, state, read_baseline(args.baseline))
    for finding in findings:
        print(f"UNSAFE for a rolling upgrade: {finding}")
    judged = sum(1 for app, _ in plan if app in PROJECT_APPS)
    print(f"migration-lint: {judged} project migrations, {len(findings)} unsafe operation(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
