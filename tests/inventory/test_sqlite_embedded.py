"""The embedded default (SQLite): inventory migrations run, postings keep the books, the
ledger is append-only there too, and ``verify_inventory`` exits 0."""

import textwrap

from tests.sqlite_embedded import EmbeddedSQLite

SCRIPT = textwrap.dedent(
    """
    import django
    django.setup()
    from decimal import Decimal
    from django.db import DatabaseError, connection, transaction
    from inventory import services
    from inventory.models import (
        InventoryBalance, InventoryStatus, Item, Location, UnitOfMeasure, Warehouse,
    )
    from wms.exceptions import DomainError

    assert connection.vendor == "sqlite", connection.vendor
    wh = Warehouse.objects.create(code="EMB1", name="Embedded")
    uom = UnitOfMeasure.objects.create(code="EA", description="Each")
    item = Item.objects.create(warehouse=wh, sku="S1", description="d", base_uom=uom)
    bin_a = Location.objects.create(warehouse=wh, code="A", barcode="A", type="RESERVE")
    staging = Location.objects.create(warehouse=wh, code="STG", barcode="STG", type="STAGING")
    ok = InventoryStatus.objects.create(code="AVAILABLE", description="a", allocatable=True)
    common = dict(item=item, location=bin_a, status=ok, source_ref="R")
    services.stock_receive(qty=Decimal("10.1"), posting_key="k1", **common)
    again = services.stock_receive(qty=Decimal("10.1"), posting_key="k1", **common)
    print("replayed:", again.replayed)
    r = services.reservation_create(
        item=item, location=bin_a, status=ok, qty=3, demand_ref="d", posting_key="k2"
    )
    services.reservation_consume(
        reservation=r, qty=Decimal("0.3"), to_location=staging, posting_key="k3"
    )
    services.reservation_release(reservation=r, posting_key="k4")
    try:
        services.stock_issue(qty=Decimal("9.9"), posting_key="k5", **common)
    except DomainError as exc:
        print("refused:", exc.code)
    print(sorted(str(v) for v in InventoryBalance.objects.values_list("on_hand", flat=True)))
    for sql in ["UPDATE inventory_inventoryledgerentry SET on_hand_delta = 1",
                "DELETE FROM inventory_inventoryledgerentry"]:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
            print("NOT refused")
        except DatabaseError:
            print("ledger change refused")
    """
)


def test_inventory_postings_on_sqlite(tmp_path):
    """Migrate, post, replay, refuse, protect the ledger and verify on the embedded SQLite."""
    sqlite = EmbeddedSQLite(tmp_path)
    assert sqlite.script(SCRIPT) == [
        "replayed: True",
        "refused: insufficient_available",
        "['0.300', '9.800']",
        "ledger change refused",
        "ledger change refused",
    ]
    verify = sqlite.manage("verify_inventory")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "verify_inventory: OK" in verify.stdout
