"""The one posting service: every change of stock in the WMS goes through here.

Owns ``InventoryPosting``, ``InventoryLedgerEntry``, ``InventoryBalance`` and
``InventoryReservation``; nothing else writes on hand or reserved.

A posting, in one transaction: claim the posting key, lock the affected
balance rows, check the invariants, update the balances by deltas, append the
ledger entries, change the reservation, write the outbox event.

Invariants (checked here before every write, and again by the database's
check constraints):

- per balance: ``on_hand ≥ 0`` and ``0 ≤ reserved ≤ on_hand`` (available ≥ 0);
- every balance equals the sum of its ledger entries (``verify_inventory``);
- a balance's ``reserved`` is the open quantity of its open reservations;
- a reservation resolves once: a closed one refuses every further change;
- a posting key has one effect: the same key and content returns the first
  result (``replayed=True``), the same key with other content is refused
  (``posting_key_reused``).

Lock order (see ``inventory.locks``): posting key → missing balance rows
created → balance rows in primary-key order → reservation row. Postings cannot
deadlock each other; a deadlock or serialization failure caused by a caller's
own outer transaction is retried here when this service owns the transaction,
and propagates to the caller's transaction otherwise.

Quantities are ``Decimal`` in the item's base unit, at most three decimals.
"""

import functools
import hashlib
import json
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.db.models import F, Model
from django.db.models.functions import Now
from django.utils import timezone

from wms.correlation import get_correlation_id
from wms.outbox import outbox_emit

from . import locks
from .exceptions import (
    InsufficientAvailable,
    InvalidPosting,
    PostingKeyReused,
    ReservationExpired,
    ReservationNotOpen,
    ReservationOverConsume,
    ReservationOverRelease,
    ReservationPending,
    StatusNotAllocatable,
)
from .models import (
    QTY_DECIMALS,
    InventoryBalance,
    InventoryLedgerEntry,
    InventoryPosting,
    InventoryReservation,
    InventoryStatus,
    Item,
    LedgerEntryType,
    Location,
    PostingKind,
    ReasonCode,
    ReservationState,
)

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
_QUANTUM = Decimal(1).scaleb(-QTY_DECIMALS)
_MAX_QTY = Decimal("1e12")
# SQLSTATEs worth retrying when the service owns the transaction.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
MAX_ATTEMPTS = 5
EXPIRY_ACTOR = "system:reservation-expiry"


@dataclass(frozen=True)
class PostingResult:
    """What a posting did (or, when ``replayed``, what the first call with its key did)."""

    posting: InventoryPosting
    entries: list[InventoryLedgerEntry]
    replayed: bool
    reservation: InventoryReservation | None = None

    @property
    def entry_ids(self) -> list[int]:
        return [entry.pk for entry in self.entries]


@dataclass
class _Line:
    entry_type: str
    item: Item
    location: Location
    status: InventoryStatus
    on_hand_delta: Decimal = ZERO
    reserved_delta: Decimal = ZERO
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> locks.BalanceKey:
        return (self.item.pk, self.location.pk, self.status.pk)


# --- transaction and retry ----------------------------------------------------


def _is_retryable(exc: Exception) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in _RETRYABLE_SQLSTATES


