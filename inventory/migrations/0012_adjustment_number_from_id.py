"""Adjustment numbers come from the adjustment's id (``ADJ-`` and the id, taken in
blocks by ``inventory.services.adjustments``): the separate number sequence goes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("inventory", "0011_adjustment_leaner_indexes")]

    operations = [
        migrations.RunSQL(
            ["DROP SEQUENCE IF EXISTS inventory_adjustment_number"],
            ["CREATE SEQUENCE IF NOT EXISTS inventory_adjustment_number START 1"],
        )
    ]
