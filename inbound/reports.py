"""Inbound reports (issue 17): receiving discrepancies, receiving exceptions by type
and age, the day's dock appointments. Selectors only."""

from __future__ import annotations

import datetime as dt

from django.db.models import F
from django.utils.translation import gettext_lazy as _

from wms.reporting import Column, QuerySetSource, counts_by_type_and_age

from .models import (
    DockAssignment,
    DockAssignmentStatus,
    InboundShipmentLine,
    ReceivingException,
    ReceivingExceptionStatus,
)

DISCREPANCY_COLUMNS = [
    Column("receivedAt", _("Received at"), "datetime"),
    Column("warehouse", _("Warehouse")),
    Column("asn", _("ASN")),
    Column("supplier", _("Supplier")),
    Column("lineNumber", _("Line"), "int"),
    Column("sku", _("SKU")),
    Column("qtyExpected", _("Expected"), "decimal"),
    Column("qtyReceived", _("Received"), "decimal"),
    Column("difference", _("Difference"), "decimal"),
]


def receiving_discrepancies(
    *,
    warehouse_ids: list[int],
    since: dt.datetime,
    until: dt.datetime,
    supplier: str | None = None,
) -> QuerySetSource:
    """ASN lines whose received quantity differs from the expected one, of ASNs whose
    receiving completed in ``[since, until)``; difference = received minus expected."""
    lines = InboundShipmentLine.objects.filter(
        shipment__warehouse_id__in=warehouse_ids,
        shipment__received_at__gte=since,
        shipment__received_at__lt=until,
    ).exclude(qty_received_base=F("qty_expected_base"))
    if supplier:
        lines = lines.filter(shipment__supplier=supplier)
    rows = (
        lines.annotate(difference=F("qty_received_base") - F("qty_expected_base"))
        .order_by("id")
        .values_list(
            "id",
            "shipment__received_at",
            "shipment__warehouse__code",
            "shipment__external_ref",
            "shipment__supplier",
            "line_number",
            "item__sku",
            "qty_expected_base",
            "qty_received_base",
            "difference",
        )
    )
    return QuerySetSource(queryset=rows, key_field="id")


def receiving_exceptions_by_type(
    *, warehouse_ids: list[int], status: str | None = ReceivingExceptionStatus.OPEN
) -> list[tuple]:
    """Receiving exceptions per warehouse and type: ``(warehouse, type, count, oldest,
    *age buckets)`` as ``tasking.reports.exceptions_by_type``."""
    cases = ReceivingException.objects.filter(warehouse_id__in=warehouse_ids)
    if status:
        cases = cases.filter(status=status)
    return counts_by_type_and_age(cases)


def open_receiving_exceptions(*, warehouse_ids: list[int], limit: int = 20) -> list[dict]:
    return list(
        ReceivingException.objects.filter(
            warehouse_id__in=warehouse_ids, status=ReceivingExceptionStatus.OPEN
        )
        .order_by("opened_at")
        .values("id", "type", "opened_at", "warehouse__code", "item__sku")[:limit]
    )


def receiving_exceptions_older_than(*, warehouse_id: int, opened_before: dt.datetime) -> list:
    return list(
        ReceivingException.objects.filter(
            warehouse_id=warehouse_id,
            status=ReceivingExceptionStatus.OPEN,
            opened_at__lt=opened_before,
        ).values("id", "type", "opened_at")
    )


def dock_appointments(
    *, warehouse_ids: list[int], since: dt.datetime, until: dt.datetime
) -> list[dict]:
    """Dock bookings starting in ``[since, until)`` (the dashboard's day), not cancelled."""
    return list(
        DockAssignment.objects.filter(
            warehouse_id__in=warehouse_ids, starts_at__gte=since, starts_at__lt=until
        )
        .exclude(status=DockAssignmentStatus.CANCELLED)
        .order_by("starts_at")
        .values(
            "id",
            "warehouse__code",
            "dock_door__code",
            "direction",
            "status",
            "starts_at",
            "ends_at",
            "inbound_shipment__external_ref",
            "outbound_ref",
        )
    )
