"""``wms.sql``: hand-written statements for hot paths, on the real PostgreSQL.

(Units of measure as the guinea pig; their ``code`` is not translated, unlike the
``description`` modeltranslation reads from per-language columns.)"""

import pytest
from django.db import IntegrityError, transaction

from inventory.models import UnitOfMeasure
from wms import sql

pytestmark = pytest.mark.django_db


def test_execute_runs_in_order_and_counts_rows():
    table, code, description = (
        sql.table(UnitOfMeasure),
        sql.column(UnitOfMeasure, "code"),
        sql.column(UnitOfMeasure, "description"),
    )
    counts = sql.execute(
        [
            (f"INSERT INTO {table} ({code}, {description}) VALUES (%s, %s)", ["EA", "Each"]),
            (f"INSERT INTO {table} ({code}, {description}) VALUES (%s, %s)", ["CS", "Case"]),
            (f"UPDATE {table} SET {code} = %s WHERE {code} = %s", ["PCS", "EA"]),
            (f"DELETE FROM {table} WHERE {code} IN (%s, %s)", ["EA", "nothing"]),
        ]
    )
    assert counts == [1, 1, 1, 0]  # the DELETE runs after the UPDATE renamed EA
    assert sorted(UnitOfMeasure.objects.values_list("code", flat=True)) == ["CS", "PCS"]


def test_execute_errors_are_djangos_and_undo_the_batch():
    UnitOfMeasure.objects.create(code="EA", description="Each")
    table, code, description = (
        sql.table(UnitOfMeasure),
        sql.column(UnitOfMeasure, "code"),
        sql.column(UnitOfMeasure, "description"),
    )
    insert = f"INSERT INTO {table} ({code}, {description}) VALUES (%s, %s)"
    with pytest.raises(IntegrityError), transaction.atomic():
        sql.execute([(insert, ["PL", "Pallet"]), (insert, ["EA", "again"])])
    assert list(UnitOfMeasure.objects.values_list("code", flat=True)) == ["EA"]


def test_in_bulk_and_update_build_model_instances_and_statements():
    each = UnitOfMeasure.objects.create(code="EA", description="Each")
    found = sql.in_bulk(UnitOfMeasure, [each.pk, 10**9])
    assert list(found) == [each.pk]
    assert (found[each.pk].code, found[each.pk].description) == ("EA", "Each")
    each.code = "PCS"
    assert sql.execute([sql.update(each, ["code"])]) == [1]
    each.refresh_from_db()
    assert each.code == "PCS"