def _posting_transaction(func):
    """``transaction.atomic`` around a posting, retried on deadlock / serialization failure.

    Retrying is only possible when the service owns the transaction; inside a
    caller's transaction the error propagates (the caller's unit of work is
    lost as a whole and it must retry it).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():
                return func(*args, **kwargs)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == MAX_ATTEMPTS or not _is_retryable(exc):
                    raise
                logger.warning("%s: retrying after %s (attempt %d)", func.__name__, exc, attempt)
                time.sleep(random.uniform(0.001, 0.01) * attempt)
        raise AssertionError("unreachable")

    return wrapper


# --- input checks -------------------------------------------------------------


def _qty(value, *, field_name: str = "qty", allow_negative: bool = False) -> Decimal:
    """A quantity as an exact ``Decimal`` with at most three decimals; never a float."""
    if isinstance(value, (float, bool)):
        raise InvalidPosting(
            f"{field_name} must be a Decimal, an int or a decimal string, not {type(value)}.",
            code="invalid_quantity",
        )
    try:
        qty = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise InvalidPosting(f"{field_name} is not a number.", code="invalid_quantity") from exc
    if not qty.is_finite() or qty != qty.quantize(_QUANTUM) or abs(qty) >= _MAX_QTY:
        raise InvalidPosting(
            f"{field_name} must be a finite number with at most {QTY_DECIMALS} decimals.",
            code="invalid_quantity",
        )
    qty = qty.quantize(_QUANTUM)
    if qty == 0 or (qty < 0 and not allow_negative):
        raise InvalidPosting(
            f"{field_name} must be {'non-zero' if allow_negative else 'positive'}.",
            code="invalid_quantity",
        )
    return qty


def _posting_key(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 255:
        raise InvalidPosting("posting_key must be 1 to 255 characters.", code="invalid_posting_key")
    return value


def _same_warehouse(item: Item, *locations: Location) -> None:
    for location in locations:
        if location.warehouse_id != item.warehouse_id:
            raise InvalidPosting(
                f"Location {location.code} and item {item.sku} belong to different warehouses.",
                code="warehouse_mismatch",
            )


def _accepting(location: Location) -> None:
    if not location.is_active:
        raise InvalidPosting(
            f"Location {location.code} is inactive and takes no stock.", code="location_inactive"
        )


def _aware(value: datetime | None, field_name: str) -> datetime | None:
    if value is not None and timezone.is_naive(value):
        raise InvalidPosting(f"{field_name} must be timezone-aware.", code="naive_datetime")
    return value


def _fingerprint(kind: str, **content) -> str:
    def canonical(value):
        if isinstance(value, Model):
            return value.pk
        if isinstance(value, Decimal):
            return format(value, "f")
        return value

    payload = {"kind": kind, **{key: canonical(value) for key, value in content.items()}}
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _actor_fields(actor) -> dict:
    """``actor`` is a user, an external system principal, a plain label or ``None``."""
    if actor is None:
        return {"actor": None, "actor_label": ""}
    if isinstance(actor, str):
        return {"actor": None, "actor_label": actor[:150]}
    system = getattr(actor, "system", None)
    if system is not None:
        return {"actor": None, "actor_label": f"system:{system.code}"[:150]}
    if isinstance(actor, get_user_model()):
        return {"actor": actor, "actor_label": actor.get_username()[:150]}
    return {"actor": None, "actor_label": str(actor)[:150]}


# --- the posting engine -------------------------------------------------------


def _posting_claim(
    *, posting_key: str, kind: str, fingerprint: str, source_ref: str
) -> tuple[InventoryPosting, bool]:
    """Insert the posting row: ``(posting, True)`` when new, ``(first posting, False)`` on replay.

    ``ON CONFLICT DO NOTHING`` waits for a concurrent transaction holding the
    same key: if it commits we replay its result, if it rolls back we post.
    No savepoint needed, so a refused replay leaves the caller's transaction usable.
    """
    table = connection.ops.quote_name(InventoryPosting._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (posting_key, kind, fingerprint, source_ref) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (posting_key) DO NOTHING RETURNING id",
            [posting_key, kind, fingerprint, source_ref],
        )
        row = cursor.fetchone()
    if row is not None:
        posting = InventoryPosting(
            id=row[0],
            posting_key=posting_key,
            kind=kind,
            fingerprint=fingerprint,
            source_ref=source_ref,
        )
        return posting, True
    first = InventoryPosting.objects.get(posting_key=posting_key)
    if first.kind != kind or first.fingerprint != fingerprint:
        raise PostingKeyReused(
            f"Posting key '{posting_key}' was already used for a different {first.kind} posting.",
            extra={"postingKey": posting_key},
        )
    return first, False


def _replay(posting: InventoryPosting) -> PostingResult:
    entries = list(posting.entries.select_related("item", "location", "status").order_by("line_no"))
    reservation_id = next((e.reservation_id for e in entries if e.reservation_id), None)
    reservation = (
        InventoryReservation.objects.get(pk=reservation_id) if reservation_id is not None else None
    )
    return PostingResult(posting=posting, entries=entries, replayed=True, reservation=reservation)


def _lock_balances(lines: list[_Line]) -> dict[locks.BalanceKey, InventoryBalance]:
    net_in = defaultdict(Decimal)
    for line in lines:
        net_in[line.key] += line.on_hand_delta
    to_create = [key for key, delta in net_in.items() if delta > 0]
    if to_create:
        warehouse_ids = {line.key: line.location.warehouse_id for line in lines}
        locks.balances_ensure(keys=to_create, warehouse_ids=warehouse_ids)
    return locks.balances_lock(keys=net_in.keys())


def _insufficient(line: _Line, available: Decimal, requested: Decimal) -> InsufficientAvailable:
    return InsufficientAvailable(
        f"{format(available, 'f')} of {line.item.sku} available at "
        f"{line.location.code} ({line.status.code}); {format(requested, 'f')} needed.",
        extra={
            "sku": line.item.sku,
            "location": line.location.code,
            "inventoryStatus": line.status.code,
            "available": format(available, "f"),
            "requested": format(requested, "f"),
        },
    )


def _apply(
    lines: list[_Line], balances: dict[locks.BalanceKey, InventoryBalance] | None = None
) -> dict[locks.BalanceKey, InventoryBalance]:
    """Lock (unless already locked), check and update the balances ``lines`` change."""
    net: dict[locks.BalanceKey, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    first_line: dict[locks.BalanceKey, _Line] = {}
    for line in lines:
        net[line.key][0] += line.on_hand_delta
        net[line.key][1] += line.reserved_delta
        first_line.setdefault(line.key, line)
    if balances is None and len(net) == 1:
        [(key, (d_on_hand, d_reserved))] = net.items()
        return {key: _apply_one(first_line[key], d_on_hand, d_reserved)}
    if balances is None:
        balances = _lock_balances(lines)
    for key, (d_on_hand, d_reserved) in net.items():
        balance = balances.get(key)
        on_hand = balance.on_hand if balance else ZERO
        reserved = balance.reserved if balance else ZERO
        available = on_hand - reserved
        if available + d_on_hand - d_reserved < 0:
            raise _insufficient(first_line[key], available, -(d_on_hand - d_reserved))
        if on_hand + d_on_hand < 0 or reserved + d_reserved < 0:
            # Unreachable through the services (reservation bookkeeping keeps
            # reserved in step); the check constraints would refuse it anyway.
            raise AssertionError(f"posting would break balance invariants at {key}")
    for key, (d_on_hand, d_reserved) in net.items():
        if d_on_hand == 0 and d_reserved == 0:
            continue
        InventoryBalance.objects.filter(pk=balances[key].pk).update(
            on_hand=F("on_hand") + d_on_hand,
            reserved=F("reserved") + d_reserved,
            updated_at=Now(),
        )
    return balances


def _apply_one(line: _Line, d_on_hand: Decimal, d_reserved: Decimal) -> InventoryBalance:
    """One balance: a guarded UPDATE locks, checks and changes it in one statement.

    With a single row there is no lock order to respect; this saves the
    ``SELECT … FOR UPDATE`` round trip on the hottest postings (reserve,
    receive, issue, adjust). The guard is the same availability check.
    """
    key = line.key
    balance_id = locks.balance_update_guarded(key=key, d_on_hand=d_on_hand, d_reserved=d_reserved)
    if balance_id is None and d_on_hand > 0:
        locks.balances_ensure(keys=[key], warehouse_ids={key: line.location.warehouse_id})
        balance_id = locks.balance_update_guarded(
            key=key, d_on_hand=d_on_hand, d_reserved=d_reserved
        )
    if balance_id is None:
        # Refused by the guard (or no row): read what is there to say why.
        row = (
            InventoryBalance.objects.filter(item_id=key[0], location_id=key[1], status_id=key[2])
            .values_list("on_hand", "reserved")
            .first()
        )
        available = row[0] - row[1] if row else ZERO
        raise _insufficient(line, available, -(d_on_hand - d_reserved))
    return InventoryBalance(
        pk=balance_id,
        warehouse_id=line.location.warehouse_id,
        item_id=key[0],
        location_id=key[1],
        status_id=key[2],
    )


def _append(
    *,
    posting: InventoryPosting,
    lines: list[_Line],
    source_ref: str,
    actor,
    reason_code: str = "",
    reservation: InventoryReservation | None = None,
) -> list[InventoryLedgerEntry]:
    actor_fields = _actor_fields(actor)
    correlation_id = get_correlation_id()
    return InventoryLedgerEntry.objects.bulk_create(
        [
            InventoryLedgerEntry(
                posting=posting,
                line_no=number,
                entry_type=line.entry_type,
                warehouse_id=line.location.warehouse_id,
                item=line.item,
                location=line.location,
                status=line.status,
                on_hand_delta=line.on_hand_delta,
                reserved_delta=line.reserved_delta,
                reservation=reservation,
                source_ref=source_ref,
                reason_code=reason_code,
                correlation_id=correlation_id,
                **actor_fields,
            )
            for number, line in enumerate(lines, start=1)
        ]
    )


def _stock_event(
    *,
    event_type: str,
    posting: InventoryPosting,
    entries: list[InventoryLedgerEntry],
    item: Item,
    qty: Decimal,
    source_ref: str,
    reservation: InventoryReservation | None = None,
    **data,
) -> None:
    payload = {
        "postingKey": posting.posting_key,
        "sourceRef": source_ref,
        "warehouse": item.warehouse.code,
        "sku": item.sku,
        "qty": format(qty, "f"),
        "ledgerEntryIds": [entry.pk for entry in entries],
        **data,
    }
    if reservation is not None:
        payload["reservationId"] = reservation.pk
        payload["demandRef"] = reservation.demand_ref
        aggregate_type, aggregate_id = "InventoryReservation", reservation.pk
    else:
        aggregate_type, aggregate_id = "Item", item.pk
    outbox_emit(
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        data=payload,
    )


# --- stock postings -----------------------------------------------------------


@_posting_transaction
def stock_receive(
    *,
    item: Item,
    location: Location,
    status: InventoryStatus,
    qty,
    posting_key: str,
    source_ref: str,
    actor=None,
) -> PostingResult:
    """Stock arrives at ``location`` (a receipt, a return)."""
    qty = _qty(qty)
    _same_warehouse(item, location)
    _accepting(location)
    posting, new = _posting_claim(
        posting_key=_posting_key(posting_key),
        kind=PostingKind.RECEIVE,
        fingerprint=_fingerprint(
            PostingKind.RECEIVE,
            item=item,
            location=location,
            status=status,
            qty=qty,
            source_ref=source_ref,
        ),
        source_ref=source_ref,
    )
    if not new:
        return _replay(posting)
    lines = [_Line(LedgerEntryType.RECEIPT, item, location, status, on_hand_delta=qty)]
    _apply(lines)
    entries = _append(posting=posting, lines=lines, source_ref=source_ref, actor=actor)
    _stock_event(
        event_type="inventory.received",
        posting=posting,
        entries=entries,
        item=item,
        qty=qty,
        source_ref=source_ref,
        location=location.code,
        status=status.code,
    )
    return PostingResult(posting=posting, entries=entries, replayed=False)


@_posting_transaction
def stock_move(
    *,
    item: Item,
    from_location: Location,
    to_location: Location,
    status: InventoryStatus,
    qty,
    posting_key: str,
    source_ref: str,
    actor=None,
) -> PostingResult:
    """Available stock moves between two locations of one warehouse (put-away, relocation)."""
    qty = _qty(qty)
    _same_warehouse(item, from_location, to_location)
    if from_location.pk == to_location.pk:
        raise InvalidPosting("A move needs two different locations.", code="same_location")
    _accepting(to_location)
    posting, new = _posting_claim(
        posting_key=_posting_key(posting_key),
        kind=PostingKind.MOVE,
        fingerprint=_fingerprint(
            PostingKind.MOVE,
            item=item,
            from_location=from_location,
            to_location=to_location,
            status=status,
            qty=qty,
            source_ref=source_ref,
        ),
        source_ref=source_ref,
    )
    if not new:
        return _replay(posting)
    lines = [
        _Line(LedgerEntryType.MOVE_OUT, item, from_location, status, on_hand_delta=-qty),
        _Line(LedgerEntryType.MOVE_IN, item, to_location, status, on_hand_delta=qty),
    ]
    _apply(lines)
    entries = _append(posting=posting, lines=lines, source_ref=source_ref, actor=actor)
    _stock_event(
        event_type="inventory.moved",
        posting=posting,
        entries=entries,
        item=item,
        qty=qty,
        source_ref=source_ref,
        fromLocation=from_location.code,
        toLocation=to_location.code,
        status=status.code,
    )
    return PostingResult(posting=posting, entries=entries, replayed=False)


@_posting_transaction
def stock_status_transfer(
    *,
    item: Item,
    location: Location,
    from_status: InventoryStatus,
    to_status: InventoryStatus,
    qty,
    posting_key: str,
    source_ref: str,
    actor=None,
    reason_code: str = "",
) -> PostingResult:
    """Available stock changes status in place (available → quarantined, damaged…)."""
    qty = _qty(qty)
    _same_warehouse(item, location)
    if from_status.pk == to_status.pk:
        raise InvalidPosting("A status transfer needs two different statuses.", code="same_status")
    reason_code = reason_code.code if isinstance(reason_code, ReasonCode) else reason_code
    posting, new = _posting_claim(
        posting_key=_posting_key(posting_key),
        kind=PostingKind.STATUS_TRANSFER,
        fingerprint=_fingerprint(
            PostingKind.STATUS_TRANSFER,
            item=item,
            location=location,
            from_status=from_status,
            to_status=to_status,
            qty=qty,
            source_ref=source_ref,
            reason_code=reason_code,
        ),
        source_ref=source_ref,
    )
    if not new:
        return _replay(posting)
    lines = [
        _Line(LedgerEntryType.STATUS_OUT, item, location, from_status, on_hand_delta=-qty),
        _Line(LedgerEntryType.STATUS_IN, item, location, to_status, on_hand_delta=qty),
    ]
    _apply(lines)
    entries = _append(
        posting=posting, lines=lines, source_ref=source_ref, actor=actor, reason_code=reason_code
    )
    _stock_event(
        event_type="inventory.status_changed",
        posting=posting,
        entries=entries,
        item=item,
        qty=qty,
        source_ref=source_ref,
        location=location.code,
        fromStatus=from_status.code,
        toStatus=to_status.code,
        reasonCode=reason_code,
    )
    return PostingResult(posting=posting, entries=entries, replayed=False)


@_posting_transaction
def stock_issue(
    *,
    item: Item,
    location: Location,
    status: InventoryStatus,
    qty,
    posting_key: str,
    source_ref: str,
    actor=None,
) -> PostingResult:
    """Available (unreserved) stock leaves the warehouse on a shipment."""
    qty = _qty(qty)
    _same_warehouse(item, location)
    posting, new = _posting_claim(
        posting_key=_posting_key(posting_key),
        kind=PostingKind.ISSUE,
        fingerprint=_fingerprint(
            PostingKind.ISSUE,
            item=item,
            location=location,
            status=status,
            qty=qty,
            source_ref=source_ref,
        ),
        source_ref=source_ref,
    )
    if not new:
        return _replay(posting)
    lines = [_Line(LedgerEntryType.ISSUE, item, location, status, on_hand_delta=-qty)]
    _apply(lines)
    entries = _append(posting=posting, lines=lines, source_ref=source_ref, actor=actor)
    _stock_event(
        event_type="inventory.issued",
        posting=posting,
        entries=entries,
        item=item,
        qty=qty,
        source_ref=source_ref,
        location=location.code,
        status=status.code,
    )
    return PostingResult(posting=posting, entries=entries, replayed=False)


@_posting_transaction
def stock_adjust(
    *,
    item: Item,
    location: Location,
    status: InventoryStatus,
    qty_delta,
    reason_code,
    posting_key: str,
    source_ref: str,
    actor=None,
) -> PostingResult:
    """A count found more (positive delta) or less (negative delta) than the books say.

    A negative delta may only take available stock: reservations on the
    balance must be released first (a count never silently breaks a pick).
    """
    qty_delta = _qty(qty_delta, field_name="qty_delta", allow_negative=True)
    _same_warehouse(item, location)
    reason_code = reason_code.code if isinstance(reason_code, ReasonCode) else reason_code
    if not reason_code:
        raise InvalidPosting("An adjustment needs a reason code.", code="reason_code_required")
    posting, new = _posting_claim(
        posting_key=_posting_key(posting_key),
        kind=PostingKind.ADJUST,
        fingerprint=_fingerprint(
            PostingKind.ADJUST,
            item=item,
            location=location,
            status=status,
            qty_delta=qty_delta,
            reason_code=reason_code,
            source_ref=source_ref,
        ),
        source_ref=source_ref,
    )
    if not new:
        return _replay(posting)
    lines = [_Line(LedgerEntryType.ADJUSTMENT, item, location, status, on_hand_delta=qty_delta)]
    _apply(lines)
    entries = _append(
        posting=posting, lines=lines, source_ref=source_ref, actor=actor, reason_code=reason_code
    )
    _stock_event(
        event_type="inventory.adjusted",
        posting=posting,
        entries=entries,
        item=item,
        qty=qty_delta,
        source_ref=source_ref,
        location=location.code,
        status=status.code,
        reasonCode=reason_code,
        unitCost=format(item.unit_cost, "f"),
        amount=format((qty_delta * item.unit_cost).quantize(Decimal("0.0001")), "f"),
        currency=settings.WMS_CURRENCY,
    )
    return PostingResult(posting=posting, entries=entries, replayed=False)


# --- reservations -------------------------------------------------------------


def _lock_reservation(reservation: InventoryReservation, extra_lines: list[_Line] = ()):
    """Lock the reservation's balance (and ``extra_lines``' balances), then the reservation."""
    own_key = (reservation.item_id, reservation.location_id, reservation.status_id)
    balances = _lock_balances(list(extra_lines)) if extra_lines else {}
    if own_key not in balances:
        # Only reached when there are no extra lines, or they do not touch the
        # reservation's own balance: lock everything again in one pk-ordered query.
        keys = {own_key, *balances.keys()}
        balances = locks.balances_lock(keys=keys)
    locked = locks.reservation_lock(reservation_id=reservation.pk)
    if locked is None:
        raise InvalidPosting(f"Reservation {reservation.pk} does not exist.", code="not_found")
    return balances, locked


def _refuse_unless_open(reservation: InventoryReservation) -> None:
    if reservation.state == ReservationState.EXPIRED:
        raise ReservationExpired(
            f"Reservation {reservation.pk} expired.", extra={"reservationId": reservation.pk}
        )
    if not reservation.is_open:
        raise ReservationNotOpen(
            f"Reservation {reservation.pk} is already {reservation.state.lower()}.",
            extra={"reservationId": reservation.pk, "state": reservation.state},
        )


def _sync(target: InventoryReservation, source: InventoryReservation) -> None:
    """Let the caller's instance see the reservation as committed."""
    for name in ("state", "qty", "qty_consumed", "qty_released", "expires_at", "resolved_at"):
        setattr(target, name, getattr(source, name))


