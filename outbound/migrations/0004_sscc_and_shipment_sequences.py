"""Database sequences for SSCC serial numbers and shipment numbers.

A sequence hands out each number once across every process and never blocks
a concurrent packer (a rolled-back transaction leaves a gap, which GS1 allows:
an SSCC must never be reused, not be dense).
"""

from django.db import migrations

FORWARD = """
CREATE SEQUENCE IF NOT EXISTS outbound_sscc_serial START 1;
CREATE SEQUENCE IF NOT EXISTS outbound_shipment_number START 1;
"""
BACKWARD = """
DROP SEQUENCE IF EXISTS outbound_sscc_serial;
DROP SEQUENCE IF EXISTS outbound_shipment_number;
"""


class Migration(migrations.Migration):
    dependencies = [("outbound", "0003_packing_shipping_finance")]

    operations = [migrations.RunSQL([FORWARD], [BACKWARD])]
