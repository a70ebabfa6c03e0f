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


def test_bulk_insert_writes_what_bulk_create_would(warehouse):
    """UUID keys, foreign keys, decimals, nulls, aware datetimes, JSON and an auto_now
    field, in one statement; the rows read back equal those the instances describe."""
    from datetime import timedelta

    from django.utils import timezone

    from outbound.models import ReplenishmentOrder

    ship_by = timezone.now() + timedelta(days=2)
    orders = [
        ReplenishmentOrder(
            warehouse=warehouse,
            store_code="S001",
            external_order_id=f"E{n}",
            priority=n + 1,
            requested_ship_by=ship_by if n else None,
            rejection_reasons=[{"code": "x", "n": n}] if n == 2 else [],
        )
        for n in range(3)
    ]
    assert sql.bulk_insert(orders) == 3
    assert all(not order._state.adding for order in orders)
    stored = {o.pk: o for o in ReplenishmentOrder.objects.filter(store_code="S001")}
    assert set(stored) == {o.pk for o in orders}
    for order in orders:
        row = stored[order.pk]
        assert (row.warehouse_id, row.external_order_id, row.priority) == (
            warehouse.pk,
            order.external_order_id,
            order.priority,
        )
        assert row.requested_ship_by == order.requested_ship_by
        assert row.rejection_reasons == order.rejection_reasons
        assert row.updated_at is not None and row.updated_at == order.updated_at
    assert sql.bulk_insert([]) == 0
