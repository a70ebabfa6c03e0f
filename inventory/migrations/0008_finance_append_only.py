"""Finance events are append-only (the ledger's trigger function), and the feed's
counter row exists from the start (``FinanceSequence``, id 1)."""

from django.db import migrations

TABLE = "inventory_financeevent"

FORWARD = f"""
CREATE TRIGGER inventory_finance_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION inventory_ledger_refuse_change();
INSERT INTO inventory_financesequence (id, last) VALUES (1, 0) ON CONFLICT DO NOTHING;
"""

BACKWARD = f"DROP TRIGGER IF EXISTS inventory_finance_append_only ON {TABLE};"


class Migration(migrations.Migration):
    dependencies = [("inventory", "0007_packing_shipping_finance")]

    operations = [migrations.RunSQL([FORWARD], [BACKWARD])]
