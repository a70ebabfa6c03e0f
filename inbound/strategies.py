"""Put-away placement: where should this quantity of this item go?

The warehouse's active ``PutAwayStrategy`` is an ordered list of rules; each
rule either proposes a location with room for the whole quantity or passes.
The first proposal wins; no proposal → ``Placement(location=None)`` and the
caller sends the goods to staging with an exception.

Room = capacity - stock on hand there (any item or status) - quantity of open
put-away tasks already heading there. An empty capacity means unlimited.
"Nearest" is the location's pick sequence: the travel order of the warehouse,
which the layout numbers outward from the docks.

This module only reads; ``inbound.services.receiving`` calls it while holding
the warehouse's inbound-settings lock, so two receipts cannot both fill the
last free location.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum

from inventory.models import InventoryBalance, InventoryStatus, Item, Location, LocationType

from .models import (
    PutAwayRule,
    PutAwayRuleType,
    PutAwayStrategy,
    PutAwayTask,
    PutAwayTaskStatus,
)

#: Location types a rule without a zone chooses from (an explicit rule location may be any type).
STORAGE_TYPES = (LocationType.RESERVE, LocationType.PICK_FACE)
#: Never a put-away destination found by a rule: goods only pass through these.
TRANSIT_TYPES = (LocationType.RECEIVING, LocationType.STAGING, LocationType.DOCK)


@dataclass(frozen=True)
class Placement:
    location: Location | None
    strategy: PutAwayStrategy | None = None
    rule: PutAwayRule | None = None


def active_strategy(warehouse) -> PutAwayStrategy | None:
    return PutAwayStrategy.objects.filter(warehouse=warehouse, is_active=True).first()


def putaway_location_choose(
    *, warehouse, item: Item, status: InventoryStatus, qty: Decimal, exclude_ids=()
) -> Placement:
    """The first location the warehouse's rules find for ``qty`` of ``item``."""
    strategy = active_strategy(warehouse)
    if strategy is None:
        return Placement(location=None)
    rules = strategy.rules.filter(is_active=True).select_related("location", "zone")
    for rule in rules.order_by("sequence"):
        if not _rule_applies(rule, item=item, status=status):
            continue
        location = _RULE_FINDERS[rule.rule_type](
            rule, item=item, status=status, qty=qty, exclude_ids=exclude_ids
        )
        if location is not None:
            return Placement(location=location, strategy=strategy, rule=rule)
    return Placement(location=None, strategy=strategy)


def _rule_applies(rule: PutAwayRule, *, item: Item, status: InventoryStatus) -> bool:
    if rule.inventory_status_id and rule.inventory_status_id != status.pk:
        return False
    if rule.item_id and rule.item_id != item.pk:
        return False
    if rule.rule_type == PutAwayRuleType.ITEM_CLASS:
        return bool(item.item_class) and item.item_class == rule.item_class
    return True


# --- Finders: each returns a location with room for ``qty``, or None -----------------


def _fixed_location(rule, *, item, status, qty, exclude_ids):
    return _if_room(rule.location, qty, exclude_ids)


def _consolidate(rule, *, item, status, qty, exclude_ids):
    return _first_with_room(
        _holding_item(_candidates(item.warehouse_id, rule.zone_id), item=item, status=status),
        qty,
        exclude_ids,
    )


def _nearest_empty(rule, *, item, status, qty, exclude_ids):
    return _first_with_room(_empty(_candidates(item.warehouse_id, rule.zone_id)), qty, exclude_ids)


def _item_class(rule, *, item, status, qty, exclude_ids):
    if rule.location_id:
        return _if_room(rule.location, qty, exclude_ids)
    candidates = _candidates(item.warehouse_id, rule.zone_id)
    return _first_with_room(
        _holding_item(candidates, item=item, status=status), qty, exclude_ids
    ) or _first_with_room(_empty(candidates), qty, exclude_ids)


_RULE_FINDERS = {
    PutAwayRuleType.FIXED_LOCATION: _fixed_location,
    PutAwayRuleType.CONSOLIDATE: _consolidate,
    PutAwayRuleType.NEAREST_EMPTY: _nearest_empty,
    PutAwayRuleType.ITEM_CLASS: _item_class,
}


def _candidates(warehouse_id: int, zone_id: int | None) -> QuerySet:
    """Storage locations; a rule naming a zone may also choose its quarantine locations."""
    qs = Location.objects.filter(warehouse_id=warehouse_id, is_active=True)
    if zone_id:
        qs = qs.filter(zone_id=zone_id).exclude(type__in=TRANSIT_TYPES)
    else:
        qs = qs.filter(type__in=STORAGE_TYPES)
    return qs.order_by("pick_sequence", "code")


def _open_tasks_to(location_ref) -> QuerySet:
    return PutAwayTask.objects.filter(status=PutAwayTaskStatus.OPEN, to_location=location_ref)


def _holding_item(qs: QuerySet, *, item: Item, status: InventoryStatus) -> QuerySet:
    """Locations holding ``item`` in ``status``, or about to (an open task heads there)."""
    stocked = InventoryBalance.objects.filter(
        location=OuterRef("pk"), item=item, status=status, on_hand__gt=0
    )
    planned = _open_tasks_to(OuterRef("pk")).filter(item=item, inventory_status=status)
    return qs.filter(Q(Exists(stocked)) | Q(Exists(planned)))


def _empty(qs: QuerySet) -> QuerySet:
    """Locations with no stock at all and no put-away heading there."""
    stocked = InventoryBalance.objects.filter(location=OuterRef("pk"), on_hand__gt=0)
    return qs.exclude(Exists(stocked)).exclude(Exists(_open_tasks_to(OuterRef("pk"))))


def location_load(location_ids) -> dict[int, Decimal]:
    """Stock on hand plus open put-away heading there, per location (base units)."""
    load: dict[int, Decimal] = {pk: Decimal("0") for pk in location_ids}
    stock = (
        InventoryBalance.objects.filter(location_id__in=location_ids)
        .values("location_id")
        .annotate(total=Sum("on_hand"))
    )
    planned = (
        PutAwayTask.objects.filter(status=PutAwayTaskStatus.OPEN, to_location_id__in=location_ids)
        .values("to_location_id")
        .annotate(total=Sum("qty"))
    )
    for row in stock:
        load[row["location_id"]] += row["total"] or 0
    for row in planned:
        load[row["to_location_id"]] += row["total"] or 0
    return load


def _if_room(location: Location | None, qty: Decimal, exclude_ids) -> Location | None:
    if location is None or not location.is_active or location.pk in exclude_ids:
        return None
    return location if _has_room(location, qty, location_load([location.pk])) else None


def _first_with_room(qs: QuerySet, qty: Decimal, exclude_ids, batch: int = 200):
    """The first location of ``qs`` (in its order) with room for ``qty``."""
    qs = qs.exclude(pk__in=list(exclude_ids))
    qs = qs.filter(Q(capacity__isnull=True) | Q(capacity__gte=qty))
    start = 0
    while True:
        chunk = list(qs[start : start + batch])
        if not chunk:
            return None
        load = location_load([loc.pk for loc in chunk])
        for location in chunk:
            if _has_room(location, qty, load):
                return location
        start += batch


def _has_room(location: Location, qty: Decimal, load: dict[int, Decimal]) -> bool:
    return location.capacity is None or location.capacity - load[location.pk] >= qty