@_posting_transaction
def reservation_create(
    *,
    item: Item,
    location: Location,
    status: InventoryStatus,
    qty,
    demand_ref: str,
    posting_key: str,
    expires_at: datetime | None = None,
    actor=None,
    pending: bool = False,
) -> InventoryReservation:
    """Reserve available stock of one balance for ``demand_ref``.

    Committed by default (sequence 5); ``pending=True`` holds the stock as a
    tentative reservation that ``reservation_commit`` confirms. Either way it
    expires at ``expires_at`` (database clock) unless resolved before. The
    returned reservation carries ``replayed`` and ``posting_result``.
    ``expires_at`` is not part of the posting content: a retry that computes a
    slightly different expiry is still the same posting.
    """
    qty = _qty(qty)
    _same_warehouse(item, location)
    _aware(expires_at, "expires_at")
    if not demand_ref:
        raise InvalidPosting("A reservation needs a demand reference.", code="demand_required")
    if not status.allocatable:
        raise StatusNotAllocatable(f"Stock in status {status.code} may not be reserved.")
    posting, new = _posting_claim(
        posting_key=_posting_key(posting_key),
        kind=PostingKind.RESERVE,
        fingerprint=_fingerprint(
            PostingKind.RESERVE,
            item=item,
            location=location,
            status=status,
            qty=qty,
            demand_ref=demand_ref,
        ),
        source_ref=demand_ref,
    )
    if not new:
        result = _replay(posting)
        reservation = result.reservation
        reservation.replayed, reservation.posting_result = True, result
        return reservation
    lines = [_Line(LedgerEntryType.RESERVE, item, location, status, reserved_delta=qty)]
    balances = _apply(lines)
    reservation = InventoryReservation.objects.create(
        warehouse_id=location.warehouse_id,
        balance=balances[lines[0].key],
        item=item,
        location=location,
        status=status,
        state=ReservationState.PENDING if pending else ReservationState.COMMITTED,
        qty=qty,
        demand_ref=demand_ref,
        expires_at=expires_at,
    )
    entries = _append(
        posting=posting, lines=lines, source_ref=demand_ref, actor=actor, reservation=reservation
    )
    _stock_event(
        event_type="reservation.pending" if pending else "reservation.committed",
        posting=posting,
        entries=entries,
        item=item,
        qty=qty,
        source_ref=demand_ref,
        reservation=reservation,
        location=location.code,
        status=status.code,
        expiresAt=expires_at.isoformat() if expires_at else None,
    )
    result = PostingResult(
        posting=posting, entries=entries, replayed=False, reservation=reservation
    )
    reservation.replayed, reservation.posting_result = False, result
    return reservation


