"""Inventory adjustments with reason codes, and their four-eyes approval.

Owns ``InventoryAdjustment``, ``AdjustmentApproval`` and the audit records of
both; reads ``AdjustmentThreshold`` and ``ReasonCode``. The stock change of an
adjustment is an ADJUST posting of the one posting service (``stock_adjust``:
ledger entry type ADJUSTMENT, the ``inventory.adjusted`` event); this module
says whether and when that posting happens, and who answers for it.

- ``adjustment_request``: a correction of one balance with a reason. Below the
  warehouse's thresholds (absolute quantity, absolute value in the warehouse's
  currency) and with a reason that does not require approval it is posted at
  once (``APPLIED``); otherwise it waits (``PENDING_APPROVAL``) and posts
  nothing. Callers (API, admin, counting) authorise the requester.
- ``adjustment_approve`` / ``adjustment_reject``: the decision of a second
  person with ``inventory.approve_inventoryadjustment`` and the warehouse's
  grant. Approving posts; rejecting posts nothing.

Invariants (here, and again in the database, see migration ``0009``):

- applied ⇔ posted: a pending or rejected adjustment has touched no stock;
- one decision per adjustment, never by its requester (``approval_four_eyes``);
- a request key has one effect: the same key again returns the first adjustment,
  the same key with other content is refused (``adjustment_request_key_reused``);
- every applied adjustment has, in its transaction, its ``inventory.adjusted``
  event (from the posting) and its finance event (quantity times unit cost,
  negative for a loss);
- every request, application, approval and rejection has its ``AuditEvent``.

Lock order: the adjustment row (decisions only, ``inventory.locks``) → the
posting's locks (posting key, then the balance) → the finance counter, last
(``inventory.finance``: it serialises finance writers until commit). A decision
announces itself to the apps above (``inventory.signals``) twice in its
transaction: ``adjustment_deciding`` before the adjustment row is locked (a
receiver locks its count row there, which comes first), ``adjustment_decided``
once the decision is written, before the finance event (counting settles the
count of the line then).

Write path of a request applied at once (the hot one, ``bench/adjustments.py``),
``_adjustment_applied_at_once``: one statement, the ADJUST posting's own
(``queries.posting_write``), carries the adjustment as its companion
(``engine.PostingCompanion``, ``queries.adjustment_applied_parts``): the look-up
(reason, earlier request, thresholds) as a gate, the adjustment row, its history
and audit records and, last, the finance event. If the gate says the request is
not one to apply at once (unknown reason, approval needed, a replay), or the
posting refused, or there was no finance counter, the transaction (or savepoint)
is rolled back, posting included, and ``_adjustment_request`` takes it step by
step. Round trips: BEGIN, the statement, COMMIT, as many as the raw posting
(ten through the ORM; five, then four, with psycopg's pipeline); inside a
caller's transaction (counting, the API's idempotency record): SAVEPOINT, the
statement, RELEASE.
Statements are pinned by ``tests/inventory/test_adjustments_round_trips.py``.
Decisions (approve, reject) are rare and use the ORM.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from wms import sql
from wms.correlation import get_correlation_id
from wms.exceptions import DomainError
from wms.history import current_history_user_id
from wms.scoping import actor_may_use_warehouse

from .. import locks, queries
from ..audit import AuditEntry, audit_record_many, audit_values
from ..exceptions import (
    AdjustmentAlreadyDecided,
    AdjustmentNotFound,
    AdjustmentRequestKeyReused,
    ApprovalNotPermitted,
    InsufficientAvailable,
    InvalidPosting,
    InvalidReasonCode,
    SelfApprovalForbidden,
)
from ..finance import (
    AMOUNT_PLACES,
    FinanceLine,
    finance_event_parts,
    finance_event_pending,
    finance_event_record,
)
from ..models import (
    AdjustmentApproval,
    AdjustmentSource,
    AdjustmentState,
    ApprovalDecision,
    FinanceEventType,
    InventoryAdjustment,
    InventoryBalance,
    InventoryStatus,
    Item,
    Location,
    ReasonCode,
    ReasonCodeUse,
    Warehouse,
)
from ..signals import adjustment_decided, adjustment_deciding
from .engine import PostingCompanion, PostingResult, _actor_fields, qty_checked, same_warehouse
from .stock import stock_adjust

APPROVE_PERMISSION = "inventory.approve_inventoryadjustment"
ENTITY = "InventoryAdjustment"
_REQUEST_KEY_CONSTRAINT = "adjustment_request_key_uniq"


@dataclass(frozen=True)
class _Request:
    """A checked request: what two calls with one request key must agree on."""

    warehouse: Warehouse
    item: Item
    location: Location
    status: InventoryStatus
    qty_delta: Decimal
    reason: ReasonCode

    def matches(self, adjustment: InventoryAdjustment) -> bool:
        return (
            adjustment.warehouse_id,
            adjustment.item_id,
            adjustment.location_id,
            adjustment.status_id,
            adjustment.qty_delta,
            adjustment.reason_code_id,
        ) == (
            self.warehouse.pk,
            self.item.pk,
            self.location.pk,
            self.status.pk,
            self.qty_delta,
            self.reason.pk,
        )


# --- request ------------------------------------------------------------------------


def adjustment_request(
    *,
    warehouse: Warehouse,
    item: Item,
    location: Location,
    status: InventoryStatus,
    qty_delta,
    reason_code: str,
    note: str = "",
    actor,
    source: str,
    source_ref: str = "",
    request_key: str,
) -> InventoryAdjustment:
    """Request a correction of one balance; applied at once or left for approval.

    ``actor``: the requesting user, an external system's principal, or a label.
    ``source``: ``api``, ``admin`` or ``count``; ``source_ref`` the document
    behind it (``count-line:<id>``). ``request_key``: the caller's idempotency
    key (1 to 255 chars), unique across sources, so prefix it (``count-line:<id>``).
    The returned adjustment carries ``ledger_entry_ids`` (empty while pending).

    Refuses with ``invalid_reason_code`` (422), ``insufficient_available`` (409:
    on hand would go below reserved), ``invalid_quantity`` / ``warehouse_mismatch``
    (422), ``adjustment_request_key_reused`` (422).
    """
    if source not in AdjustmentSource.values:
        raise InvalidPosting(f"Unknown adjustment source {source!r}.", code="invalid_source")
    if not isinstance(request_key, str) or not 0 < len(request_key) <= 255:
        raise InvalidPosting("request_key must be 1 to 255 characters.", code="invalid_request_key")
    request = dict(
        warehouse=warehouse, item=item, location=location, status=status, qty_delta=qty_delta,
        reason_code=reason_code, note=note, actor=actor, source=source, source_ref=source_ref,
        request_key=request_key,
    )  # fmt: skip
    try:
        try:
            return _adjustment_applied_at_once(**request)
        except _NotAtOnce:
            return _adjustment_request(**request)
    except IntegrityError as exc:
        # Two first uses of one key at once: the loser's transaction is rolled back
        # whole (its posting too). Answer it with the winner's adjustment, when this
        # service owned the transaction; inside a caller's, the caller retries.
        if connection.in_atomic_block or _REQUEST_KEY_CONSTRAINT not in str(exc):
            raise
        request = _checked(warehouse, item, location, status, qty_delta, reason_code)
        return _replayed(request, request_key)


@transaction.atomic
def _adjustment_request(
    *,
    warehouse,
    item,
    location,
    status,
    qty_delta,
    reason_code,
    note,
    actor,
    source,
    source_ref,
    request_key,
) -> InventoryAdjustment:
    """Every case, one step after the other: look up, then wait or post (replays,
    refusals and adjustments waiting for approval come here)."""
    qty, code = _checked_input(warehouse, item, location, qty_delta, reason_code)
    found = _lookup(code=code, request_key=request_key, warehouse=warehouse)
    request = _Request(warehouse, item, location, status, qty, _reason(code, found))
    if found.existing_id is not None:
        return _replayed(request, request_key)
    adjustment = _new_adjustment(
        warehouse=warehouse, item=item, location=location, status=status, qty=qty, note=note,
        actor=actor, source=source, source_ref=source_ref, request_key=request_key,
    )  # fmt: skip
    adjustment.reason_code = request.reason
    if request.reason.requires_approval or found.over_threshold(qty, adjustment.value):
        _check_not_below_reserved(request)
        adjustment.state = AdjustmentState.PENDING_APPROVAL
        adjustment.ledger_entry_ids = []
        sql.execute(
            _inserts(adjustment, actor, [_requested_entry(adjustment, request.reason.code)])
        )
        return adjustment
    _applied(adjustment, _post(adjustment, actor, code), actor)
    return adjustment


class _NotAtOnce(Exception):
    """The request is not one applied at once (or was refused): take the careful path."""


def _adjustment_applied_at_once(
    *,
    warehouse,
    item,
    location,
    status,
    qty_delta,
    reason_code,
    note,
    actor,
    source,
    source_ref,
    request_key,
) -> InventoryAdjustment:
    """The common case in the raw posting's three round trips (BEGIN, one statement,
    COMMIT): the adjustment's rows and its look-up ride the ADJUST posting's statement
    (``_applied_companion``); the adjustment's rows are written only if the look-up
    says the request is one to apply at once.

    If it is not (unknown reason, approval needed, a replay, a refusal, no finance
    counter), raising ``_NotAtOnce`` rolls back this transaction (or savepoint),
    posting included, and ``_adjustment_request`` handles the request step by step.
    """
    qty, code = _checked_input(warehouse, item, location, qty_delta, reason_code)
    adjustment = _new_adjustment(
        warehouse=warehouse, item=item, location=location, status=status, qty=qty, note=note,
        actor=actor, source=source, source_ref=source_ref, request_key=request_key,
    )  # fmt: skip
    adjustment.state = AdjustmentState.APPLIED
    adjustment.applied_at = adjustment.created_at
    with transaction.atomic():
        try:
            result = _post(
                adjustment, actor, code, companion=_applied_companion(adjustment, code, actor)
            )
        except DomainError:
            raise _NotAtOnce from None
        reason_id, adjustment_id, finance_id = result.companion or (None,) * 3
        if adjustment_id is None or finance_id is None:
            raise _NotAtOnce
    adjustment.reason_code = _reason(
        code, _Found(reason_id, ReasonCodeUse.ADJUSTMENT, False, None, None, None)
    )
    adjustment.posting_id = result.posting_id
    adjustment.ledger_entry_ids = result.entry_ids
    return adjustment


def _applied_companion(adjustment: InventoryAdjustment, code: str, actor) -> PostingCompanion:
    """The adjustment's look-up and rows in its posting's statement
    (``queries.adjustment_applied_parts``): the row, its history record, the requested
    and applied audit records (the ledger ids added in SQL) and the finance event."""
    entries = [_requested_entry(adjustment, code), _applied_entry(adjustment, None)]
    finance = finance_event_pending(**_finance_event(adjustment, code))
    history = {
        "history_date": adjustment.created_at,
        "history_type": "+",
        "history_change_reason": None,
        "history_user_id": current_history_user_id(),
    }
    parts, columns = queries.adjustment_applied_parts(
        adjustment,
        reason_code=code,
        history=history,
        audit_rows=audit_values(entries=entries, actor=actor, warehouse=adjustment.warehouse),
        ledger_ids_in=1,
        finance=finance_event_parts("adj"),
        finance_record=finance.record,
    )
    return PostingCompanion(tuple(parts), columns)


def _new_adjustment(
    *, warehouse, item, location, status, qty, note, actor, source, source_ref, request_key
) -> InventoryAdjustment:
    """The request's row (not saved; its reason and state are set by the caller)."""
    adjustment_id = _ADJUSTMENT_IDS.take()
    actor_id, actor_label = _actor_fields(actor)
    values = {
        "id": adjustment_id,
        "adjustment_number": f"ADJ-{adjustment_id:06d}",
        "warehouse_id": warehouse.pk,
        "item_id": item.pk,
        "location_id": location.pk,
        "status_id": status.pk,
        "qty_delta": qty,
        "reason_code_id": None,
        "note": note,
        "state": "",
        "requested_by_id": actor_id,
        "requested_by_label": actor_label or "system",
        "source": source,
        "source_ref": source_ref,
        "unit_cost": item.unit_cost,
        "value": (qty * item.unit_cost).quantize(AMOUNT_PLACES),
        "posting_id": None,
        "request_key": request_key,
        "correlation_id": get_correlation_id(),
        "created_at": timezone.now(),
        "applied_at": None,
    }
    # Every column by position, the related rows put in the cache: a model's __init__
    # with keyword arguments and instances is its slow path.
    adjustment = InventoryAdjustment(*(values[attname] for attname in _ADJUSTMENT_ATTNAMES))
    related = (warehouse, item, location, status)
    for field, instance in zip(_ADJUSTMENT_RELATED, related, strict=True):
        field.set_cached_value(adjustment, instance)
    return adjustment


