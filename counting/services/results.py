"""Recording what counters found: counts, recounts, "location empty"."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import selectors as inventory_selectors
from wms.exceptions import BusinessValidationError

from .. import locks, queries
from ..exceptions import CountClosed, RecountBySameCounter, SubmissionKeyReused
from ..models import CountLine, CountLineState, CountStatus, CountSubmission, InventoryCount
from .common import actor_fields, count_settings_for, counted_qty, default_status

ZERO = Decimal("0")


@dataclass(frozen=True)
class ResultEntry:
    """One result as submitted: a quantity of an item at a location, or "nothing (else)
    here" (``empty``). ``field`` names it in error messages (``lines[3]``)."""

    location: str
    sku: str | None
    qty: Decimal | None
    empty: bool
    status: str | None
    field: str

    def canonical(self) -> list:
        qty = format(self.qty, "f") if self.qty is not None else None
        return [self.location, self.sku, qty, self.empty, self.status]


@dataclass
class RecordedResults:
    count: InventoryCount
    lines: list[CountLine]
    replayed: bool = False


def result_entries(lines) -> list[ResultEntry]:
    """The submitted results checked for shape: 422 (nothing recorded) for a negative or
    malformed quantity, a result without location, or one with neither SKU nor ``empty``."""
    if not lines:
        raise BusinessValidationError(_("Send at least one result."), code="no_results")
    entries, errors = [], []
    for n, raw in enumerate(lines):
        field = f"lines[{n}]"
        location = str(raw.get("location") or "").strip()
        sku = str(raw.get("sku") or "").strip() or None
        empty = bool(raw.get("empty")) or (sku is None and raw.get("qty_counted") in (0, "0"))
        if not location or (sku is None and not empty):
            errors.append(
                {
                    "field": field,
                    "code": "required",
                    "message": _("A result names a location and an item, or says it is empty."),
                }
            )
            continue
        qty = None
        if not empty:
            try:
                qty = counted_qty(raw.get("qty_counted"), field=f"{field}.qtyCounted")
            except BusinessValidationError as exc:
                errors.extend(exc.errors)
                continue
        status = str(raw.get("status") or "").strip() or None
        entries.append(ResultEntry(location, None if empty else sku, qty, empty, status, field))
    if errors:
        negative = any(error["code"] == "negative_quantity" for error in errors)
        raise BusinessValidationError(
            _("Some results cannot be recorded."),
            code="negative_quantity" if negative else "validation_failed",
            errors=errors,
        )
    return entries


def count_result_record(*, count, lines, actor, request_key: str) -> RecordedResults:
    """Record counted quantities (or "location empty") of an open count; idempotent by
    ``request_key`` (the same key and results answer the first outcome, other results
    under the key 422 ``count_result_key_reused``).

    Each result is read against where the ledger stands *now* for its balance (the
    line's ``scanned_ledger_mark``, under the balance's lock): reconciliation will
    add what was posted between the line's opening and this mark. A variance above
    the warehouse's tolerance asks for a recount by another person; a result for a
    line waiting for its recount is that recount (the first counter gets 403
    ``recount_same_counter``). ``empty``: every line of the location not counted yet
    (and any stock booked there since the opening) is counted 0.

    Refusals record nothing: a location outside the count 422
    ``location_not_in_count``, a negative quantity 422, a closed count 409
    ``count_closed``.
    """
    entries = result_entries(lines)
    count_id = getattr(count, "pk", count)
    payload = json.dumps([count_id, [e.canonical() for e in entries]], separators=(",", ":"))
    fingerprint = hashlib.sha256(payload.encode()).hexdigest()
    return _record(count_id, entries, actor, request_key, fingerprint)


