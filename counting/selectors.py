"""Reads of counting, always scoped by warehouse for an actor (``wms.scoping``)."""

from django.db.models import Count, Q, QuerySet

from wms.exceptions import NotFoundError
from wms.scoping import scope_by_warehouse

from .models import ACTIVE_COUNT_STATUSES, CountLine, CountLineState, InventoryCount

_COUNTED = Q(lines__qty_counted__isnull=False)


def count_list(*, actor, warehouse_code: str | None = None) -> QuerySet:
    qs = scope_by_warehouse(InventoryCount.objects.select_related("warehouse"), actor)
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    return qs


def count_get(*, actor, count_id) -> InventoryCount:
    """A count the actor may see; 404 otherwise (also for another warehouse's)."""
    count = count_list(actor=actor).filter(pk=count_id).first()
    if count is None:
        raise NotFoundError("No such count.", code="count_not_found")
    return count


def count_lines(*, count: InventoryCount) -> QuerySet:
    return count.lines.select_related("location", "item", "status", "adjustment").order_by(
        "location__pick_sequence", "location__code", "pk"
    )


def count_progress(*, count_ids) -> dict[int, tuple[int, int]]:
    """(lines counted, lines in total) per count."""
    rows = (
        CountLine.objects.filter(count_id__in=list(count_ids))
        .values("count_id")
        .annotate(total=Count("id"), counted=Count("id", filter=Q(qty_counted__isnull=False)))
    )
    return {row["count_id"]: (row["counted"], row["total"]) for row in rows}


def counts_for_counter(*, actor, warehouse=None) -> list[InventoryCount]:
    """Counts the counter may work on: active, of their warehouses, assigned to them or
    to nobody; oldest first."""
    qs = count_list(actor=actor).filter(status__in=ACTIVE_COUNT_STATUSES)
    if warehouse is not None:
        qs = qs.filter(warehouse=warehouse)
    qs = qs.filter(Q(assigned_to__isnull=True) | Q(assigned_to=actor))
    counts = list(qs.order_by("pk")[:50])
    progress = count_progress(count_ids=[c.pk for c in counts])
    recounts = recounts_waiting(actor=actor, count_ids=[c.pk for c in counts])
    for count in counts:
        count.progress = progress.get(count.pk, (0, 0))
        count.recounts_waiting = recounts.get(count.pk, 0)
    return counts


def recounts_waiting(*, actor, count_ids) -> dict[int, int]:
    """Lines waiting for a recount that ``actor`` may do (they did not count them first)."""
    rows = (
        CountLine.objects.filter(
            count_id__in=list(count_ids), state=CountLineState.RECOUNT_REQUIRED
        )
        .exclude(counted_by_label=actor.get_username())
        .values("count_id")
        .annotate(n=Count("id"))
    )
    return {row["count_id"]: row["n"] for row in rows}


def location_lines(*, count: InventoryCount, location) -> list[CountLine]:
    return list(
        count.lines.filter(location=location).select_related("item", "status").order_by("pk")
    )


def recount_locations(*, count: InventoryCount, actor) -> list:
    """Codes of locations with lines ``actor`` may recount."""
    return list(
        count.lines.filter(state=CountLineState.RECOUNT_REQUIRED)
        .exclude(counted_by_label=actor.get_username())
        .order_by("location__code")
        .values_list("location__code", flat=True)
        .distinct()
    )
