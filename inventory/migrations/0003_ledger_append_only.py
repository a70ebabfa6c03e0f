"""The database itself refuses UPDATE and DELETE on the inventory ledger.

A row trigger raising an error. TRUNCATE is deliberately not blocked: test
teardown and disaster recovery use it, and it is not something application
code can do by accident.
"""

from django.db import migrations

TABLE = "inventory_inventoryledgerentry"

FORWARD = f"""
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

BACKWARD = f"""
DROP TRIGGER IF EXISTS inventory_ledger_append_only ON {TABLE};
DROP FUNCTION IF EXISTS inventory_ledger_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_stock_ledger_balances_reservations")]

    # Each as one statement without parameters: the function body holds a literal "%".
    operations = [migrations.RunSQL([FORWARD], [BACKWARD])]