_ADJUSTMENT_ATTNAMES = tuple(f.attname for f in InventoryAdjustment._meta.concrete_fields)
_ADJUSTMENT_RELATED = tuple(
    InventoryAdjustment._meta.get_field(name)
    for name in ("warehouse", "item", "location", "status")
)


def _applied(adjustment: InventoryAdjustment, result: PostingResult, actor):
    """Write a posted adjustment (the step-by-step path): the row, its history and audit
    records in one statement, then (last, it takes the finance counter's lock) the
    finance event."""
    adjustment.state = AdjustmentState.APPLIED
    adjustment.posting_id = result.posting_id
    adjustment.applied_at = adjustment.created_at
    adjustment.ledger_entry_ids = result.entry_ids
    entries = [
        _requested_entry(adjustment, adjustment.reason_code.code),
        _applied_entry(adjustment, result.entry_ids),
    ]
    sql.execute(_inserts(adjustment, actor, entries))
    _finance_record(adjustment)


@dataclass(frozen=True)
class _Found:
    """What ``queries.ADJUSTMENT_REQUEST_LOOKUP`` found."""

    reason_id: int | None
    reason_use: str | None
    requires_approval: bool
    existing_id: int | None
    max_abs_qty: Decimal | None
    max_abs_value: Decimal | None

    def applies_at_once(self, qty: Decimal, value: Decimal) -> bool:
        """A known reason for adjustments without approval, within the limits, and new."""
        return (
            self.existing_id is None
            and self.reason_id is not None
            and self.reason_use == ReasonCodeUse.ADJUSTMENT
            and not self.requires_approval
            and not self.over_threshold(qty, value)
        )

    def over_threshold(self, qty: Decimal, value: Decimal) -> bool:
        """Above either limit of the warehouse (no row, no limit)."""
        return (self.max_abs_qty is not None and abs(qty) > self.max_abs_qty) or (
            self.max_abs_value is not None and abs(value) > self.max_abs_value
        )