@_posting_transaction
def reservation_commit(
    *, reservation: InventoryReservation, expires_at: datetime | None = None, actor=None
) -> InventoryReservation:
    """Pending → Committed (a no-op on a committed one). ``expires_at`` replaces the expiry.

    No quantity changes (the stock is already held), so no ledger entry.
    """
    _aware(expires_at, "expires_at")
    _balances, locked = _lock_reservation(reservation)
    if locked.state == ReservationState.PENDING and locked.expired_by_clock:
        raise ReservationExpired(
            f"Reservation {locked.pk} expired before it was committed.",
            extra={"reservationId": locked.pk},
        )
    _refuse_unless_open(locked)
    if locked.state == ReservationState.COMMITTED and expires_at is None:
        _sync(reservation, locked)
        return reservation
    locked.state = ReservationState.COMMITTED
    if expires_at is not None:
        locked.expires_at = expires_at
    locked.save(update_fields=["state", "expires_at"])
    outbox_emit(
        event_type="reservation.committed",
        aggregate_type="InventoryReservation",
        aggregate_id=locked.pk,
        data={
            "reservationId": locked.pk,
            "demandRef": locked.demand_ref,
            "qty": format(locked.qty_open, "f"),
            "expiresAt": locked.expires_at.isoformat() if locked.expires_at else None,
        },
    )
    _sync(reservation, locked)
    return reservation


