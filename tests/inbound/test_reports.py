"""Receiving discrepancies report (issue 17): ASN lines received short or over."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from inbound.models import InboundShipment, InboundShipmentLine, InboundStatus
from inbound.reports import receiving_discrepancies
from tests.factories import ItemFactory, UnitOfMeasureFactory


def test_receiving_discrepancies_lists_short_and_over_lines(warehouse):
    """Of three lines (10/8, 5/5, 4/6) the short and the over one, with their difference;
    an ASN received outside the period is left out."""
    now = timezone.now()
    uom = UnitOfMeasureFactory()
    asn = InboundShipment.objects.create(
        warehouse=warehouse, external_ref="ASN-1", supplier="ACME", expected_arrival_at=now,
        status=InboundStatus.RECEIVED, received_at=now - dt.timedelta(hours=1),
    )  # fmt: skip
    old = InboundShipment.objects.create(
        warehouse=warehouse, external_ref="ASN-0", supplier="ACME", expected_arrival_at=now,
        status=InboundStatus.RECEIVED, received_at=now - dt.timedelta(days=30),
    )  # fmt: skip
    for n, (expected, received, shipment) in enumerate(
        [(10, 8, asn), (5, 5, asn), (4, 6, asn), (3, 1, old)], start=1
    ):
        InboundShipmentLine.objects.create(
            shipment=shipment, line_number=n, item=ItemFactory(warehouse=warehouse, sku=f"R{n}"),
            uom=uom, qty_expected=expected, qty_expected_base=expected,
            qty_received_base=received,
        )  # fmt: skip
    source = receiving_discrepancies(
        warehouse_ids=[warehouse.pk], since=now - dt.timedelta(days=7), until=now
    )
    rows = [(r[3], r[6], r[9]) for r in source.stream()]
    assert rows == [("ASN-1", "R1", Decimal("-2.000")), ("ASN-1", "R3", Decimal("2.000"))]
