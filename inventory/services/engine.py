"""The posting engine: the one sequence every stock posting runs (``stock``, ``reservations``).

``post`` claims the posting key, asks the caller's plan what to change (the
plan takes its locks and checks its rules only once the key is ours), then
applies the balance deltas, writes the reservation change, the ledger entries
and the outbox event, and returns the ``PostingResult``. A replayed key
returns the first posting's result instead; a reused key with other content
is refused.

Why hand-written SQL: this is the hottest write path of the product (every
reservation, pick and receipt), and the ORM spent three times the CPU of the
statements themselves (the figures are in ``inventory.queries``, where the
statements are). The rows are the ones the models describe. Everything a
posting writes after its locks goes in one data-modifying ``WITH`` statement
(``queries.posting_write``), each part gated on the one before it, run
prepared; a single-balance posting (reserve, receive, issue, adjust) claims
its key in that same statement, so it costs one round trip between BEGIN and
COMMIT.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from wms import sql
from wms.correlation import get_correlation_id
from wms.exceptions import DomainError
from wms.outbox import outbox_row

from .. import locks, queries
from ..exceptions import InsufficientAvailable, InvalidPosting, PostingKeyReused
from ..models import (
    QTY_DECIMALS,
    InventoryBalance,
    InventoryLedgerEntry,
    InventoryPosting,
    InventoryReservation,
    InventoryStatus,
    Item,
    Location,
    PostingKind,
)

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
_QUANTUM = Decimal(1).scaleb(-QTY_DECIMALS)
_MAX_QTY = Decimal("1e12")
# SQLSTATEs worth retrying when the service owns the transaction.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
MAX_ATTEMPTS = 5


class PostingResult:
    """What a posting did (or, when ``replayed``, what the first call with its key did).

    ``posting`` and ``entries`` are model instances built on first access:
    most callers only need the reservation or nothing at all, and building
    them costs as much CPU as the posting's statement.
    """

    def __init__(
        self,
        *,
        replayed: bool,
        reservation=None,
        posting=None,
        entries=None,
        build=None,
        written_ids: tuple[int, list[int]] | None = None,
        companion: tuple | None = None,
    ):
        self.replayed = replayed
        self.reservation = reservation
        self._posting, self._entries, self._build = posting, entries, build
        # (posting id, ledger entry ids) as the statement answered them: read without
        # building the instances.
        self._written_ids = written_ids
        #: The ``PostingCompanion``'s columns as the posting's statement answered them
        #: (None: no companion, or the posting was a replay).
        self.companion = companion

    @property
    def posting(self) -> InventoryPosting:
        if self._posting is None:
            self._posting, self._entries = self._build()
        return self._posting

    @property
    def entries(self) -> list[InventoryLedgerEntry]:
        if self._entries is None:
            self._posting, self._entries = self._build()
        return self._entries

    @property
    def posting_id(self) -> int:
        if self._written_ids is not None:
            return self._written_ids[0]
        return self.posting.pk

    @property
    def entry_ids(self) -> list[int]:
        if self._written_ids is not None:
            return list(self._written_ids[1])
        return [entry.pk for entry in self.entries]

    def __repr__(self):
        return f"<PostingResult replayed={self.replayed} reservation={self.reservation!r}>"


@dataclass
class Line:
    """One ledger entry to append, and the balance change it stands for."""

    entry_type: str
    item: Item
    location: Location
    status: InventoryStatus
    on_hand_delta: Decimal = ZERO
    reserved_delta: Decimal = ZERO

    @property
    def key(self) -> locks.BalanceKey:
        return (self.item.pk, self.location.pk, self.status.pk)


@dataclass
class ReservationChange:
    """What a posting does to an existing (locked) reservation."""

    consumed: Decimal = ZERO
    released: Decimal = ZERO
    closes_as: str | None = None  # the final state, when the change resolves it


@dataclass(frozen=True)
class PostingCompanion:
    """Rows a caller writes in its posting's own statement (``queries.posting_write``),
    so that they cost no round trip of their own: an adjustment's row, audit records and
    finance event ride with its ADJUST posting.

    ``parts``: ``(name, sql, params)`` of further ``WITH`` parts, placed after the
    posting's rows. They may read ``posted`` (one row, ``id`` the posting's, only once
    every gate of the posting let its rows be written: a refused or replayed posting
    writes none of the companion's rows if each part reads from it) and ``led`` (the
    ledger entries' ``id, line_no``). ``columns``: SQL expressions the statement answers
    beside the posting's, handed back as ``PostingResult.companion``.
    """

    parts: tuple[tuple[str, str, list], ...]
    columns: tuple[str, ...]


@dataclass
class Plan:
    """What one posting writes, decided once its key is claimed and its locks are held.

    ``balances``: the rows the plan already locked (``None``: the engine takes
    the locks; a single balance is locked by its guarded UPDATE).
    ``new_reservation``: the column values of a reservation to create.
    ``reservation``: the locked reservation ``reservation_change`` applies to.
    """

    lines: list[Line]
    event_type: str
    item: Item
    qty: Decimal
    event: dict = field(default_factory=dict)
    reason_code: str = ""
    balances: dict[locks.BalanceKey, InventoryBalance] | None = None
    new_reservation: dict | None = None
    reservation: InventoryReservation | None = None
    reservation_change: ReservationChange | None = None

    @property
    def reservation_bound(self) -> bool:
        """Whether the entries and the event belong to a reservation."""
        return self.new_reservation is not None or self.reservation is not None


# --- transaction and retry ----------------------------------------------------


def _is_retryable(exc: Exception) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in _RETRYABLE_SQLSTATES


def posting_transaction(func):
    """``transaction.atomic`` around a posting, retried on deadlock / serialization failure.

    Retrying is only possible when the service owns the transaction. Inside a
    caller's transaction the posting joins it without a savepoint: a refusal
    leaves that transaction usable (see ``_claim_withdraw``), a database error
    propagates and the caller's unit of work is lost as a whole (it retries it).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if transaction.get_connection().in_atomic_block:
            # No savepoint: a refused posting takes back its own claim row
            # (``_claim_withdraw``), a database error dooms the caller's transaction.
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


