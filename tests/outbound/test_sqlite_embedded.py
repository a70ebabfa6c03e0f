"""The embedded default (SQLite): an order is accepted, planned (allocations,
lines, history, event written by the planner's batched statements), and a
shortage leaves a backorder that plans once stock arrives."""

import textwrap

from tests.sqlite_embedded import EmbeddedSQLite

SCRIPT = textwrap.dedent(
    """
    import django
    django.setup()
    from decimal import Decimal
    from django.db import connection
    from integrations.services import external_system_ensure
    from inventory import services
    from inventory.models import InventoryStatus, Item, Location, UnitOfMeasure, Warehouse, Zone
    from outbound.models import Allocation, ReplenishmentOrder
    from outbound.services import (
        OrderLineInput, backorders_reopen_with_stock, order_accept, planning_group_for,
        planning_job_run,
    )
    from wms.models import OutboxEvent

    assert connection.vendor == "sqlite", connection.vendor
    wh = Warehouse.objects.create(code="EMB1", name="Embedded")
    zone = Zone.objects.create(warehouse=wh, code="A", name="A")
    uom = UnitOfMeasure.objects.create(code="EA", description="Each")
    ok = InventoryStatus.objects.create(code="AVAILABLE", description="a", allocatable=True)
    items = [
        Item.objects.create(warehouse=wh, sku=f"S{n}", description="d", base_uom=uom)
        for n in (1, 2)
    ]
    face = Location.objects.create(
        warehouse=wh, zone=zone, code="P1", barcode="P1", type="PICK_FACE", pick_sequence=1
    )
    for n, qty in ((0, "10.5"), (1, "2")):
        services.stock_receive(item=items[n], location=face, status=ok, qty=Decimal(qty),
                               posting_key=f"r{n}", source_ref="R")
    external_system_ensure(system_type="store", code="ST1", warehouse_codes=["EMB1"])
    order = order_accept(warehouse=wh, store_code="ST1", external_order_id="E1", lines=[
        OrderLineInput(line_number=1, sku="S1", qty=Decimal("4.5")),
        OrderLineInput(line_number=2, sku="S2", qty=Decimal("5")),
    ])
    group = planning_group_for("ST1")

    def show():
        order.refresh_from_db()
        lines = [(ln.line_number, ln.status, str(ln.qty_allocated)) for ln in order.lines.all()]
        print(order.status, order.zone_id == zone.pk, lines)

    planning_job_run(warehouse_id=wh.pk, planning_group=group)
    show()
    services.stock_receive(item=items[1], location=face, status=ok, qty=Decimal("3"),
                           posting_key="r3", source_ref="R")
    print("reopened:", backorders_reopen_with_stock())
    planning_job_run(warehouse_id=wh.pk, planning_group=group)
    show()
    print(sorted(str(a.qty) for a in Allocation.objects.all()))
    print([e.event_type for e in OutboxEvent.objects.filter(
        aggregate_type="ReplenishmentOrder").order_by("id")])
    history = order.history.order_by("history_id")
    print([(h.history_type, h.history_change_reason, h.status) for h in history])
    print(sorted(ln.history.count() for ln in order.lines.all()))
    """
)


def test_planning_on_sqlite(tmp_path):
    sqlite = EmbeddedSQLite(tmp_path)
    assert sqlite.script(SCRIPT) == [
        "BACKORDERED False [(1, 'ALLOCATED', '4.500'), (2, 'BACKORDERED', '2.000')]",
        "reopened: 1",
        "PLANNED True [(1, 'ALLOCATED', '4.500'), (2, 'ALLOCATED', '5.000')]",
        "['2.000', '3.000', '4.500']",
        "['order.accepted', 'order.backordered', 'order.planned']",
        "[('+', None, 'ACCEPTED'), ('~', 'planning', 'BACKORDERED'), "
        "('~', 'planning', 'PLANNED'), ('~', 'added to wave', 'PLANNED')]",
        "[2, 3]",
    ]
    verify = sqlite.manage("verify_inventory")
    assert verify.returncode == 0, verify.stdout + verify.stderr