def _lookup(*, code: str, request_key: str, warehouse: Warehouse) -> _Found:
    with sql.server_bound_cursor() as cursor:
        cursor.execute(queries.ADJUSTMENT_REQUEST_LOOKUP, [request_key, code, warehouse.pk])
        return _Found(*cursor.fetchone())


def _checked_input(warehouse, item, location, qty_delta, reason_code) -> tuple[Decimal, str]:
    qty = qty_checked(qty_delta, field_name="qty_delta", allow_negative=True)
    if item.warehouse_id != warehouse.pk:
        raise InvalidPosting(
            f"Item {item.sku} does not belong to warehouse {warehouse.code}.",
            code="warehouse_mismatch",
        )
    same_warehouse(item, location)
    code = reason_code.code if isinstance(reason_code, ReasonCode) else reason_code
    return qty, code or ""


def _checked(warehouse, item, location, status, qty_delta, reason_code) -> _Request:
    """A request as ``_adjustment_request`` checks it (for the replay after a race)."""
    qty, code = _checked_input(warehouse, item, location, qty_delta, reason_code)
    reason = ReasonCode.objects.filter(code=code).first()
    found = _Found(
        reason.pk if reason else None,
        reason.use if reason else None,
        bool(reason and reason.requires_approval),
        None, None, None,
    )  # fmt: skip
    return _Request(warehouse, item, location, status, qty, _reason(code, found))


