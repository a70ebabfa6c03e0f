"""Fixtures of the inbound tests: one warehouse laid out for receiving and put-away.

Layout of MAD1: receiving location RCV-01, staging STG-01, dock door D01 (its
location DCK-01) and D02 (no location), pick zone PF with A-01..A-03 (capacity
100 each, in travel order), reserve zone RS with R-01..R-02 (capacity 1000),
quarantine zone QA with QA-01. Items: SKU-A (cases of 12), SKU-B, SKU-C (item
class FROZEN).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from inbound.models import InboundSettings, PutAwayRuleType, PutAwayStrategy
from inbound.services import AsnLineSpec, inbound_shipment_create
from inventory.models import ItemUnitConversion, LocationType, ReasonCode, ReasonCodeUse
from tests.factories import (
    DockDoorFactory,
    InventoryStatusFactory,
    ItemFactory,
    LocationFactory,
    UnitOfMeasureFactory,
    UserFactory,
    ZoneFactory,
)


@pytest.fixture
def available(db):
    return InventoryStatusFactory(code="AVAILABLE", description="Available", allocatable=True)


@pytest.fixture
def damaged(db):
    return InventoryStatusFactory(code="DAMAGED", description="Damaged", allocatable=False)


@pytest.fixture
def each(db):
    return UnitOfMeasureFactory(code="EA", description="Each")


@pytest.fixture
def case(db):
    return UnitOfMeasureFactory(code="CS", description="Case")


@pytest.fixture
def layout(warehouse, available, damaged, each, case):
    """The warehouse's zones, locations, doors, items and reason codes (see module doc)."""

    def loc(code, type_, zone=None, capacity=None, seq=0):
        return LocationFactory(
            warehouse=warehouse,
            code=code,
            barcode=f"L{code}",
            type=type_,
            zone=zone,
            capacity=capacity,
            pick_sequence=seq,
        )

    pf = ZoneFactory(warehouse=warehouse, code="PF", name="Pick faces")
    rs = ZoneFactory(warehouse=warehouse, code="RS", name="Reserve")
    qa = ZoneFactory(warehouse=warehouse, code="QA", name="Quarantine")
    ns = {
        "warehouse": warehouse,
        "available": available,
        "damaged": damaged,
        "each": each,
        "case": case,
        "pf": pf,
        "rs": rs,
        "qa": qa,
        "rcv": loc("RCV-01", LocationType.RECEIVING, seq=1),
        "stg": loc("STG-01", LocationType.STAGING, seq=2),
        "dck": loc("DCK-01", LocationType.DOCK, seq=0),
        "a1": loc("A-01", LocationType.PICK_FACE, pf, Decimal("100"), 10),
        "a2": loc("A-02", LocationType.PICK_FACE, pf, Decimal("100"), 11),
        "a3": loc("A-03", LocationType.PICK_FACE, pf, Decimal("100"), 12),
        "r1": loc("R-01", LocationType.RESERVE, rs, Decimal("1000"), 20),
        "r2": loc("R-02", LocationType.RESERVE, rs, Decimal("1000"), 21),
        "qa1": loc("QA-01", LocationType.QUARANTINE, qa, None, 30),
    }
    ns["d1"] = DockDoorFactory(warehouse=warehouse, code="D01", location=ns["dck"])
    ns["d2"] = DockDoorFactory(warehouse=warehouse, code="D02")
    ns["sku_a"] = ItemFactory(warehouse=warehouse, sku="SKU-A", gtin="8400000000011", base_uom=each)
    ns["sku_b"] = ItemFactory(warehouse=warehouse, sku="SKU-B", gtin="8400000000028", base_uom=each)
    ns["sku_c"] = ItemFactory(
        warehouse=warehouse, sku="SKU-C", gtin="8400000000035", base_uom=each, item_class="FROZEN"
    )
    ItemUnitConversion.objects.create(item=ns["sku_a"], uom=case, base_units=Decimal("12"))
    ns["override"] = ReasonCode.objects.create(
        code="LOC_OVERRIDE", description="Location override", use=ReasonCodeUse.OVERRIDE
    )
    # counting's migration seeds COUNT_DIFF (kept in non-transactional tests).
    ns["adjust_reason"], _ = ReasonCode.objects.get_or_create(
        code="COUNT_DIFF",
        defaults={"description": "Count difference", "use": ReasonCodeUse.ADJUSTMENT},
    )
    return type("Layout", (), ns)


@pytest.fixture
def inbound_settings(layout):
    return InboundSettings.objects.create(
        warehouse=layout.warehouse,
        over_receipt_tolerance_pct=Decimal("10"),
        under_receipt_tolerance_pct=Decimal("5"),
        receiving_location=layout.rcv,
        staging_location=layout.stg,
    )


@pytest.fixture
def strategy(layout):
    """Damaged → quarantine; SKU-B fixed at A-03; FROZEN → reserve; consolidate; nearest empty
    pick face; nearest empty reserve."""
    strategy = PutAwayStrategy.objects.create(warehouse=layout.warehouse, name="Default")
    rules = [
        dict(
            rule_type=PutAwayRuleType.NEAREST_EMPTY, zone=layout.qa, inventory_status=layout.damaged
        ),
        dict(rule_type=PutAwayRuleType.FIXED_LOCATION, item=layout.sku_b, location=layout.a3),
        dict(rule_type=PutAwayRuleType.ITEM_CLASS, item_class="FROZEN", zone=layout.rs),
        dict(rule_type=PutAwayRuleType.CONSOLIDATE),
        dict(rule_type=PutAwayRuleType.NEAREST_EMPTY, zone=layout.pf),
        dict(rule_type=PutAwayRuleType.NEAREST_EMPTY, zone=layout.rs),
    ]
    for sequence, rule in enumerate(rules, 1):
        strategy.rules.create(sequence=sequence * 10, **rule)
    return strategy


def _user(name, role, warehouse):
    user = UserFactory(username=name, warehouses=[warehouse])
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def receiver(layout):
    return _user("rita", "receiver", layout.warehouse)


@pytest.fixture
def supervisor(layout):
    return _user("sam", "supervisor", layout.warehouse)


@pytest.fixture
def make_asn(layout, supervisor):
    """``make_asn("ASN-1", [(1, "SKU-A", "10", "EA"), ...])`` → an expected ASN."""

    def make(ref="ASN-1", lines=None, arrival=None):
        lines = lines or [(1, "SKU-A", "24", "EA")]
        return inbound_shipment_create(
            warehouse=layout.warehouse,
            external_ref=ref,
            supplier="ACME Foods",
            expected_arrival_at=arrival or timezone.now() + timedelta(hours=2),
            lines=[AsnLineSpec(n, sku, Decimal(q), uom) for n, sku, q, uom in lines],
            actor=supervisor,
        )

    return make


@pytest.fixture
def assert_inventory_clean():
    """Run ``manage.py verify_inventory``; it raises CommandError on any drift."""

    def check():
        from io import StringIO

        from django.core.management import call_command

        out = StringIO()
        call_command("verify_inventory", stdout=out)
        assert "OK, no drift" in out.getvalue(), out.getvalue()
        return out.getvalue()

    return check