@_posting_transaction
def reservation_release(
    *, reservation: InventoryReservation, posting_key: str, qty=None, actor=None
) -> PostingResult:
    """Give back ``qty`` (``None``: all that is still open) of a reservation to available.

    Releasing everything that is open closes the reservation as Released; a
    closed reservation refuses (``reservation_not_open`` / ``reservation_expired``).
    """
    qty = _qty(qty) if qty is not None else None
    posting, new = _posting_claim(
        posting_key=_posting_key(posting_key),
        kind=PostingKind.RELEASE,
        fingerprint=_fingerprint(
            PostingKind.RELEASE, reservation=reservation, qty=qty if qty is not None else "rest"
        ),
        source_ref=reservation.demand_ref,
    )
    if not new:
        result = _replay(posting)
        _sync(reservation, result.reservation)
        return result
    balances, locked = _lock_reservation(reservation)
    _refuse_unless_open(locked)
    release = locked.qty_open if qty is None else qty
    if release > locked.qty_open:
        raise ReservationOverRelease(
            f"Reservation {locked.pk} holds {format(locked.qty_open, 'f')}; "
            f"cannot release {format(release, 'f')}.",
            extra={"reservationId": locked.pk, "open": format(locked.qty_open, "f")},
        )
    closes = release == locked.qty_open
    lines = [
        _Line(
            LedgerEntryType.RELEASE,
            locked.item,
            locked.location,
            locked.status,
            reserved_delta=-release,
        )
    ]
    _apply(lines, balances)
    locked.qty_released += release
    if closes:
        locked.state = ReservationState.RELEASED
        locked.resolved_at = timezone.now()
    InventoryReservation.objects.filter(pk=locked.pk).update(
        qty_released=F("qty_released") + release,
        **({"state": locked.state, "resolved_at": Now()} if closes else {}),
    )
    entries = _append(
        posting=posting,
        lines=lines,
        source_ref=locked.demand_ref,
        actor=actor,
        reservation=locked,
    )
    _stock_event(
        event_type="reservation.released",
        posting=posting,
        entries=entries,
        item=locked.item,
        qty=release,
        source_ref=locked.demand_ref,
        reservation=locked,
        state=locked.state,
    )
    _sync(reservation, locked)
    return PostingResult(posting=posting, entries=entries, replayed=False, reservation=locked)