def _reason(code: str, found: _Found) -> ReasonCode:
    """The reason, if it exists and is one for adjustments; else 422 ``invalid_reason_code``."""
    if found.reason_id is None or found.reason_use != ReasonCodeUse.ADJUSTMENT:
        problem = (
            "Unknown reason code" if found.reason_id is None else "Not a reason for adjustments"
        )
        raise InvalidReasonCode(
            f"{problem}: {code!r}.",
            errors=[{"field": "reasonCode", "code": "invalid_reason_code", "message": problem}],
        )
    key = (found.reason_id, code, found.reason_use, found.requires_approval)
    reason = _REASONS.get(key)
    if reason is None:  # built once per process and content (a model's __init__ is costly)
        reason = ReasonCode(
            id=found.reason_id,
            code=code,
            use=found.reason_use,
            requires_approval=found.requires_approval,
        )
        reason._state.adding, reason._state.db = False, connection.alias
        _REASONS[key] = reason
    return reason


#: Reason codes as the look-up last read them (id, code, use, requires approval): the
#: key is the content, so a changed reason is a new entry, never a stale one.
_REASONS: dict[tuple, ReasonCode] = {}


def _inserts(adjustment: InventoryAdjustment, actor, entries: list) -> list[tuple[str, list]]:
    """The adjustment, its first history record and its audit records: one statement."""
    history = [timezone.now(), "+", None, current_history_user_id()]
    events = audit_values(entries=entries, actor=actor, warehouse=adjustment.warehouse)
    return [queries.adjustment_insert(adjustment, history, events)]