@transaction.atomic
def _record(count_id, entries, actor, request_key, fingerprint) -> RecordedResults:
    user, label = actor_fields(actor)
    with connection.cursor() as cursor:
        cursor.execute(queries.SUBMISSION_CLAIM, [count_id, request_key, fingerprint, label])
        claimed = cursor.fetchone()
    if claimed is None:
        return _replay(request_key, fingerprint)
    count = _count_for_results(count_id)
    plan = _Plan(count, entries)
    targets = plan.targets()
    marks = inventory_selectors.balance_marks(
        keys=[line.key for line, _qty in targets if line.item_id is not None]
    )
    now = timezone.now()
    new_lines = [line for line, _qty in targets if line.pk is None]
    for line in new_lines:
        mark = marks[line.key]
        line.qty_expected, line.opened_ledger_mark = mark.on_hand, mark.ledger_mark
    CountLine.objects.bulk_create(new_lines)
    moved = _moved_since_opening(targets, marks)
    tolerance = count_settings_for(count.warehouse)
    for line, qty in targets:
        mark = marks[line.key].ledger_mark if line.item_id is not None else 0
        _apply(line, qty, mark, moved.get(id(line), ZERO), user, label, now, tolerance)
    queries.count_lines_record([line for line, _qty in targets])
    line_ids = sorted(line.pk for line, _qty in targets)
    CountSubmission.objects.filter(pk=claimed[0]).update(line_ids=line_ids)
    return RecordedResults(count, sorted((line for line, _q in targets), key=lambda x: x.pk))


def _replay(request_key: str, fingerprint: str) -> RecordedResults:
    first = CountSubmission.objects.get(request_key=request_key)
    if first.fingerprint != fingerprint:
        raise SubmissionKeyReused(
            _("The request key %(key)s was used for other results.") % {"key": request_key}
        )
    count = InventoryCount.objects.select_related("warehouse").get(pk=first.count_id)
    lines = list(CountLine.objects.filter(pk__in=first.line_ids).select_related("location", "item"))
    return RecordedResults(count, lines, replayed=True)


def _count_for_results(count_id) -> InventoryCount:
    """Start the count (OPEN → COUNTING) and hold it FOR SHARE; 409 when closed.

    The start is a conditional UPDATE taken before the share lock: two first results
    queue on it instead of both holding FOR SHARE and then both wanting to write.
    """
    InventoryCount.objects.filter(pk=count_id, status=CountStatus.OPEN).update(
        status=CountStatus.COUNTING, started_at=timezone.now()
    )
    try:
        count = locks.count_lock(count_id=count_id, shared=True)
    except InventoryCount.DoesNotExist:
        raise CountClosed(_("No such count."), code="count_not_found", status=404) from None
    if not count.is_active:
        raise CountClosed(
            _("Count %(count)s is %(status)s and takes no results.")
            % {"count": count.count_number, "status": count.get_status_display()}
        )
    return count


def _moved_since_opening(targets, marks) -> dict[int, Decimal]:
    """Per target line (by ``id()``): on hand posted between its opening and now."""
    with_item = [line for line, _qty in targets if line.item_id is not None]
    ranges = [
        (*line.key, line.opened_ledger_mark, marks[line.key].ledger_mark) for line in with_item
    ]
    sums = inventory_selectors.on_hand_moved(ranges=ranges)
    return {id(line): moved for line, moved in zip(with_item, sums, strict=True)}


def _apply(line, qty, mark, moved, user, label, now, tolerance) -> None:
    """Write one result on its line: a recount when the line waits for one (by another
    person), else the (first or corrected) count, then whether it needs a recount."""
    expected_now = line.qty_expected + moved
    if line.state == CountLineState.RECOUNT_REQUIRED or line.recount_qty is not None:
        if label == line.counted_by_label or (user is not None and user.pk == line.counted_by_id):
            raise RecountBySameCounter(
                _("%(user)s counted this line first: another person recounts it.")
                % {"user": line.counted_by_label}
            )
        line.recount_qty, line.recount_ledger_mark = qty, mark
        line.recount_by, line.recount_by_label, line.recounted_at = user, label, now
        line.state = CountLineState.COUNTED
    else:
        line.qty_counted, line.scanned_ledger_mark = qty, mark
        line.counted_by, line.counted_by_label, line.counted_at = user, label, now
        variance = qty - expected_now
        needs_recount = tolerance.needs_recount(variance=variance, expected=expected_now)
        line.state = CountLineState.RECOUNT_REQUIRED if needs_recount else CountLineState.COUNTED
    # Shown to supervisors at once; close recomputes both from the final count's mark.
    line.qty_moved, line.variance = moved, qty - expected_now