def qty_checked(value, *, field_name: str = "qty", allow_negative: bool = False) -> Decimal:
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


def posting_key_checked(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 255:
        raise InvalidPosting("posting_key must be 1 to 255 characters.", code="invalid_posting_key")
    return value


def same_warehouse(item: Item, *locations: Location) -> None:
    for location in locations:
        if location.warehouse_id != item.warehouse_id:
            raise InvalidPosting(
                f"Location {location.code} and item {item.sku} belong to different warehouses.",
                code="warehouse_mismatch",
            )


def accepting(location: Location) -> None:
    if not location.is_active:
        raise InvalidPosting(
            f"Location {location.code} is inactive and takes no stock.", code="location_inactive"
        )


def aware(value: datetime | None, field_name: str) -> datetime | None:
    if value is not None and timezone.is_naive(value):
        raise InvalidPosting(f"{field_name} must be timezone-aware.", code="naive_datetime")
    return value


def _fingerprint(kind: str, content: dict) -> str:
    def canonical(value):
        if isinstance(value, Model):
            return value.pk
        if isinstance(value, Decimal):
            return format(value, "f")
        return value

    payload = {"kind": kind, **{key: canonical(value) for key, value in content.items()}}
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _actor_fields(actor) -> tuple[int | None, str]:
    """``actor`` is a user, an external system principal, a plain label or ``None``."""
    if actor is None:
        return None, ""
    if isinstance(actor, str):
        return None, actor[:150]
    system = getattr(actor, "system", None)
    if system is not None:
        return None, f"system:{system.code}"[:150]
    if isinstance(actor, get_user_model()):
        return actor.pk, actor.get_username()[:150]
    return None, str(actor)[:150]


def insufficient(line: Line, available: Decimal, requested: Decimal) -> InsufficientAvailable:
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


# --- claim and replay ---------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    """The posting row to insert; ``posting_key`` is unique, so it is inserted once."""

    posting_key: str
    kind: str
    fingerprint: str
    source_ref: str

    def params(self) -> list:
        return [self.posting_key, self.kind, self.fingerprint, self.source_ref]

    def posting(self, posting_id: int) -> InventoryPosting:
        return InventoryPosting(
            id=posting_id,
            posting_key=self.posting_key,
            kind=self.kind,
            fingerprint=self.fingerprint,
            source_ref=self.source_ref,
        )


def _claim_insert(claim: _Claim) -> int | None:
    """Insert the posting row: its id, or ``None`` when the key was posted before.

    ``ON CONFLICT DO NOTHING`` waits for a concurrent transaction holding the
    same key: if it commits we replay its result, if it rolls back we post.
    No savepoint needed, so a refused replay leaves the caller's transaction usable.
    """
    with connection.cursor() as cursor:
        cursor.execute(queries.POSTING_CLAIM, claim.params())
        row = cursor.fetchone()
    return row[0] if row else None


def _replay(claim: _Claim) -> PostingResult:
    first = InventoryPosting.objects.get(posting_key=claim.posting_key)
    if first.kind != claim.kind or first.fingerprint != claim.fingerprint:
        raise PostingKeyReused(
            f"Posting key '{claim.posting_key}' was already used for a different "
            f"{first.kind} posting.",
            extra={"postingKey": claim.posting_key},
        )
    entries = list(first.entries.select_related("item", "location", "status").order_by("line_no"))
    reservation_id = next((e.reservation_id for e in entries if e.reservation_id), None)
    reservation = (
        InventoryReservation.objects.get(pk=reservation_id) if reservation_id is not None else None
    )
    return PostingResult(posting=first, entries=entries, replayed=True, reservation=reservation)


# --- balances -----------------------------------------------------------------


def lock_balances(lines: list[Line]) -> dict[locks.BalanceKey, InventoryBalance]:
    """Create the balance rows stock arrives in, then lock every row ``lines`` touch."""
    net_in = defaultdict(Decimal)
    for line in lines:
        net_in[line.key] += line.on_hand_delta
    to_create = [key for key, delta in net_in.items() if delta > 0]
    if to_create:
        warehouse_ids = {line.key: line.location.warehouse_id for line in lines}
        created = locks.balances_ensure(keys=to_create, warehouse_ids=warehouse_ids)
        undo = _created_balances.get()
        if undo is not None:
            undo.extend(created)
    return locks.balances_lock(keys=net_in.keys())


# The zero balance rows the current posting created, taken back if it is refused.
_created_balances: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "inventory_created_balances", default=None
)