class _AdjustmentIds:
    """Ids of new adjustments, taken from the table's sequence ``BLOCK`` at a time.

    The path that posts at once needs its adjustment's id and number before its
    first statement (the posting names it); a block per process costs one round
    trip per ``BLOCK`` adjustments. Numbers (``ADJ-`` and the id) are unique and
    may skip or interleave between processes, as a sequence's cached values do.
    """

    BLOCK = 32

    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self._free: deque[int] = deque()

    def take(self) -> int:
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not reuse its parent's ids
                self._free.clear()
                self._pid = os.getpid()
            if not self._free:
                with connection.cursor() as cursor:
                    cursor.execute(queries.ADJUSTMENT_IDS, [self.BLOCK])
                    self._free.extend(row[0] for row in cursor.fetchall())
            return self._free.popleft()


_ADJUSTMENT_IDS = _AdjustmentIds()


def _replayed(request: _Request, request_key: str) -> InventoryAdjustment:
    """The first adjustment of ``request_key``, if the request is the same one."""
    existing = InventoryAdjustment.objects.get(request_key=request_key)
    if not request.matches(existing):
        raise AdjustmentRequestKeyReused(
            f"Request key {request_key!r} was used for adjustment "
            f"{existing.adjustment_number} with other content.",
            extra={"adjustmentNumber": existing.adjustment_number},
        )
    existing.ledger_entry_ids = existing.ledger_entry_id_list()
    return existing


def _check_not_below_reserved(request: _Request) -> None:
    """A pending loss must fit now too (checked again, under the lock, when it posts).

    Adjustments applied at once need no read: the posting's guarded update refuses
    the same way (``insufficient_available``) under its lock.
    """
    if request.qty_delta > 0:
        return
    on_hand, reserved = (
        InventoryBalance.objects.filter(
            item=request.item, location=request.location, status=request.status
        )
        .values_list("on_hand", "reserved")
        .first()
    ) or (Decimal("0"), Decimal("0"))
    if on_hand + request.qty_delta < reserved:
        available = on_hand - reserved
        raise InsufficientAvailable(
            f"{format(available, 'f')} of {request.item.sku} available at "
            f"{request.location.code} ({request.status.code}); "
            f"{format(-request.qty_delta, 'f')} to take off.",
            extra={
                "sku": request.item.sku,
                "location": request.location.code,
                "inventoryStatus": request.status.code,
                "available": format(available, "f"),
                "requested": format(-request.qty_delta, "f"),
            },
        )


# --- decisions ----------------------------------------------------------------------


@transaction.atomic
def adjustment_approve(*, adjustment_id: int, approver, note: str = "") -> InventoryAdjustment:
    """A second person approves a pending adjustment: it is posted now.

    Refuses with ``approval_not_permitted`` (403: no approve permission or no
    grant for the warehouse), ``self_approval_forbidden`` (403),
    ``adjustment_already_decided`` (409), ``adjustment_not_found`` (404), and
    ``insufficient_available`` (409) when the loss no longer fits.
    """
    _announce_deciding(adjustment_id)
    adjustment = _decidable(adjustment_id, approver)
    AdjustmentApproval.objects.create(
        adjustment=adjustment,
        decision=ApprovalDecision.APPROVED,
        decided_by=approver,
        note=note,
    )
    result = _post(adjustment, approver, adjustment.reason_code.code)
    adjustment.state = AdjustmentState.APPLIED
    adjustment.posting_id = result.posting_id
    adjustment.applied_at = timezone.now()
    adjustment.save(update_fields=["state", "posting", "applied_at"])
    adjustment.ledger_entry_ids = result.entry_ids
    _audit(
        adjustment,
        approver,
        [
            _decided_entry(adjustment, ApprovalDecision.APPROVED, note),
            _applied_entry(adjustment, result.entry_ids),
        ],
    )
    _announce_decided(adjustment, ApprovalDecision.APPROVED, approver)
    _finance_record(adjustment)
    return adjustment


