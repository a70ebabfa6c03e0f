"""Opening a count: resolve its scope, insert its lines where the ledger stands."""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import selectors as inventory_selectors
from wms.exceptions import BusinessValidationError

from .. import queries
from ..models import CountLine, CountStatus, CountType, InventoryCount
from .common import actor_fields


def _unknown(field: str, code: str, values) -> BusinessValidationError:
    values = sorted(values)
    return BusinessValidationError(
        _("Unknown codes in the request: %(codes)s.") % {"codes": ", ".join(values)},
        errors=[{"field": field, "code": code, "message": value} for value in values],
    )


def _location_ids(warehouse, *, locations, zone, not_counted_days) -> list[int] | None:
    """The locations a count covers (None: every active location of the warehouse)."""
    location_ids = None
    if locations:
        codes = [getattr(loc, "code", loc) for loc in locations]
        found = inventory_selectors.locations_for_codes(warehouse=warehouse, codes=codes)
        if missing := set(codes) - set(found):
            raise _unknown("locations", "unknown_location", missing)
        location_ids = sorted({loc.pk for loc in found.values()})
    if not_counted_days is not None:
        candidates = location_ids or inventory_selectors.location_ids_in_scope(
            warehouse=warehouse, zone=zone
        )
        since = timezone.now() - timedelta(days=int(not_counted_days))
        recent = set(
            CountLine.objects.filter(
                count__warehouse=warehouse, counted_at__gte=since, location_id__in=candidates
            ).values_list("location_id", flat=True)
        )
        location_ids = [pk for pk in candidates if pk not in recent]
    return location_ids


def _item_ids(warehouse, *, skus, abc_class) -> list[int] | None:
    """The items a count covers (None: whatever is at its locations)."""
    item_ids = None
    if skus:
        found = inventory_selectors.items_for_skus(warehouse=warehouse, skus=skus)
        if missing := set(skus) - set(found):
            raise _unknown("skus", "unknown_sku", missing)
        item_ids = sorted({item.pk for item in found.values()})
    if abc_class:
        of_class = inventory_selectors.item_ids_of_class(warehouse=warehouse, item_class=abc_class)
        item_ids = of_class if item_ids is None else sorted(set(item_ids) & set(of_class))
    return item_ids


def _scope_checked(type: str, *, locations, zone, skus, abc_class, not_counted_days) -> None:
    if type not in CountType.values:
        raise BusinessValidationError(
            _("Unknown count type."),
            errors=[{"field": "type", "code": "invalid_choice", "message": type}],
        )
    has_scope = any((locations, zone, skus, abc_class, not_counted_days is not None))
    if type in (CountType.CYCLE, CountType.SPOT) and not has_scope:
        raise BusinessValidationError(
            _("Say what to count: locations, a zone, SKUs, an ABC class or a schedule."),
            code="scope_required",
        )
    if type == CountType.SPOT and not locations:
        raise BusinessValidationError(_("A spot count names its locations."), code="scope_required")


def _next_number(warehouse) -> str:
    with connection.cursor() as cursor:
        cursor.execute(queries.COUNT_NUMBER_NEXT)
        (number,) = cursor.fetchone()
    return f"CNT-{warehouse.code}-{number:07d}"


@transaction.atomic
def count_open(
    *,
    warehouse,
    type: str,
    blind: bool = True,
    locations=None,
    zone=None,
    skus=None,
    abc_class: str = "",
    not_counted_days: int | None = None,
    assigned_to=None,
    source_ref: str = "",
    actor,
) -> InventoryCount:
    """Open a count of ``warehouse`` with one line per balance of its scope.

    Scope: ``locations`` (codes), a ``zone``, ``skus``, an ABC ``abc_class``
    (the items' class) and ``not_counted_days`` (locations with no count in
    that many days) narrow it down together; a FULL count without them covers
    every active location. Locations of the scope that hold nothing get a line
    with no item (SKU-scoped counts excepted), so "location empty" has a line.

    Nothing is frozen: the lines are inserted in one ``INSERT … SELECT`` while
    the balances are held FOR SHARE (``inventory.selectors.count_sheet``), each
    with its balance's on hand and last ledger entry; postings wait the
    fraction of a second this takes, then go on. 422 for an unknown code or an
    empty scope.
    """
    _scope_checked(
        type,
        locations=locations,
        zone=zone,
        skus=skus,
        abc_class=abc_class,
        not_counted_days=not_counted_days,
    )
    location_ids = _location_ids(
        warehouse, locations=locations, zone=zone, not_counted_days=not_counted_days
    )
    item_ids = _item_ids(warehouse, skus=skus, abc_class=abc_class)
    user, label = actor_fields(actor)
    count = InventoryCount(
        count_number=_next_number(warehouse),
        warehouse=warehouse,
        type=type,
        blind=blind,
        status=CountStatus.OPEN,
        zone=zone,
        scope=_scope_record(locations, zone, skus, abc_class, not_counted_days),
        item_ids=item_ids or [],
        assigned_to=assigned_to,
        source_ref=source_ref[:128],
        created_by=user,
        created_by_label=label,
    )
    count._change_reason = "opened"
    count.save(force_insert=True)
    opened = 0
    if location_ids != [] and item_ids != []:
        queries.jit_off()
        sheet_sql, sheet_params = inventory_selectors.count_sheet(
            warehouse_id=warehouse.pk,
            location_ids=location_ids,
            zone_id=zone.pk if zone is not None else None,
            item_ids=item_ids,
            empty_locations=item_ids is None,
        )
        opened = queries.count_lines_open(
            count_id=count.pk, sheet_sql=sheet_sql, sheet_params=sheet_params
        )
    if opened == 0:
        raise BusinessValidationError(
            _("Nothing to count: the scope holds no location or stock."), code="nothing_to_count"
        )
    count.line_total = opened
    return count


def _scope_record(locations, zone, skus, abc_class, not_counted_days) -> dict:
    scope = {}
    if locations:
        scope["locations"] = [getattr(loc, "code", loc) for loc in locations]
    if zone is not None:
        scope["zone"] = zone.code
    if skus:
        scope["skus"] = list(skus)
    if abc_class:
        scope["abcClass"] = abc_class
    if not_counted_days is not None:
        scope["notCountedDays"] = int(not_counted_days)
    return scope
