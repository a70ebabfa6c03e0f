"""Closing a count: reconcile, adjust the true variances, settle, cancel; supervisor review."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.audit import audit_record
from inventory.models import AdjustmentSource, AdjustmentState
from wms.exceptions import BusinessValidationError, DomainError

from .. import locks, queries
from ..exceptions import CountClosed, RecountBySameCounter, RecountPending
from ..models import ACTIVE_COUNT_STATUSES, CountLine, CountLineState, CountStatus, InventoryCount
from ..signals import count_closed
from .common import actor_fields

ZERO = Decimal("0")
ENTITY = "InventoryCount"
_CLOSED = (CountStatus.RECONCILED, CountStatus.PENDING_APPROVAL)
#: The request key of a count line's adjustment: ``count-line:<line id>`` (one per line).
LINE_KEY_PREFIX = "count-line:"


def count_reason_code() -> str:
    """The reason of every adjustment a count makes (created by counting's migration)."""
    return getattr(settings, "WMS_COUNT_REASON_CODE", "COUNT_DIFF")


@dataclass
class ClosedCount:
    count: InventoryCount
    adjustments: list = field(default_factory=list)
    replayed: bool = False


@transaction.atomic
def count_close(*, count, actor) -> ClosedCount:
    """Reconcile a count and adjust its true variances (see ``counting.services``).

    Per counted line: expected at the scan = ``qty_expected`` + the on-hand
    changes of its balance's ledger entries with ``opened_ledger_mark < id ≤
    scanned_ledger_mark`` (the recount's mark for a recounted line); variance =
    counted - expected at the scan. Only a non-zero variance becomes an
    adjustment (``inventory.services.adjustment_request``, reason
    ``count_reason_code()``), posted now against the current balance, which
    already holds whatever moved after the scan. An adjustment the balance cannot
    take (reserved stock) leaves its line BLOCKED for review; nothing else stops.

    The count ends RECONCILED, or PENDING_APPROVAL while an adjustment waits for
    its approver or a line is blocked (``count_settle`` moves it on). Closing a
    closed count answers its outcome again; a cancelled count 409
    ``count_closed``; lines waiting for a recount 409 ``recount_pending``.
    """
    count = locks.count_lock(count_id=getattr(count, "pk", count))
    if count.status in _CLOSED:
        return ClosedCount(count, _adjustments_of(count), replayed=True)
    if count.status == CountStatus.CANCELLED:
        raise CountClosed(_("Count %(count)s was cancelled.") % {"count": count.count_number})
    waiting = count.lines.filter(state=CountLineState.RECOUNT_REQUIRED).count()
    if waiting:
        raise RecountPending(
            _("%(n)d lines of %(count)s wait for a recount.")
            % {"n": waiting, "count": count.count_number}
        )
    before = _snapshot(count)
    queries.jit_off()
    queries.count_lines_not_counted(count_id=count.pk)
    variances = _reconcile(count)
    adjustments, blocked = _adjust(count, variances, actor)
    pending = any(a.state == AdjustmentState.PENDING_APPROVAL for a in adjustments)
    count.status = CountStatus.PENDING_APPROVAL if pending or blocked else CountStatus.RECONCILED
    count.completed_at = timezone.now()
    count.closed_by_label = actor_fields(actor)[1]
    count._change_reason = "closed"
    count.save(update_fields=["status", "completed_at", "closed_by_label"])
    audit_record(
        event_type="count.closed",
        actor=actor,
        warehouse=count.warehouse,
        entity_type=ENTITY,
        entity_id=count.pk,
        before=before,
        after={
            **_snapshot(count),
            "adjustments": [a.adjustment_number for a in adjustments],
            "blockedLines": blocked,
        },
    )
    count_closed.send(sender=InventoryCount, count=count, cancelled=False)
    return ClosedCount(count, adjustments)


def _reconcile(count: InventoryCount) -> list[tuple[int, Decimal]]:
    """Set ``qty_moved`` and ``variance`` of every counted line from the ledger, in bulk;
    the (line id, variance) of the lines with a variance."""
    rows = list(
        count.lines.filter(state=CountLineState.COUNTED)
        .order_by("pk")
        .values_list(
            "pk",
            "item_id",
            "location_id",
            "status_id",
            "qty_expected",
            "opened_ledger_mark",
            "qty_counted",
            "scanned_ledger_mark",
            "recount_qty",
            "recount_ledger_mark",
        )
    )
    with_item = [row for row in rows if row[1] is not None]
    moved = inventory_selectors.on_hand_moved(
        ranges=[
            (item, loc, status, opened, recount_mark if recount is not None else scanned_mark)
            for _pk, item, loc, status, _exp, opened, _c, scanned_mark, recount, recount_mark in (
                with_item
            )
        ]
    )
    moved_by_line = {row[0]: m for row, m in zip(with_item, moved, strict=True)}
    line_ids, moved_list, variance_list, with_variance = [], [], [], []
    for pk, item, _loc, _status, expected, _o, counted, _s, recount, _rm in rows:
        final = recount if recount is not None else counted
        line_moved = moved_by_line.get(pk, ZERO)
        variance = final - (expected + line_moved) if item is not None else ZERO
        line_ids.append(pk)
        moved_list.append(line_moved)
        variance_list.append(variance)
        if variance != 0:
            with_variance.append((pk, variance))
    queries.count_lines_reconcile(
        line_ids=line_ids,
        moved=moved_list,
        variances=variance_list,
        state=CountLineState.RECONCILED,
    )
    return with_variance


def _adjust(count, variances, actor) -> tuple[list, list[int]]:
    """One adjustment per line with a variance; the adjustments and the blocked line ids.

    ``adjustment_request`` runs in a savepoint of its own (its ``atomic`` nests in
    ours): a refused adjustment (reserved stock) takes back only itself, and its line
    is left BLOCKED with the reason; the lines are written at the end, in bulk.
    """
    adjustments, adjusted, blocked = [], [], []
    lines = CountLine.objects.select_related("item__base_uom", "location", "status").in_bulk(
        [pk for pk, _v in variances]
    )
    reason = count_reason_code()
    for pk, variance in variances:
        line = lines[pk]
        # The posting and the finance event read the warehouse of both: ours.
        line.item.warehouse = line.location.warehouse = count.warehouse
        try:
            adjustment = inventory_services.adjustment_request(
                warehouse=count.warehouse,
                item=line.item,
                location=line.location,
                status=line.status,
                qty_delta=variance,
                reason_code=reason,
                note=_("Count %(count)s") % {"count": count.count_number},
                actor=actor,
                source="count",
                source_ref=f"{count.count_number}:line:{line.pk}",
                request_key=f"{LINE_KEY_PREFIX}{line.pk}",
            )
        except DomainError as exc:
            blocked.append((line.pk, f"{exc.code}: {exc.detail}"[:500]))
            continue
        adjusted.append((line.pk, adjustment.pk))
        adjustments.append(adjustment)
    queries.count_lines_adjusted(adjusted=adjusted, blocked=blocked)
    return adjustments, [pk for pk, _note in blocked]


def _adjustments_of(count) -> list:
    lines = count.lines.filter(adjustment__isnull=False).select_related("adjustment")
    return [line.adjustment for line in lines.order_by("pk")]


def _snapshot(count: InventoryCount) -> dict:
    return {"countNumber": count.count_number, "status": count.status, "type": count.type}


@transaction.atomic
def count_settle(*, count, actor=None) -> InventoryCount:
    """Move a PENDING_APPROVAL count to RECONCILED once no adjustment of it waits for
    its approver and no line is blocked (an approval or rejection decides each)."""
    count = locks.count_lock(count_id=getattr(count, "pk", count))
    if count.status != CountStatus.PENDING_APPROVAL:
        return count
    lines = count.lines
    if (
        lines.filter(state=CountLineState.BLOCKED).exists()
        or lines.filter(adjustment__state=AdjustmentState.PENDING_APPROVAL).exists()
    ):
        return count
    count.status = CountStatus.RECONCILED
    count._change_reason = "settled"
    count.save(update_fields=["status"])
    audit_record(
        event_type="count.settled",
        actor=actor,
        warehouse=count.warehouse,
        entity_type=ENTITY,
        entity_id=count.pk,
        before={"status": CountStatus.PENDING_APPROVAL},
        after=_snapshot(count),
    )
    return count


# --- inventory decides a count line's adjustment (``counting.receivers``) ------------------


def _count_of_adjustment(source: str, request_key: str) -> int | None:
    """The count whose line asked for the adjustment with this source and key, if any."""
    if source != AdjustmentSource.COUNT or not request_key.startswith(LINE_KEY_PREFIX):
        return None
    try:
        line_id = int(request_key[len(LINE_KEY_PREFIX) :])
    except ValueError:
        return None
    return CountLine.objects.filter(pk=line_id).values_list("count_id", flat=True).first()


def count_lock_for_adjustment(*, source: str, request_key: str) -> None:
    """Before inventory locks a count line's adjustment to decide it: lock the line's count
    (a count row comes before an adjustment row in the lock order), so the settling that
    follows the decision never waits on a count while holding the adjustment."""
    count_id = _count_of_adjustment(source, request_key)
    if count_id is not None:
        locks.count_lock(count_id=count_id)


@transaction.atomic
def count_settle_for_adjustment(*, adjustment, actor) -> InventoryCount | None:
    """A count line's adjustment was approved or rejected (in that decision's transaction):
    settle the line's count, which reconciles it when nothing else of it is open (no
    other adjustment waiting, no blocked line). Other adjustments: nothing, ``None``."""
    count_id = _count_of_adjustment(adjustment.source, adjustment.request_key)
    if count_id is None:
        return None
    return count_settle(count=count_id, actor=actor)


@transaction.atomic
def count_cancel(*, count, actor) -> InventoryCount:
    """Cancel an open count: nothing is adjusted. 409 ``count_closed`` once closed."""
    count = locks.count_lock(count_id=getattr(count, "pk", count))
    if count.status not in ACTIVE_COUNT_STATUSES:
        raise CountClosed(_("Count %(count)s is closed.") % {"count": count.count_number})
    before = _snapshot(count)
    count.status = CountStatus.CANCELLED
    count.completed_at = timezone.now()
    count.closed_by_label = actor_fields(actor)[1]
    count._change_reason = "cancelled"
    count.save(update_fields=["status", "completed_at", "closed_by_label"])
    audit_record(
        event_type="count.cancelled",
        actor=actor,
        warehouse=count.warehouse,
        entity_type=ENTITY,
        entity_id=count.pk,
        before=before,
        after=_snapshot(count),
    )
    count_closed.send(sender=InventoryCount, count=count, cancelled=True)
    return count


# --- variance review (supervisors) -------------------------------------------------------


def _reviewed_lines(count_id, line_ids, states) -> tuple[InventoryCount, list[CountLine]]:
    count = locks.count_lock(count_id=count_id)
    if count.status not in ACTIVE_COUNT_STATUSES:
        raise CountClosed(_("Count %(count)s is closed.") % {"count": count.count_number})
    lines = list(
        count.lines.filter(pk__in=list(line_ids), state__in=states)
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if not lines:
        raise BusinessValidationError(_("No line to review."), code="no_lines")
    return count, lines


@transaction.atomic
def count_lines_recount_request(*, count, line_ids, actor) -> list[CountLine]:
    """Ask for a recount of counted lines (a supervisor doubts them)."""
    count, lines = _reviewed_lines(getattr(count, "pk", count), line_ids, [CountLineState.COUNTED])
    for line in lines:
        line.state = CountLineState.RECOUNT_REQUIRED
        line.recount_qty = line.recount_ledger_mark = line.recount_by = None
        line.recount_by_label, line.recounted_at = "", None
    CountLine.objects.bulk_update(
        lines,
        [
            "state",
            "recount_qty",
            "recount_ledger_mark",
            "recount_by",
            "recount_by_label",
            "recounted_at",
        ],
    )
    _audit_review(count, lines, actor, "count.recount_requested")
    return lines


@transaction.atomic
def count_lines_variance_accept(*, count, line_ids, actor) -> list[CountLine]:
    """Accept the first count of lines waiting for a recount (no recount): by a person
    other than their counter (403 ``recount_same_counter``)."""
    count, lines = _reviewed_lines(
        getattr(count, "pk", count), line_ids, [CountLineState.RECOUNT_REQUIRED]
    )
    user, label = actor_fields(actor)
    for line in lines:
        if label == line.counted_by_label or (user is not None and user.pk == line.counted_by_id):
            raise RecountBySameCounter(
                _("%(user)s counted this line: another person accepts its variance.")
                % {"user": line.counted_by_label}
            )
        line.state, line.reviewed_by_label = CountLineState.COUNTED, label
    CountLine.objects.bulk_update(lines, ["state", "reviewed_by_label"])
    _audit_review(count, lines, actor, "count.variance_accepted")
    return lines


def _audit_review(count, lines, actor, event_type) -> None:
    audit_record(
        event_type=event_type,
        actor=actor,
        warehouse=count.warehouse,
        entity_type=ENTITY,
        entity_id=count.pk,
        after={
            "countNumber": count.count_number,
            "lines": [
                {
                    "id": line.pk,
                    "location": line.location.code,
                    "sku": line.item.sku if line.item_id else None,
                    "qtyCounted": format(line.qty_counted, "f"),
                    "variance": format(line.variance, "f") if line.variance is not None else None,
                }
                for line in lines
            ],
        },
    )