@transaction.atomic
def adjustment_reject(*, adjustment_id: int, approver, note: str) -> InventoryAdjustment:
    """A second person rejects a pending adjustment, saying why: nothing is posted.

    Same refusals as ``adjustment_approve``; ``note_required`` (422) without a reason.
    """
    if not (note or "").strip():
        raise InvalidPosting(
            "Say why the adjustment is rejected.",
            code="note_required",
            errors=[{"field": "note", "code": "required", "message": "a reason is required"}],
        )
    _announce_deciding(adjustment_id)
    adjustment = _decidable(adjustment_id, approver)
    AdjustmentApproval.objects.create(
        adjustment=adjustment,
        decision=ApprovalDecision.REJECTED,
        decided_by=approver,
        note=note,
    )
    adjustment.state = AdjustmentState.REJECTED
    adjustment.save(update_fields=["state"])
    adjustment.ledger_entry_ids = []
    _audit(adjustment, approver, [_decided_entry(adjustment, ApprovalDecision.REJECTED, note)])
    _announce_decided(adjustment, ApprovalDecision.REJECTED, approver)
    return adjustment


def _announce_deciding(adjustment_id: int) -> None:
    """``signals.adjustment_deciding``, before the adjustment is locked: receivers take the
    locks that come before it (a count row). Read without a lock, only to tell them whose
    adjustment it is; a missing one is ``_decidable``'s 404."""
    if not adjustment_deciding.has_listeners(InventoryAdjustment):
        return
    head = (
        InventoryAdjustment.objects.filter(pk=adjustment_id)
        .values_list("source", "request_key")
        .first()
    )
    if head is not None:
        adjustment_deciding.send(
            sender=InventoryAdjustment,
            adjustment_id=adjustment_id,
            source=head[0],
            request_key=head[1],
        )


def _announce_decided(adjustment: InventoryAdjustment, decision: str, approver) -> None:
    """``signals.adjustment_decided``, in the decision's transaction, before the finance
    event: a receiver's writes (a count settled) commit with the decision, and the finance
    counter's lock stays the last one taken."""
    adjustment_decided.send(
        sender=InventoryAdjustment, adjustment=adjustment, decision=decision, actor=approver
    )


def _decidable(adjustment_id: int, approver) -> InventoryAdjustment:
    """The adjustment, locked, if ``approver`` may decide it now."""
    adjustment = locks.adjustment_lock(adjustment_id=adjustment_id)
    if adjustment is None:
        raise AdjustmentNotFound(f"No adjustment {adjustment_id}.")
    if not _may_approve(approver, adjustment):
        raise ApprovalNotPermitted(
            f"{approver} may not approve adjustments in warehouse {adjustment.warehouse_id}."
        )
    if adjustment.state != AdjustmentState.PENDING_APPROVAL:
        raise AdjustmentAlreadyDecided(
            f"Adjustment {adjustment.adjustment_number} is {adjustment.state}.",
            extra={"adjustmentNumber": adjustment.adjustment_number, "state": adjustment.state},
        )
    if adjustment.requested_by_id is not None and adjustment.requested_by_id == approver.pk:
        raise SelfApprovalForbidden(
            f"Adjustment {adjustment.adjustment_number} was requested by you; "
            "another person must decide it.",
            extra={"adjustmentNumber": adjustment.adjustment_number},
        )
    return adjustment


def _may_approve(approver, adjustment: InventoryAdjustment) -> bool:
    """People only (an external system never approves), with the permission and the grant."""
    if getattr(approver, "system", None) is not None or getattr(approver, "_meta", None) is None:
        return False
    if not (approver.is_active and approver.has_perm(APPROVE_PERMISSION)):
        return False
    return actor_may_use_warehouse(approver, adjustment.warehouse)


