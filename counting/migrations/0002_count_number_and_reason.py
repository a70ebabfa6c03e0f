"""The count number sequence, and the reason code every count adjustment carries."""

from django.db import migrations

REASON = "COUNT_DIFF"  # as seed_demo names it; settings.WMS_COUNT_REASON_CODE


def reason_ensure(apps, schema_editor):
    ReasonCode = apps.get_model("inventory", "ReasonCode")
    fields = {f.name for f in ReasonCode._meta.get_fields()}
    defaults = {"description": "Cycle count difference", "use": "ADJUSTMENT"}
    if "description_en" in fields:
        defaults["description_en"] = "Cycle count difference"
        defaults["description_es"] = "Diferencia de recuento"
    ReasonCode.objects.get_or_create(code=REASON, defaults=defaults)


class Migration(migrations.Migration):
    dependencies = [
        ("counting", "0001_counts_lines_settings"),
        ("inventory", "0009_adjustments_approvals_audit"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS counting_count_number",
            "DROP SEQUENCE IF EXISTS counting_count_number",
        ),
        migrations.RunPython(reason_ensure, migrations.RunPython.noop),
    ]
