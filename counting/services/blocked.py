"""Blocked count lines: what a supervisor does with them.

``count_close`` leaves a line BLOCKED when inventory refused its adjustment
(``adjustment_request`` raised a domain error: most often ``insufficient_available``,
a loss of stock that is reserved; the refusal is in the line's ``note``). Its count
stays PENDING_APPROVAL until every blocked line is resolved, one of two ways:

- ``count_lines_blocked_retry``: request the adjustment again (the reservation may be
  released or picked by now), with the line's request key (the refused try was rolled
  back, so the key is free) and its variance, posted against the balance as it is
  now (the rule of ``counting.services``). Applied or waiting for approval, the line
  is RECONCILED; refused again, it stays BLOCKED with the new reason.
- ``count_lines_blocked_resolve``: close the line without an adjustment, saying why
  (the variance is explained otherwise; a new count will settle the balance).

Both are audited and then settle the count (``count_settle``) in the same
transaction: it is RECONCILED once nothing of it is open. Lock order: the count row,
its blocked lines (primary-key order), then inventory's (``adjustment_request``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from inventory.audit import audit_record
from wms.exceptions import BusinessValidationError

from .. import locks
from ..models import CountLine, CountLineState, InventoryCount
from .closing import ENTITY, _adjust, count_settle


@dataclass
class RetriedLines:
    """What a retry did: the lines adjusted (their adjustments) and the lines still blocked."""

    count: InventoryCount
    adjustments: list = field(default_factory=list)
    blocked: list[CountLine] = field(default_factory=list)


def _blocked_lines(count_id: int, line_ids) -> tuple[InventoryCount, list[CountLine]]:
    """The count, locked, and those of ``line_ids`` that are BLOCKED in it, locked in
    primary-key order; 422 ``no_lines`` when none is."""
    count = locks.count_lock(count_id=count_id)
    lines = list(
        count.lines.filter(pk__in=list(line_ids), state=CountLineState.BLOCKED)
        .select_related("location", "item")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if not lines:
        raise BusinessValidationError(_("No blocked line to resolve."), code="no_lines")
    return count, lines


@transaction.atomic
def count_lines_blocked_retry(*, count, line_ids, actor) -> RetriedLines:
    """Request the refused adjustments of blocked lines again; see the module docstring."""
    count, lines = _blocked_lines(getattr(count, "pk", count), line_ids)
    refusals = {line.pk: line.note for line in lines}
    adjustments, still_blocked = _adjust(count, [(line.pk, line.variance) for line in lines], actor)
    blocked = list(CountLine.objects.filter(pk__in=still_blocked).order_by("pk"))
    audit_record(
        event_type="count.blocked_lines_retried",
        actor=actor,
        warehouse=count.warehouse,
        entity_type=ENTITY,
        entity_id=count.pk,
        after={
            "countNumber": count.count_number,
            "lines": [
                {
                    **_line_record(line),
                    "refusedBefore": refusals[line.pk],
                    "refusedNow": next((b.note for b in blocked if b.pk == line.pk), None),
                }
                for line in lines
            ],
            "adjustments": [a.adjustment_number for a in adjustments],
        },
    )
    return RetriedLines(count_settle(count=count, actor=actor), adjustments, blocked)


@transaction.atomic
def count_lines_blocked_resolve(*, count, line_ids, actor, note: str) -> list[CountLine]:
    """Close blocked lines without an adjustment, saying why (422 ``note_required``)."""
    note = (note or "").strip()
    if not note:
        raise BusinessValidationError(
            _("Say why the line is closed without an adjustment."),
            code="note_required",
            errors=[{"field": "note", "code": "required", "message": "a reason is required"}],
        )
    count, lines = _blocked_lines(getattr(count, "pk", count), line_ids)
    refusals = {line.pk: line.note for line in lines}
    for line in lines:
        line.state = CountLineState.RECONCILED
        line.note = (_("Not adjusted: %(note)s") % {"note": note})[:500]
    CountLine.objects.bulk_update(lines, ["state", "note"])
    audit_record(
        event_type="count.blocked_lines_resolved",
        actor=actor,
        warehouse=count.warehouse,
        entity_type=ENTITY,
        entity_id=count.pk,
        before={"lines": [{"id": pk, "refused": refused} for pk, refused in refusals.items()]},
        after={
            "countNumber": count.count_number,
            "note": note,
            "lines": [_line_record(line) for line in lines],
        },
    )
    count_settle(count=count, actor=actor)
    return lines


def _line_record(line: CountLine) -> dict:
    return {
        "id": line.pk,
        "location": line.location.code,
        "sku": line.item.sku if line.item_id else None,
        "variance": format(line.variance, "f") if line.variance is not None else None,
    }