# --- effects: posting, finance, audit ------------------------------------------------


def _post(
    adjustment: InventoryAdjustment, actor, reason_code: str, companion=None
) -> PostingResult:
    """The adjustment's one posting; its key is the adjustment number (one effect)."""
    return stock_adjust(
        item=adjustment.item,
        location=adjustment.location,
        status=adjustment.status,
        qty_delta=adjustment.qty_delta,
        reason_code=reason_code,
        posting_key=f"adjustment:{adjustment.adjustment_number}",
        source_ref=adjustment.adjustment_number,
        actor=actor,
        companion=companion,
    )


def _finance_record(adjustment: InventoryAdjustment) -> None:
    """Last step of the transaction: it takes the finance counter's lock until commit."""
    finance_event_record(**_finance_event(adjustment, adjustment.reason_code.code))


def _finance_event(adjustment: InventoryAdjustment, reason_code: str) -> dict:
    """The adjustment's finance event (quantity times unit cost, negative for a loss)."""
    return dict(
        event_type=FinanceEventType.INVENTORY_ADJUSTED,
        warehouse=adjustment.warehouse,
        reference_type=ENTITY,
        reference_id=str(adjustment.pk),
        reference_number=adjustment.adjustment_number,
        reason_code=reason_code,
        lines=[
            FinanceLine(
                item=adjustment.item, qty=adjustment.qty_delta, uom=adjustment.item.base_uom.code
            )
        ],
        source_key=f"adjustment:{adjustment.pk}",
        occurred_at=adjustment.applied_at,
    )


def adjustment_snapshot(adjustment: InventoryAdjustment, reason_code: str | None = None) -> dict:
    """What an auditor reads of an adjustment (JSON; quantities as strings); ``reason_code``
    when the adjustment has no reason instance yet (applied at once)."""
    return {
        "adjustmentNumber": adjustment.adjustment_number,
        "state": adjustment.state,
        "sku": adjustment.item.sku,
        "location": adjustment.location.code,
        "status": adjustment.status.code,
        "qtyDelta": format(adjustment.qty_delta, "f"),
        "reasonCode": adjustment.reason_code.code if reason_code is None else reason_code,
        "value": format(adjustment.value, "f"),
        "requestedBy": adjustment.requested_by_label,
        "source": adjustment.source,
        "sourceRef": adjustment.source_ref,
        "note": adjustment.note,
    }


def _requested_entry(adjustment: InventoryAdjustment, reason_code: str) -> AuditEntry:
    after = adjustment_snapshot(adjustment, reason_code)
    after["state"] = AdjustmentState.PENDING_APPROVAL
    if adjustment.state == AdjustmentState.APPLIED:
        after["approvalRequired"] = False
    return AuditEntry("adjustment.requested", ENTITY, str(adjustment.pk), None, after)


def _applied_entry(adjustment: InventoryAdjustment, entry_ids: list[int] | None) -> AuditEntry:
    """``entry_ids`` None: the statement that writes the record adds them."""
    after = {
        "state": AdjustmentState.APPLIED,
        "postingKey": f"adjustment:{adjustment.adjustment_number}",
    }
    if entry_ids is not None:
        after["ledgerEntryIds"] = entry_ids
    return AuditEntry(
        "adjustment.applied",
        ENTITY,
        str(adjustment.pk),
        {"state": AdjustmentState.PENDING_APPROVAL},
        after,
    )


def _decided_entry(adjustment: InventoryAdjustment, decision: str, note: str) -> AuditEntry:
    event = (
        "adjustment.approved" if decision == ApprovalDecision.APPROVED else "adjustment.rejected"
    )
    after_state = (
        AdjustmentState.APPLIED
        if decision == ApprovalDecision.APPROVED
        else AdjustmentState.REJECTED
    )
    return AuditEntry(
        event,
        ENTITY,
        str(adjustment.pk),
        {"state": AdjustmentState.PENDING_APPROVAL, "requestedBy": adjustment.requested_by_label},
        {"state": after_state, "decision": decision, "note": note},
    )


def _audit(adjustment: InventoryAdjustment, actor, entries: list[AuditEntry]) -> None:
    audit_record_many(entries=entries, actor=actor, warehouse=adjustment.warehouse)