class _Plan:
    """Which line each result lands on (existing, or new for stock the books did not
    expect at the location)."""

    def __init__(self, count: InventoryCount, entries: list[ResultEntry]):
        self.count, self.entries = count, entries
        warehouse = count.warehouse
        self.locations = inventory_selectors.locations_for_codes(
            warehouse=warehouse, codes=[e.location for e in entries]
        )
        self.items = inventory_selectors.items_for_skus(
            warehouse=warehouse, skus=[e.sku for e in entries if e.sku]
        )
        self.statuses = {
            code: inventory_selectors.status_for_code(code=code)
            for code in {e.status for e in entries if e.status}
        }
        self._check_codes()
        location_ids = {loc.pk for loc in self.locations.values()}
        self.lines_at = defaultdict(list)
        for line in locks.count_lines_lock(count_id=count.pk, location_ids=location_ids):
            self.lines_at[line.location_id].append(line)
        self._check_scope()

    def _check_codes(self) -> None:
        errors = []
        for e in self.entries:
            if e.location not in self.locations:
                errors.append(_error(e, "location", "unknown_location", e.location))
            if e.sku and e.sku not in self.items:
                errors.append(_error(e, "sku", "unknown_sku", e.sku))
            if e.status and self.statuses.get(e.status) is None:
                errors.append(_error(e, "status", "unknown_status", e.status))
        if errors:
            raise BusinessValidationError(_("Unknown codes in the results."), errors=errors)

    def _check_scope(self) -> None:
        outside = [
            _error(e, "location", "location_not_in_count", e.location)
            for e in self.entries
            if not self.lines_at.get(self.locations[e.location].pk)
        ]
        if outside:
            raise BusinessValidationError(
                _("These locations are not part of count %(count)s.")
                % {"count": self.count.count_number},
                code="location_not_in_count",
                errors=outside,
            )
        scoped = set(self.count.item_ids or [])
        foreign = [
            _error(e, "sku", "item_not_in_count", e.sku)
            for e in self.entries
            if e.sku and scoped and self.items[e.sku].pk not in scoped
        ]
        if foreign:
            raise BusinessValidationError(
                _("These items are not part of count %(count)s.")
                % {"count": self.count.count_number},
                code="item_not_in_count",
                errors=foreign,
            )

    def targets(self) -> list[tuple[CountLine, Decimal]]:
        chosen: dict[tuple, tuple[CountLine, Decimal]] = {}
        for e in self.entries:
            if e.empty:
                continue
            line = self._line_for(e)
            if line.key in chosen:
                raise BusinessValidationError(
                    _("Two results for the same line."),
                    code="duplicate_line",
                    errors=[_error(e, "sku", "duplicate_line", e.sku)],
                )
            chosen[line.key] = (line, e.qty)
        self._empty_targets(chosen)
        return list(chosen.values())

    def _line_for(self, e: ResultEntry) -> CountLine:
        location = self.locations[e.location]
        item = self.items[e.sku]
        status = self.statuses.get(e.status) if e.status else None
        here = [
            line
            for line in self.lines_at[location.pk]
            if line.item_id == item.pk and (status is None or line.status_id == status.pk)
        ]
        if len(here) > 1:
            default = default_status()
            here = [line for line in here if line.status_id == default.pk] or here[:1]
        if here:
            return here[0]
        line = CountLine(
            count=self.count,
            location=location,
            item=item,
            status=status or default_status(),
            added_at_scan=True,
        )
        self.lines_at[location.pk].append(line)
        return line

    def _empty_targets(self, chosen: dict) -> None:
        """Lines counted 0: the rest of a location reported empty, the no-item line of
        every location with a result, and stock booked at an empty location since."""
        empty_ids = {self.locations[e.location].pk for e in self.entries if e.empty}
        result_ids = {self.locations[e.location].pk for e in self.entries}
        for location_id in result_ids:
            for line in self.lines_at[location_id]:
                if line.key in chosen or line.state != CountLineState.OPEN:
                    continue
                if line.item_id is None or location_id in empty_ids:
                    chosen[line.key] = (line, ZERO)
        if not empty_ids:
            return
        known = {line.key for lines in self.lines_at.values() for line in lines}
        item_ids = self.count.item_ids or None
        for key in inventory_selectors.balance_keys_with_stock(
            location_ids=empty_ids, item_ids=item_ids
        ):
            if key not in known:
                item_id, location_id, status_id = key
                line = CountLine(
                    count=self.count,
                    location_id=location_id,
                    item_id=item_id,
                    status_id=status_id,
                    added_at_scan=True,
                )
                chosen[key] = (line, ZERO)


def _error(entry: ResultEntry, field: str, code: str, value) -> dict:
    return {"field": f"{entry.field}.{field}", "code": code, "message": str(value)}