def _net(lines: list[Line]) -> tuple[dict, dict]:
    """Per balance: the summed (on hand, reserved) deltas, and the first line touching it."""
    net: dict[locks.BalanceKey, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    first_line: dict[locks.BalanceKey, Line] = {}
    for line in lines:
        net[line.key][0] += line.on_hand_delta
        net[line.key][1] += line.reserved_delta
        first_line.setdefault(line.key, line)
    return net, first_line


def _check_locked(net: dict, first_line: dict, balances: dict) -> None:
    """The invariants, on rows this transaction holds locked (the UPDATE adds deltas)."""
    for key, (d_on_hand, d_reserved) in net.items():
        balance = balances.get(key)
        on_hand = balance.on_hand if balance else ZERO
        reserved = balance.reserved if balance else ZERO
        available = on_hand - reserved
        if available + d_on_hand - d_reserved < 0:
            raise insufficient(first_line[key], available, -(d_on_hand - d_reserved))
        if on_hand + d_on_hand < 0 or reserved + d_reserved < 0:
            # Unreachable through the services (reservation bookkeeping keeps
            # reserved in step); the check constraints would refuse it anyway.
            raise AssertionError(f"posting would break balance invariants at {key}")


def _refused(line: Line, d_on_hand: Decimal, d_reserved: Decimal) -> InsufficientAvailable:
    """The guard changed no row: read what is there to say why."""
    key = line.key
    row = (
        InventoryBalance.objects.filter(item_id=key[0], location_id=key[1], status_id=key[2])
        .values_list("on_hand", "reserved")
        .first()
    )
    available = row[0] - row[1] if row else ZERO
    return insufficient(line, available, -(d_on_hand - d_reserved))


@dataclass
class _Guarded:
    """A single-balance change that locks, checks and updates its row in one statement.

    With a single row there is no lock order to respect, which saves the
    ``SELECT … FOR UPDATE`` round trip on the hottest postings (reserve,
    receive, issue, adjust). Stock only arriving (no reserved change) is an
    upsert, so a first receipt creates its balance; anything taking available
    stock is an UPDATE guarded by the same availability check.
    """

    line: Line
    d_on_hand: Decimal
    d_reserved: Decimal

    @property
    def arrives_only(self) -> bool:
        return self.d_on_hand > 0 and self.d_reserved == 0

    def statement(self) -> tuple[str, list]:
        """Its part of ``queries.posting_write``, gated on the posting's claim."""
        if self.arrives_only:
            return queries.balance_arrive(
                key=self.line.key,
                warehouse_id=self.line.location.warehouse_id,
                d_on_hand=self.d_on_hand,
            )
        return queries.balance_update_guarded(
            key=self.line.key, d_on_hand=self.d_on_hand, d_reserved=self.d_reserved
        )


# --- rows ---------------------------------------------------------------------


@dataclass
class _Rows:
    """Everything a posting writes after its balances, as values (``queries`` has the SQL)."""

    plan: Plan
    source_ref: str
    actor_id: int | None
    actor_label: str
    correlation_id: str

    def ledger_values(self, line: Line, number: int) -> list:
        """One ledger row, without posting id and reservation id (known only when written)."""
        return [
            number,
            line.entry_type,
            line.location.warehouse_id,
            line.item.pk,
            line.location.pk,
            line.status.pk,
            line.on_hand_delta,
            line.reserved_delta,
            self.source_ref,
            self.plan.reason_code,
            self.actor_id,
            self.actor_label,
            self.correlation_id,
        ]

    def reservation_values(self) -> list:
        """The new reservation, without id and balance id."""
        values = self.plan.new_reservation
        return [
            values["warehouse_id"],
            values["item_id"],
            values["location_id"],
            values["status_id"],
            values["state"],
            values["qty"],
            values["demand_ref"],
            values["expires_at"],
        ]

    def reservation_update(self, reservation_id) -> tuple[str, list]:
        change = self.plan.reservation_change
        return queries.reservation_change(
            reservation_id=reservation_id,
            consumed=change.consumed,
            released=change.released,
            closes_as=change.closes_as,
        )

    def event(self, posting_key: str, reservation_id, ids: dict | None = None) -> dict:
        """The outbox row; ``ids``: ids already known to add to its data."""
        return outbox_row(**self.event_fields(posting_key, reservation_id, ids))

    def event_fields(self, posting_key: str, reservation_id, ids: dict | None = None) -> dict:
        """``outbox_row``'s arguments for the posting's event."""
        plan = self.plan
        payload = {
            "postingKey": posting_key,
            "sourceRef": self.source_ref,
            "warehouse": plan.item.warehouse.code,
            "sku": plan.item.sku,
            "qty": format(plan.qty, "f"),
            **plan.event,
            **(ids or {}),
        }
        if plan.reservation_bound:
            payload["demandRef"] = (
                plan.new_reservation["demand_ref"]
                if plan.new_reservation is not None
                else plan.reservation.demand_ref
            )
            aggregate_type, aggregate_id = "InventoryReservation", reservation_id
        else:
            aggregate_type, aggregate_id = "Item", plan.item.pk
        return dict(
            event_type=plan.event_type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id if aggregate_id is not None else "",
            data=payload,
            correlation_id=self.correlation_id,
        )


@dataclass
class _Written:
    posting_id: int
    ledger_ids: list[int]
    reservation_id: int | None = None
    balance_id: int | None = None
    companion: tuple | None = None


def _write(
    *,
    rows: _Rows,
    claim: _Claim,
    posting_id: int | None,
    guarded: _Guarded | None,
    updates: list[tuple[str, list]],
    companion: PostingCompanion | None = None,
) -> _Written | None:
    """One statement (``queries.posting_write``): (claim,) balances, reservation,
    ledger and event.

    ``posting_id`` None: the posting row is inserted here, and everything else
    is gated on it (a replayed key writes nothing and returns ``None``). A
    guarded balance change gates the rows after it (refused: only the claim
    row is written, and the caller raises, which takes it back). ``updates``:
    the UPDATEs of balances the caller locked and checked.
    """
    plan = rows.plan
    reservation = plan.reservation
    reservation_id = reservation.pk if reservation is not None else None
    # A new reservation's id is known only inside the statement, which adds it to
    # the event; an existing one's goes in from here.
    known = {"reservationId": reservation_id} if reservation is not None else None
    statement, params = queries.posting_write(
        claim=claim.params() if posting_id is None else None,
        posting_id=posting_id,
        balance=guarded.statement() if guarded is not None else None,
        balance_updates=updates,
        new_reservation=rows.reservation_values() if plan.new_reservation is not None else None,
        reservation_update=(
            rows.reservation_update(reservation_id) if plan.reservation_change is not None else None
        ),
        reservation_id=reservation_id,
        ledger_rows=[rows.ledger_values(line, n) for n, line in enumerate(plan.lines, start=1)],
        event=rows.event(claim.posting_key, reservation_id, known),
        companion=companion,
    )
    row = _pg_fetchone(statement, params)
    if row is None:
        return None
    written_posting_id, balance_id, new_reservation_id, ledger_ids, *companion_row = row
    return _Written(
        written_posting_id,
        ledger_ids or [],
        new_reservation_id,
        balance_id,
        tuple(companion_row) if companion is not None else None,
    )


def _pg_fetchone(statement: str, params: list):
    """Run one statement on a server-binding cursor (``wms.sql.server_bound_cursor``):
    the engine's statements repeat by the thousand, so psycopg prepares them from
    their second use. Inside Django's current transaction; errors come out as
    Django's (``OperationalError`` with the psycopg error as ``__cause__``), so
    the deadlock retries of the posting service and its callers see them.
    """
    with sql.server_bound_cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()


# --- a batch of new reservations ------------------------------------------------


@dataclass
class BatchReservation:
    """One posting of ``post_reservations``: a new reservation on a balance the caller
    holds locked and has checked (``plan`` as ``reservation_create`` builds it)."""

    posting_key: str
    content: dict
    source_ref: str
    plan: Plan
    balance_id: int


def post_reservations(batch: list[BatchReservation], *, actor=None) -> list[PostingResult] | None:
    """Post several new reservations in one statement (``queries.reservations_batch``).

    The same rows as that many ``reservation_create`` calls (claim, balance,
    reservation, ledger entry, event); the caller holds every balance locked
    and has checked it covers its postings. Returns ``None`` and writes
    nothing when a key was posted before (the caller posts them one by one,
    which replays or refuses each as usual).
    """
    actor_id, actor_label = _actor_fields(actor)
    correlation_id = get_correlation_id()
    records, claims, all_rows, events = [], [], [], []
    for n, posting in enumerate(batch, start=1):
        claim = _Claim(
            posting_key=posting_key_checked(posting.posting_key),
            kind=PostingKind.RESERVE,
            fingerprint=_fingerprint(PostingKind.RESERVE, posting.content),
            source_ref=posting.source_ref,
        )
        rows = _Rows(posting.plan, posting.source_ref, actor_id, actor_label, correlation_id)
        records.append(_batch_record(n, posting, claim, rows))
        events.append(rows.event(claim.posting_key, None))
        claims.append(claim)
        all_rows.append(rows)
    statement, params = queries.reservations_batch(
        json.dumps(records, cls=DjangoJSONEncoder), PostingKind.RESERVE, events
    )
    claimed, balanced, claim_ids, written, reservations, written_events = _pg_fetchone(
        statement, params
    )
    if not claimed:
        for posting_id in claim_ids or []:
            _claim_withdraw(posting_id)  # the ones this batch claimed before it stopped
        return None
    if not balanced or reservations != len(batch) or written_events != len(batch):
        # The caller checked the locked balances: reaching this is a bug. Raising
        # dooms the caller's transaction, so nothing of the batch stays.
        raise AssertionError("a batch of reservations found a balance short under its lock")
    results = [None] * len(batch)
    for n, posting_id, reservation_id, ledger_id in written:
        results[n - 1] = _result(
            claims[n - 1],
            all_rows[n - 1],
            _Written(posting_id, [ledger_id], reservation_id, batch[n - 1].balance_id),
        )
    return results


def _batch_record(n: int, posting: BatchReservation, claim: _Claim, rows: _Rows) -> dict:
    """One posting of ``post_reservations`` as a record of ``queries.reservations_batch``."""
    [line] = posting.plan.lines
    ledger = rows.ledger_values(line, 1)
    warehouse_id, item_id, location_id, status_id, state, qty, demand_ref, expires_at = (
        rows.reservation_values()
    )
    return {
        "n": n,
        "posting_key": claim.posting_key,
        "fingerprint": claim.fingerprint,
        "source_ref": claim.source_ref,
        "balance_id": posting.balance_id,
        **dict(zip(queries.LEDGER_VALUE_COLUMNS.split(", "), ledger, strict=True)),
        "r_warehouse_id": warehouse_id,
        "r_item_id": item_id,
        "r_location_id": location_id,
        "r_status_id": status_id,
        "state": state,
        "qty": qty,
        "demand_ref": demand_ref,
        "expires_at": expires_at,
    }


# --- a batch of postings planned under the caller's locks ---------------------------


@dataclass
class BatchPosting:
    """One posting of ``post_planned``: what ``post`` takes, with a ready ``Plan``
    whose balances (``plan.balances``) and reservation the caller holds locked."""

    kind: str
    posting_key: str
    content: dict
    source_ref: str
    plan: Plan
    actor: object = None


def post_planned(batch: list[BatchPosting]) -> list[PostingResult]:
    """Post several planned postings, in order, in the caller's transaction.

    The same rows as that many ``post`` calls: each posting is the statement
    ``post`` runs (``queries.posting_write``: claim, balance deltas,
    reservation change, ledger, event), and the invariants are checked on the
    locked balances as each posting before it in the batch left them. All
    statements go in one round trip (psycopg's pipeline): a batch of picks
    costs its locks and one write, not seven round trips a pick.

    Everything is checked before anything is written: a refusal (a
    ``DomainError``, with ``posting_key`` set to the posting refused) writes
    nothing. A key posted before is a caller's bug here (its keys are new):
    ``AssertionError``, which dooms the caller's transaction.
    """
    correlation_id = get_correlation_id()
    running: dict[locks.BalanceKey, list[Decimal]] = {}
    prepared = []
    for posting in batch:
        plan = posting.plan
        claim = _Claim(
            posting_key=posting_key_checked(posting.posting_key),
            kind=posting.kind,
            fingerprint=_fingerprint(posting.kind, posting.content),
            source_ref=posting.source_ref,
        )
        net, first_line = _net(plan.lines)
        for key, (d_on_hand, d_reserved) in net.items():
            balance = plan.balances.get(key)
            now = running.setdefault(
                key, [balance.on_hand, balance.reserved] if balance else [ZERO, ZERO]
            )
            available = now[0] - now[1]
            if available + d_on_hand - d_reserved < 0:
                exc = insufficient(first_line[key], available, -(d_on_hand - d_reserved))
                exc.posting_key = posting.posting_key
                raise exc
            if now[0] + d_on_hand < 0 or now[1] + d_reserved < 0:
                raise AssertionError(f"posting would break balance invariants at {key}")
        for key, (d_on_hand, d_reserved) in net.items():
            running[key][0] += d_on_hand
            running[key][1] += d_reserved
        updates = [
            (queries.BALANCE_ADD, [d_on_hand, d_reserved, plan.balances[key].pk])
            for key, (d_on_hand, d_reserved) in net.items()
            if d_on_hand or d_reserved
        ]
        actor_id, actor_label = _actor_fields(posting.actor)
        rows = _Rows(plan, posting.source_ref, actor_id, actor_label, correlation_id)
        prepared.append((claim, rows, updates))
    statements = []
    for claim, rows, updates in prepared:
        reservation = rows.plan.reservation
        reservation_id = reservation.pk if reservation is not None else None
        statements.append(
            queries.posting_write(
                claim=claim.params(),
                posting_id=None,
                balance=None,
                balance_updates=updates,
                new_reservation=None,
                reservation_update=(
                    rows.reservation_update(reservation_id)
                    if rows.plan.reservation_change is not None
                    else None
                ),
                reservation_id=reservation_id,
                ledger_rows=[
                    rows.ledger_values(line, n) for n, line in enumerate(rows.plan.lines, start=1)
                ],
                event=rows.event(
                    claim.posting_key,
                    reservation_id,
                    {"reservationId": reservation_id} if reservation is not None else None,
                ),
            )
        )
    results = []
    for (claim, rows, _updates), row in zip(prepared, sql.fetch_pipelined(statements), strict=True):
        if row is None:
            raise AssertionError(f"posting key {claim.posting_key} was posted before")
        posting_id, balance_id, reservation_id, ledger_ids = row
        results.append(
            _result(claim, rows, _Written(posting_id, ledger_ids or [], reservation_id, balance_id))
        )
    return results


# --- the posting --------------------------------------------------------------


def post(
    *,
    kind: str,
    posting_key: str,
    content: dict,
    source_ref: str,
    actor,
    plan: Plan | Callable[[], Plan],
    companion: PostingCompanion | None = None,
) -> PostingResult:
    """Claim ``posting_key`` and write what ``plan`` says, once; see the module docstring.

    ``content`` is what makes two calls with one key the same posting (its
    fingerprint). ``plan`` is a ``Plan``, or a function that builds one after
    the claim (taking the locks and checking the rules it needs). ``companion``:
    the caller's rows written in the posting's statement (``PostingCompanion``).
    """
    claim = _Claim(
        posting_key=posting_key_checked(posting_key),
        kind=kind,
        fingerprint=_fingerprint(kind, content),
        source_ref=source_ref,
    )
    guarded = _single_balance(plan)
    posting_id, updates = None, []
    if guarded is None:
        # Lock order: the posting key, then the balances (the plan may lock them).
        posting_id = _claim_insert(claim)
        if posting_id is None:
            return _replay(claim)
        plan, updates = _plan_under_locks(plan, posting_id)
    actor_id, actor_label = _actor_fields(actor)
    rows = _Rows(plan, source_ref, actor_id, actor_label, get_correlation_id())
    written = _write(
        rows=rows,
        claim=claim,
        posting_id=posting_id,
        guarded=guarded,
        updates=updates,
        companion=companion,
    )
    if written is None:
        return _replay(claim)
    if guarded is not None and written.balance_id is None:
        # Refused by the guard: nothing but the claim row was written.
        _claim_withdraw(written.posting_id)
        raise _refused(guarded.line, guarded.d_on_hand, guarded.d_reserved)
    return _result(claim, rows, written)


def _single_balance(plan: Plan | Callable[[], Plan]) -> _Guarded | None:
    """The guarded change of a ready plan that touches one balance and leaves its lock
    to the engine: claimed, locked, checked and written in one statement. None for
    any other plan (claimed first, then planned and checked under the locks)."""
    if callable(plan) or plan.balances is not None:
        return None
    net, first_line = _net(plan.lines)
    if len(net) != 1:
        return None
    [(key, (d_on_hand, d_reserved))] = net.items()
    return _Guarded(first_line[key], d_on_hand, d_reserved)


def _plan_under_locks(
    plan: Plan | Callable[[], Plan], posting_id: int
) -> tuple[Plan, list[tuple[str, list]]]:
    """After the claim: build the plan (it may take locks and check its rules), lock
    the balances it leaves to the engine, check the invariants on the locked rows;
    the plan and the UPDATEs of its balances. A refusal takes back the claim and
    the zero balance rows created to lock them."""
    created: list[int] = []
    token = _created_balances.set(created)
    try:
        if callable(plan):
            plan = plan()
        balances = plan.balances if plan.balances is not None else lock_balances(plan.lines)
        net, first_line = _net(plan.lines)
        _check_locked(net, first_line, balances)
    except DomainError:
        _claim_withdraw(posting_id, created_balance_ids=created)
        raise
    finally:
        _created_balances.reset(token)
    updates = [
        (queries.BALANCE_ADD, [d_on_hand, d_reserved, balances[key].pk])
        for key, (d_on_hand, d_reserved) in net.items()
        if d_on_hand or d_reserved
    ]
    return plan, updates


def _plan_withdraw_balances(created_balance_ids: list[int]) -> None:
    """Take back the zero balance rows a refused batch created to lock them."""
    if created_balance_ids:
        with connection.cursor() as cursor:
            for balance_id in created_balance_ids:
                cursor.execute(queries.BALANCE_WITHDRAW, [balance_id])


def _claim_withdraw(posting_id: int, created_balance_ids: list[int] = ()) -> None:
    """Take back what a posting refused after its claim wrote: the claim row, new zero balances.

    A posting inside a caller's transaction runs without a savepoint (two
    round trips saved on every pick and every planned line), so a refusal
    undoes its own writes: the posting row, and the zero balance rows it
    created to lock them (rules are checked before any other row is written).
    None is committed, so nobody saw them; a concurrent posting wanting the
    same key or balance waits for this transaction, then finds it free.
    Database errors need no such care: they abort the whole transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute(queries.POSTING_WITHDRAW, [posting_id])
        for balance_id in created_balance_ids:
            cursor.execute(queries.BALANCE_WITHDRAW, [balance_id])


def _result(claim: _Claim, rows: _Rows, written: _Written) -> PostingResult:
    plan = rows.plan
    reservation = plan.reservation
    if plan.new_reservation is not None:
        reservation = InventoryReservation(
            id=written.reservation_id, balance_id=written.balance_id, **plan.new_reservation
        )
    reservation_id = reservation.pk if reservation is not None else None

    def build():
        posting = claim.posting(written.posting_id)
        entries = [
            InventoryLedgerEntry(
                id=entry_id,
                posting=posting,
                line_no=number,
                entry_type=line.entry_type,
                warehouse_id=line.location.warehouse_id,
                item=line.item,
                location=line.location,
                status=line.status,
                on_hand_delta=line.on_hand_delta,
                reserved_delta=line.reserved_delta,
                reservation_id=reservation_id,
                source_ref=rows.source_ref,
                reason_code=plan.reason_code,
                actor_id=rows.actor_id,
                actor_label=rows.actor_label,
                correlation_id=rows.correlation_id,
            )
            for number, (entry_id, line) in enumerate(
                zip(written.ledger_ids, plan.lines, strict=True), start=1
            )
        ]
        return posting, entries

    return PostingResult(
        replayed=False,
        reservation=reservation,
        build=build,
        written_ids=(written.posting_id, written.ledger_ids),
        companion=written.companion,
    )
