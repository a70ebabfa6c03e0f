"""The database itself refuses UPDATE and DELETE on the inventory ledger.

PostgreSQL: a row trigger raising an error. SQLite (the embedded default): the
equivalent BEFORE UPDATE / BEFORE DELETE triggers. TRUNCATE is deliberately
not blocked: test teardown and disaster recovery use it, and it is not
something application code can do by accident.
"""

from django.db import migrations

TABLE = "inventory_inventoryledgerentry"

POSTGRES_FORWARD = f"""
CREATE OR REPLACE FUNCTION inventory_ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'inventory ledger is append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER inventory_ledger_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION inventory_ledger_refuse_change();
"""

POSTGRES_BACKWARD = f"""
DROP TRIGGER IF EXISTS inventory_ledger_append_only ON {TABLE};
DROP FUNCTION IF EXISTS inventory_ledger_refuse_change();
"""

SQLITE_FORWARD = [
    f"""CREATE TRIGGER inventory_ledger_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'inventory ledger is append-only: UPDATE refused'); END;""",
    f"""CREATE TRIGGER inventory_ledger_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'inventory ledger is append-only: DELETE refused'); END;""",
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS inventory_ledger_no_update;",
    "DROP TRIGGER IF EXISTS inventory_ledger_no_delete;",
]


def _run(schema_editor, statements_by_vendor):
    vendor = schema_editor.connection.vendor
    statements = statements_by_vendor.get(vendor)
    if statements is None:
        raise RuntimeError(f"No append-only ledger trigger for database vendor '{vendor}'.")
    for statement in statements:
        # params=None: the SQL holds a literal "%" that is not a placeholder.
        schema_editor.execute(statement, params=None)


def forward(apps, schema_editor):
    _run(schema_editor, {"postgresql": [POSTGRES_FORWARD], "sqlite": SQLITE_FORWARD})


def backward(apps, schema_editor):
    _run(schema_editor, {"postgresql": [POSTGRES_BACKWARD], "sqlite": SQLITE_BACKWARD})


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_stock_ledger_balances_reservations")]

    operations = [migrations.RunPython(forward, backward)]
