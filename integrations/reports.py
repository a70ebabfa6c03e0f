"""Reports across the apps (issue 17), built from each app's ``reports`` selectors,
and the integration layer's own: outbox and webhook delivery health.

``REPORTS`` is the catalogue the API (``reports_api``), the supervisor pages
(``report_views``) and mailed subscriptions (``scheduled_reports``) share: a
report's filters, who may read it and how its rows are made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from counting import reports as counting_reports
from inbound import reports as inbound_reports
from inventory import reports as inventory_reports
from outbound import reports as outbound_reports
from tasking import reports as tasking_reports
from wms.models import OutboxEvent, OutboxStatus
from wms.reporting import (
    REPORT_TITLES,
    Column,
    ListSource,
    ReportFilterInvalid,
    age_bucket_columns,
)
from wms.scoping import warehouses_visible_to

from .models import DeliveryStatus, WebhookDelivery

#: Who may see values at cost: finance systems, and people with the finance role's
#: permission (superusers and administrators have it too).
VALUE_PERMISSION = "inventory.view_financeevent"


def actor_sees_values(actor) -> bool:
    system = getattr(actor, "system", None)
    if system is not None:
        return system.type == "finance"
    return bool(actor.is_superuser or actor.has_perm(VALUE_PERMISSION))


def report_warehouse_ids(actor, code: str | None) -> list[int]:
    """The warehouses a report covers: ``code``'s if given (400 when it is unknown or
    not granted: a report never answers for a warehouse the actor may not see), else
    every warehouse visible to ``actor``."""
    visible = warehouses_visible_to(actor)
    if code:
        ids = list(visible.filter(code=code).values_list("pk", flat=True))
        if not ids:
            raise ReportFilterInvalid(
                "warehouse", f"Unknown warehouse '{code}'.", code="unknown_warehouse"
            )
        return ids
    return list(visible.values_list("pk", flat=True))


# --- filters ---------------------------------------------------------------------------


class _WarehouseFilter(serializers.Serializer):
    warehouse = serializers.CharField(required=False, max_length=32)


class StockOnHandFilter(_WarehouseFilter):
    zone = serializers.CharField(required=False, max_length=32)
    sku = serializers.CharField(required=False, max_length=64)
    status = serializers.CharField(required=False, max_length=32)
    asOf = serializers.DateTimeField(required=False)


def _period_filter(name: str, extra: dict, default_days: int) -> type:
    """A filter serializer with ``from`` / ``to`` (Python keywords, so built by type())."""

    def validate(self, attrs):
        until = attrs.get("to") or timezone.now()
        since = attrs.get("from") or until - dt.timedelta(days=default_days)
        if since >= until:
            raise ReportFilterInvalid("from", "The period's start must be before its end.")
        attrs["from"], attrs["to"] = since, until
        return attrs

    fields = {
        "from": serializers.DateTimeField(required=False),
        "to": serializers.DateTimeField(required=False),
        "validate": validate,
        **extra,
    }
    return type(name, (_WarehouseFilter,), fields)


MovementFilter = _period_filter(
    "MovementFilter",
    {
        "sku": serializers.CharField(required=False, max_length=64),
        "type": serializers.CharField(required=False, max_length=16),
    },
    default_days=1,
)
CycleTimeFilter = _period_filter(
    "CycleTimeFilter", {"store": serializers.CharField(required=False, max_length=64)}, 7
)
ProductivityFilter = _period_filter(
    "ProductivityFilter", {"picker": serializers.CharField(required=False, max_length=150)}, 1
)
CountAccuracyFilter = _period_filter(
    "CountAccuracyFilter",
    {
        "zone": serializers.CharField(required=False, max_length=32),
        "sku": serializers.CharField(required=False, max_length=64),
    },
    30,
)
DiscrepancyFilter = _period_filter(
    "DiscrepancyFilter", {"supplier": serializers.CharField(required=False, max_length=200)}, 7
)


class OpenOrdersFilter(_WarehouseFilter):
    store = serializers.CharField(required=False, max_length=64)


class ExceptionsFilter(_WarehouseFilter):
    status = serializers.ChoiceField(
        required=False, choices=["OPEN", "ALL"], default="OPEN", help_text="OPEN or ALL"
    )


class NoFilter(serializers.Serializer):
    pass


# --- cross-app and integration reports ------------------------------------------------

EXCEPTION_COLUMNS = [
    Column("source", _("Source")),
    Column("warehouse", _("Warehouse")),
    Column("type", _("Type")),
    Column("count", _("Count"), "int"),
    Column("oldestOpenedAt", _("Oldest opened at"), "datetime"),
    *age_bucket_columns(),
]

DELIVERY_HEALTH_COLUMNS = [
    Column("channel", _("Channel")),
    Column("target", _("Target")),
    Column("pending", _("Pending"), "int"),
    Column("retrying", _("Retrying"), "int"),
    Column("dead", _("Dead letters"), "int"),
    Column("oldestWaitingSince", _("Oldest waiting since"), "datetime"),
    Column("oldestAgeSeconds", _("Oldest age (s)"), "int"),
]


def exceptions_report(*, warehouse_ids: list[int], status: str = "OPEN") -> ListSource:
    """Picking and receiving exceptions per type with their age."""
    wanted = None if status == "ALL" else "OPEN"
    rows = [
        ("picking", *row)
        for row in tasking_reports.exceptions_by_type(warehouse_ids=warehouse_ids, status=wanted)
    ] + [
        ("receiving", *row)
        for row in inbound_reports.receiving_exceptions_by_type(
            warehouse_ids=warehouse_ids, status=wanted
        )
    ]
    return ListSource(rows=[(r[0], r[1], r[2], *r) for r in rows], key_len=3)


def delivery_health() -> ListSource:
    """The outbox (the event bus) and every system's webhook deliveries: how much waits,
    for how long, and how many were given up (dead letters). Instance-wide."""
    now = timezone.now()
    waiting = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING])
    # Pending and dead events each through their partial index: the published rest
    # (most of the table, kept for the retention window) is never read.
    outbox = OutboxEvent.objects.filter(status=OutboxStatus.PENDING).aggregate(
        pending=Count("pk"),
        retrying=Count("pk", filter=Q(attempts__gt=0)),
        oldest=Min("occurred_at"),
    )
    outbox["dead"] = OutboxEvent.objects.filter(status=OutboxStatus.DEAD).count()
    rows = [_health_row("outbox", "event bus", outbox, now)]
    per_system = (
        WebhookDelivery.objects.values("system__code")
        .annotate(
            pending=Count("pk", filter=Q(status=DeliveryStatus.PENDING)),
            retrying=Count("pk", filter=Q(status=DeliveryStatus.RETRYING)),
            dead=Count("pk", filter=Q(status=DeliveryStatus.DEAD)),
            oldest=Min("created_at", filter=waiting),
        )
        .order_by("system__code")
    )
    rows += [_health_row("webhook", row["system__code"], row, now) for row in per_system]
    return ListSource(rows=rows, key_len=2)


def _health_row(channel: str, target: str, counts: dict, now: dt.datetime) -> tuple:
    oldest = counts["oldest"]
    age = int((now - oldest).total_seconds()) if oldest else None
    return (channel, target, channel, target, counts["pending"], counts["retrying"],
            counts["dead"], oldest, age)  # fmt: skip


# --- the catalogue ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReportDefinition:
    slug: str
    title: object
    columns: list[Column]
    filters: type
    build: Callable  # (warehouse_ids, filters: dict) -> row source
    user_perms: tuple[str, ...]  # any one of them lets a person read it
    system_types: tuple[str, ...] = ("finance",)
    scoped: bool = True  # False: instance-wide (no warehouse filter)
    filter_names: list[str] = field(default_factory=list)

    def actor_may_read(self, actor) -> bool:
        system = getattr(actor, "system", None)
        if system is not None:
            return system.type in self.system_types
        return bool(actor.is_superuser or any(actor.has_perm(p) for p in self.user_perms))


def _stock_on_hand(ids, f):
    return inventory_reports.stock_on_hand(
        warehouse_ids=ids,
        zone=f.get("zone"),
        sku=f.get("sku"),
        status=f.get("status"),
        as_of=f.get("asOf"),
    )


_STOCK_READERS = (
    "inventory.view_inventorybalance",
    "inventory.view_inventoryledgerentry",
    VALUE_PERMISSION,
)

REPORTS: dict[str, ReportDefinition] = {
    r.slug: r
    for r in [
        ReportDefinition(
            slug="stock-on-hand",
            title=_("Stock on hand"),
            columns=inventory_reports.STOCK_ON_HAND_COLUMNS,
            filters=StockOnHandFilter,
            build=_stock_on_hand,
            user_perms=_STOCK_READERS,
        ),
        ReportDefinition(
            slug="stock-movements",
            title=_("Stock movements"),
            columns=inventory_reports.MOVEMENT_COLUMNS,
            filters=MovementFilter,
            build=lambda ids, f: inventory_reports.stock_movements(
                warehouse_ids=ids,
                since=f["from"],
                until=f["to"],
                sku=f.get("sku"),
                entry_type=f.get("type"),
            ),
            user_perms=_STOCK_READERS,
        ),
        ReportDefinition(
            slug="open-orders",
            title=_("Open orders and backorders by store"),
            columns=outbound_reports.OPEN_ORDER_COLUMNS,
            filters=OpenOrdersFilter,
            build=lambda ids, f: outbound_reports.open_orders_by_store(
                warehouse_ids=ids, store=f.get("store")
            ),
            user_perms=("outbound.view_replenishmentorder",),
        ),
        ReportDefinition(
            slug="order-cycle-time",
            title=_("Order cycle time (accepted to shipped)"),
            columns=outbound_reports.CYCLE_TIME_COLUMNS,
            filters=CycleTimeFilter,
            build=lambda ids, f: outbound_reports.order_cycle_time(
                warehouse_ids=ids, since=f["from"], until=f["to"], store=f.get("store")
            ),
            user_perms=("outbound.view_replenishmentorder",),
        ),
        ReportDefinition(
            slug="pick-productivity",
            title=_("Pick productivity per picker and hour"),
            columns=tasking_reports.PRODUCTIVITY_COLUMNS,
            filters=ProductivityFilter,
            build=lambda ids, f: tasking_reports.pick_productivity(
                warehouse_ids=ids, since=f["from"], until=f["to"], picker=f.get("picker")
            ),
            user_perms=("tasking.view_pickconfirmation", "tasking.view_picktask"),
        ),
        ReportDefinition(
            slug="exceptions",
            title=_("Exceptions by type and age"),
            columns=EXCEPTION_COLUMNS,
            filters=ExceptionsFilter,
            build=lambda ids, f: exceptions_report(
                warehouse_ids=ids, status=f.get("status", "OPEN")
            ),
            user_perms=("tasking.view_exceptioncase", "inbound.view_receivingexception"),
        ),
        ReportDefinition(
            slug="receiving-discrepancies",
            title=_("Receiving discrepancies"),
            columns=inbound_reports.DISCREPANCY_COLUMNS,
            filters=DiscrepancyFilter,
            build=lambda ids, f: inbound_reports.receiving_discrepancies(
                warehouse_ids=ids, since=f["from"], until=f["to"], supplier=f.get("supplier")
            ),
            user_perms=("inbound.view_inboundshipment",),
        ),
        ReportDefinition(
            slug="count-accuracy",
            title=_("Count accuracy"),
            columns=counting_reports.COUNT_ACCURACY_COLUMNS,
            filters=CountAccuracyFilter,
            build=lambda ids, f: counting_reports.count_accuracy(
                warehouse_ids=ids,
                since=f["from"],
                until=f["to"],
                zone=f.get("zone"),
                sku=f.get("sku"),
            ),
            user_perms=("counting.view_inventorycount", VALUE_PERMISSION),
        ),
        ReportDefinition(
            slug="delivery-health",
            title=_("Outbox and webhook delivery health"),
            columns=DELIVERY_HEALTH_COLUMNS,
            filters=NoFilter,
            build=lambda ids, f: delivery_health(),
            user_perms=("integrations.view_webhookdelivery", "wms.view_outboxevent"),
            scoped=False,
        ),
    ]
}


REPORT_TITLES.update({slug: report.title for slug, report in REPORTS.items()})


def report_source(report: ReportDefinition, *, actor, params) -> tuple[object, dict]:
    """Validate ``params`` (a QueryDict or dict) for ``report`` as ``actor``; the row
    source and the cleaned filters. Bad input raises (400 problem details)."""
    filters = report.filters(data=params)
    filters.is_valid(raise_exception=True)
    cleaned = dict(filters.validated_data)
    ids = report_warehouse_ids(actor, cleaned.get("warehouse")) if report.scoped else []
    return report.build(ids, cleaned), cleaned
