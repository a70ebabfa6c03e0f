"""Counting reports (issue 17): count accuracy, variances waiting for a decision (the
count variance alerts) and open counts' progress (dashboard). Selectors only.

Accuracy is what an auditor reads per count: of the lines counted, how many
matched the books (after reconciliation: ``CountLine.variance``, which already
takes out what moved between opening and scan), and how far off the others
were, in base units and at the item's current unit cost. Inventory is read
only through ``inventory.selectors`` (items, zones, locations).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import Abs
from django.utils.translation import gettext_lazy as _

from inventory import selectors as inventory_selectors
from inventory.models import AdjustmentState
from wms.reporting import Column, ListSource, ReportFilterInvalid

from .models import ACTIVE_COUNT_STATUSES, CountLine, CountLineState, CountStatus, InventoryCount
from .selectors import count_progress

ZERO = Decimal("0")
QTY, MONEY = Decimal("0.001"), Decimal("0.0001")
#: A count whose variances were reconciled (adjusted, or some waiting for approval).
CLOSED_STATUSES = (CountStatus.RECONCILED, CountStatus.PENDING_APPROVAL)

COUNT_ACCURACY_COLUMNS = [
    Column("countNumber", _("Count")),
    Column("type", _("Type")),
    Column("warehouse", _("Warehouse")),
    Column("zone", _("Zone")),
    Column("status", _("Status")),
    Column("closedAt", _("Closed at"), "datetime"),
    Column("linesCounted", _("Lines counted"), "int"),
    Column("linesWithVariance", _("Lines with variance"), "int"),
    Column("accuracyPct", _("Accuracy (%)"), "decimal"),
    Column("absVarianceQty", _("Absolute variance (quantity)"), "decimal"),
    Column("netVarianceQty", _("Net variance (quantity)"), "decimal"),
    Column("absVarianceValue", _("Absolute variance (value)"), "money", sensitive=True),
    Column("netVarianceValue", _("Net variance (value)"), "money", sensitive=True),
    Column("currency", _("Currency"), sensitive=True),
]


def _zone_location_ids(warehouse_ids: list[int], code: str) -> list[int]:
    """Locations of zone ``code`` in the warehouses (400 ``unknown_zone`` if none has it)."""
    ids, known = [], False
    for warehouse_id in warehouse_ids:
        zone = inventory_selectors.zone_for_code(warehouse=warehouse_id, code=code)
        if zone is not None:
            known = True
            ids += inventory_selectors.location_ids_in_scope(warehouse=warehouse_id, zone=zone)
    if not known:
        raise ReportFilterInvalid("zone", f"Unknown zone '{code}'.", code="unknown_zone")
    return ids


def _sku_item_ids(warehouse_ids: list[int], sku: str) -> list[int]:
    ids = [
        item.pk
        for warehouse_id in warehouse_ids
        for item in inventory_selectors.items_for_skus(warehouse=warehouse_id, skus=[sku]).values()
    ]
    if not ids:
        raise ReportFilterInvalid("sku", f"Unknown SKU '{sku}'.", code="unknown_sku")
    return ids


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.01"))


def _unit_costs(item_ids) -> dict[int, Decimal]:
    items = inventory_selectors.items_with_warehouse(item_ids=sorted(item_ids))
    return {pk: item.unit_cost for pk, item in items.items()}


def count_accuracy(
    *,
    warehouse_ids: list[int],
    since: dt.datetime,
    until: dt.datetime,
    zone: str | None = None,
    sku: str | None = None,
) -> ListSource:
    """One row per count closed (reconciled or pending approval) in ``[since, until)``,
    oldest first: lines counted (a result recorded, found-at-scan lines included),
    lines with a variance, accuracy = lines without variance / lines counted, and the
    variance summed (absolute and net) in base units and at the item's current unit
    cost. ``zone`` / ``sku`` narrow the lines (a count without such lines is left out)."""
    if since >= until:
        raise ReportFilterInvalid("from", "The period's start must be before its end.")
    lines = CountLine.objects.filter(
        count__warehouse_id__in=warehouse_ids,
        count__status__in=CLOSED_STATUSES,
        count__completed_at__gte=since,
        count__completed_at__lt=until,
        qty_counted__isnull=False,
    )
    if zone:
        lines = lines.filter(location_id__in=_zone_location_ids(warehouse_ids, zone))
    if sku:
        lines = lines.filter(item_id__in=_sku_item_ids(warehouse_ids, sku))
    # Per count and item (one valuation per item), summed per count below.
    per_item = (
        lines.values_list("count_id", "item_id")
        .annotate(
            n=Count("pk"),
            off=Count("pk", filter=Q(variance__gt=0) | Q(variance__lt=0)),
            abs_qty=Sum(Abs("variance")),
            net_qty=Sum("variance"),
        )
        .order_by()
    )
    totals: dict[int, list] = defaultdict(lambda: [0, 0, ZERO, ZERO, ZERO, ZERO])
    rows = list(per_item)
    costs = _unit_costs({item_id for _c, item_id, *_r in rows if item_id is not None})
    for count_id, item_id, n, off, abs_qty, net_qty in rows:
        cost = costs.get(item_id, ZERO)
        total = totals[count_id]
        total[0] += n
        total[1] += off
        total[2] += abs_qty or ZERO
        total[3] += net_qty or ZERO
        total[4] += (abs_qty or ZERO) * cost
        total[5] += (net_qty or ZERO) * cost
    counts = InventoryCount.objects.filter(pk__in=list(totals)).values_list(
        "pk", "count_number", "type", "warehouse__code", "zone__code", "status", "completed_at",
        "warehouse__currency",
    )  # fmt: skip
    result = []
    for pk, number, kind, warehouse, zone_code, status, closed_at, currency in counts:
        n, off, abs_qty, net_qty, abs_value, net_value = totals[pk]
        result.append(
            (
                closed_at,
                pk,
                number,
                kind,
                warehouse,
                zone_code or "",
                status,
                closed_at,
                n,
                off,
                _percent(n - off, n),
                abs_qty.quantize(QTY),
                net_qty.quantize(QTY),
                abs_value.quantize(MONEY),
                net_value.quantize(MONEY),
                currency,
            )
        )
    result.sort(key=lambda row: row[:2])
    return ListSource(rows=result, key_len=2)


def _undecided_lines():
    """Lines of closed counts whose non-zero variance waits for a decision (see below)."""
    return (
        CountLine.objects.filter(count__status=CountStatus.PENDING_APPROVAL)
        .filter(
            Q(state=CountLineState.BLOCKED) | Q(adjustment__state=AdjustmentState.PENDING_APPROVAL)
        )
        .exclude(variance=0)
    )


def count_variances_undecided_per_warehouse(*, warehouse_ids: list[int]) -> dict[int, int]:
    """Per warehouse: how many count lines' variances wait for a decision (metrics)."""
    rows = (
        _undecided_lines()
        .filter(count__warehouse_id__in=warehouse_ids)
        .values_list("count__warehouse_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows)


def count_variances_undecided(*, warehouse_id: int) -> list[dict]:
    """Lines of the warehouse's closed counts whose variance still waits for a decision:
    the adjustment waits for its approver, or the balance refused it (line BLOCKED).
    Each with its count, location, SKU, variance and value at the item's unit cost."""
    lines = list(
        _undecided_lines()
        .filter(count__warehouse_id=warehouse_id)
        .order_by("pk")
        .values(
            "id",
            "count__count_number",
            "location__code",
            "item_id",
            "item__sku",
            "variance",
            "state",
        )
    )
    costs = _unit_costs({line["item_id"] for line in lines})
    for line in lines:
        line["value"] = (line["variance"] * costs.get(line["item_id"], ZERO)).quantize(MONEY)
    return lines


def open_count_progress(*, warehouse_ids: list[int], limit: int = 20) -> list[dict]:
    """Open counts (oldest first): number, type, warehouse, lines counted / in total."""
    counts = list(
        InventoryCount.objects.filter(
            warehouse_id__in=warehouse_ids, status__in=ACTIVE_COUNT_STATUSES
        )
        .order_by("pk")
        .values("id", "count_number", "type", "status", "warehouse__code", "created_at")[:limit]
    )
    by_count = count_progress(count_ids=[c["id"] for c in counts])
    for count in counts:
        count["counted"], count["total"] = by_count.get(count["id"], (0, 0))
    return counts