@_posting_transaction
def reservation_consume(
    *,
    reservation: InventoryReservation,
    qty,
    to_location: Location,
    posting_key: str,
    actor=None,
) -> PostingResult:
    """A pick: ``qty`` of the reserved stock moves to ``to_location`` (staging), unreserved.

    Partial consumes keep the reservation open for the rest; consuming the
    last unit closes it as Consumed. Over-consume, consume after expiry (also
    when the expiry task has not run yet) and consume of a pending or closed
    reservation are refused.
    """
    qty = _qty(qty)
    if to_location.warehouse_id != reservation.warehouse_id:
        raise InvalidPosting(
            f"Location {to_location.code} is in another warehouse than the reservation.",
            code="warehouse_mismatch",
        )
    _accepting(to_location)
    posting, new = _posting_claim(
        posting_key=_posting_key(posting_key),
        kind=PostingKind.CONSUME,
        fingerprint=_fingerprint(
            PostingKind.CONSUME, reservation=reservation, qty=qty, to_location=to_location
        ),
        source_ref=reservation.demand_ref,
    )
    if not new:
        result = _replay(posting)
        _sync(reservation, result.reservation)
        return result
    item, status = reservation.item, reservation.status
    lines = [
        _Line(
            LedgerEntryType.PICK_OUT,
            item,
            reservation.location,
            status,
            on_hand_delta=-qty,
            reserved_delta=-qty,
        ),
        _Line(LedgerEntryType.PICK_IN, item, to_location, status, on_hand_delta=qty),
    ]
    balances, locked = _lock_reservation(reservation, lines)
    if locked.state == ReservationState.EXPIRED or (locked.is_open and locked.expired_by_clock):
        raise ReservationExpired(
            f"Reservation {locked.pk} expired; it can no longer be picked.",
            extra={"reservationId": locked.pk},
        )
    _refuse_unless_open(locked)
    if locked.state == ReservationState.PENDING:
        raise ReservationPending(
            f"Reservation {locked.pk} is pending; commit it before picking.",
            extra={"reservationId": locked.pk},
        )
    if qty > locked.qty_open:
        raise ReservationOverConsume(
            f"Reservation {locked.pk} holds {format(locked.qty_open, 'f')}; "
            f"cannot consume {format(qty, 'f')}.",
            extra={"reservationId": locked.pk, "open": format(locked.qty_open, "f")},
        )
    closes = qty == locked.qty_open
    _apply(lines, balances)
    locked.qty_consumed += qty
    if closes:
        locked.state = ReservationState.CONSUMED
        locked.resolved_at = timezone.now()
    InventoryReservation.objects.filter(pk=locked.pk).update(
        qty_consumed=F("qty_consumed") + qty,
        **({"state": locked.state, "resolved_at": Now()} if closes else {}),
    )
    entries = _append(
        posting=posting,
        lines=lines,
        source_ref=locked.demand_ref,
        actor=actor,
        reservation=locked,
    )
    _stock_event(
        event_type="reservation.consumed",
        posting=posting,
        entries=entries,
        item=item,
        qty=qty,
        source_ref=locked.demand_ref,
        reservation=locked,
        fromLocation=reservation.location.code,
        toLocation=to_location.code,
        status=status.code,
        state=locked.state,
    )
    _sync(reservation, locked)
    return PostingResult(posting=posting, entries=entries, replayed=False, reservation=locked)


@_posting_transaction
def reservation_expire(*, reservation_id: int) -> PostingResult | None:
    """Expire one reservation whose ``expires_at`` has passed on the database clock.

    ``None`` (and no change) when it is no longer open or not due: the expiry
    task may race a pick or a release, and whoever locks first wins.
    The posting key is derived from the reservation, so an expiry posts once.
    """
    candidate = (
        InventoryReservation.objects.select_related("item", "location", "status")
        .filter(pk=reservation_id)
        .first()
    )
    if candidate is None:
        return None
    balances, locked = _lock_reservation(candidate)
    if not locked.is_open or not locked.expired_by_clock:
        return None
    # Claimed after the locks (unlike the other postings): the key is derived
    # from the locked reservation, so no other posting can be waiting on it.
    posting, new = _posting_claim(
        posting_key=f"reservation-expire:{locked.pk}",
        kind=PostingKind.EXPIRE,
        fingerprint=_fingerprint(PostingKind.EXPIRE, reservation=locked),
        source_ref=locked.demand_ref,
    )
    if not new:  # cannot happen while the reservation is open; never post twice regardless
        return _replay(posting)
    remaining = locked.qty_open
    lines = [
        _Line(
            LedgerEntryType.EXPIRE,
            candidate.item,
            candidate.location,
            candidate.status,
            reserved_delta=-remaining,
        )
    ]
    _apply(lines, balances)
    locked.qty_released += remaining
    locked.state = ReservationState.EXPIRED
    InventoryReservation.objects.filter(pk=locked.pk).update(
        qty_released=F("qty_released") + remaining,
        state=ReservationState.EXPIRED,
        resolved_at=Now(),
    )
    entries = _append(
        posting=posting,
        lines=lines,
        source_ref=locked.demand_ref,
        actor=EXPIRY_ACTOR,
        reservation=locked,
    )
    _stock_event(
        event_type="reservation.expired",
        posting=posting,
        entries=entries,
        item=candidate.item,
        qty=remaining,
        source_ref=locked.demand_ref,
        reservation=locked,
    )
    return PostingResult(posting=posting, entries=entries, replayed=False, reservation=locked)


def reservation_expire_due(*, limit: int = 500) -> int:
    """Expire every reservation due on the database clock; the number expired.

    One transaction per reservation (each ``reservation_expire``), so one
    slow row never holds the locks of the others. Safe to run concurrently
    and repeatedly: a reservation expires once.
    """
    expired = 0
    for reservation_id in locks.reservation_ids_due(limit=limit):
        if reservation_expire(reservation_id=reservation_id) is not None:
            expired += 1
    return expired
