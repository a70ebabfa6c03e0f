"""The posting engine: the one sequence every stock posting runs (``stock``, ``reservations``).

``post`` claims the posting key, asks the caller's plan what to change (the
plan takes its locks and checks its rules only once the key is ours), then
applies the balance deltas, writes the reservation change, the ledger entries
and the outbox event, and returns the ``PostingResult``. A replayed key
returns the first posting's result instead; a reused key with other content
is refused.

Why hand-written SQL here and nowhere else: this is the hottest write path of
the product (every reservation, pick and receipt), and the ORM spent three
times the CPU of the statements themselves. The rows are the ones the models
describe. On PostgreSQL everything a posting writes after its locks goes in
one data-modifying ``WITH`` statement, each part gated on the one before it,
run prepared; a single-balance posting (reserve, receive, issue, adjust)
claims its key in that same statement, so it costs one round trip between
BEGIN and COMMIT. SQLite, the embedded default, runs the same rows one
statement at a time.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from wms import sql
from wms.correlation import get_correlation_id
from wms.exceptions import DomainError
from wms.outbox import OUTBOX_TABLE, outbox_row

from .. import locks
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
)

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
_QUANTUM = Decimal(1).scaleb(-QTY_DECIMALS)
_MAX_QTY = Decimal("1e12")
# SQLSTATEs worth retrying when the service owns the transaction.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
MAX_ATTEMPTS = 5

_POSTING = InventoryPosting._meta.db_table
_LEDGER = InventoryLedgerEntry._meta.db_table
_RESERVATION = InventoryReservation._meta.db_table
_BALANCE = InventoryBalance._meta.db_table


class PostingResult:
    """What a posting did (or, when ``replayed``, what the first call with its key did).

    ``posting`` and ``entries`` are model instances built on first access:
    most callers only need the reservation or nothing at all, and building
    them costs as much CPU as the posting's statement.
    """

    def __init__(self, *, replayed: bool, reservation=None, posting=None, entries=None, build=None):
        self.replayed = replayed
        self.reservation = reservation
        self._posting, self._entries, self._build = posting, entries, build

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
    def entry_ids(self) -> list[int]:
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


_CLAIM_INSERT = (
    f"INSERT INTO {_POSTING} (posting_key, kind, fingerprint, source_ref) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (posting_key) DO NOTHING RETURNING id"
)


def _claim_insert(claim: _Claim) -> int | None:
    """Insert the posting row: its id, or ``None`` when the key was posted before.

    ``ON CONFLICT DO NOTHING`` waits for a concurrent transaction holding the
    same key: if it commits we replay its result, if it rolls back we post.
    No savepoint needed, so a refused replay leaves the caller's transaction usable.
    """
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_INSERT, claim.params())
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

    def statement(self, source: str = "") -> tuple[str, list]:
        """The SQL; ``source`` is a row source (``FROM claim``) that gates it, if any."""
        item_id, location_id, status_id = self.line.key
        if self.arrives_only:
            return (
                f"INSERT INTO {_BALANCE} (warehouse_id, item_id, location_id, status_id, "
                "on_hand, reserved, updated_at) "
                f"SELECT %s, %s, %s, %s, %s, 0, CURRENT_TIMESTAMP {source or 'WHERE TRUE'} "
                "ON CONFLICT (item_id, location_id, status_id) DO UPDATE SET "
                f"on_hand = {_BALANCE}.on_hand + EXCLUDED.on_hand, "
                "updated_at = EXCLUDED.updated_at RETURNING id",
                [self.line.location.warehouse_id, item_id, location_id, status_id, self.d_on_hand],
            )
        return locks.balance_update_guarded_statement(
            key=self.line.key,
            d_on_hand=self.d_on_hand,
            d_reserved=self.d_reserved,
            gate="AND EXISTS (SELECT 1 FROM claim) " if source else "",
        )


# --- rows ---------------------------------------------------------------------


_LEDGER_COLUMNS = (
    "posting_id, line_no, entry_type, warehouse_id, item_id, location_id, status_id, "
    "on_hand_delta, reserved_delta, reservation_id, source_ref, reason_code, actor_id, "
    "actor_label, correlation_id"
)
_RESERVATION_COLUMNS = (
    "warehouse_id, balance_id, item_id, location_id, status_id, state, qty, "
    "qty_consumed, qty_released, demand_ref, expires_at"
)


@dataclass
class _Rows:
    """Everything a posting writes after its balances, as values (the SQL is per backend)."""

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
        closing = ", state = %s, resolved_at = CURRENT_TIMESTAMP" if change.closes_as else ""
        return (
            f"UPDATE {_RESERVATION} SET qty_consumed = qty_consumed + CAST(%s AS NUMERIC), "
            f"qty_released = qty_released + CAST(%s AS NUMERIC){closing} WHERE id = %s",
            [
                change.consumed,
                change.released,
                *([change.closes_as] if change.closes_as else []),
                reservation_id,
            ],
        )

    def event(self, posting_key: str, reservation_id, ids: dict | None = None) -> dict:
        """The outbox row; ``ids`` (ledger entry ids, reservation id) when already known."""
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


def _values_sql(rows: list[list], casts: list[str]) -> str:
    row_sql = "(" + ", ".join(f"CAST(%s AS {cast})" for cast in casts) + ")"
    return ", ".join([row_sql] * len(rows))


# Types of ``_Rows.ledger_values`` (PostgreSQL would read untyped VALUES parameters as text).
_LEDGER_VALUE_COLUMNS = (
    "line_no, entry_type, warehouse_id, item_id, location_id, status_id, on_hand_delta, "
    "reserved_delta, source_ref, reason_code, actor_id, actor_label, correlation_id"
)
_LEDGER_VALUE_CASTS = [
    "integer",
    "varchar",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
    "numeric",
    "numeric",
    "varchar",
    "varchar",
    "integer",
    "varchar",
    "varchar",
]


def _write_postgresql(
    *,
    rows: _Rows,
    claim: _Claim,
    posting_id: int | None,
    guarded: _Guarded | None,
    updates: list[tuple[str, list]],
) -> _Written | None:
    """One statement: (claim,) balances, reservation, ledger and event, chained in a WITH.

    ``posting_id`` None: the posting row is inserted here, and everything else
    is gated on it (a replayed key writes nothing and returns ``None``). A
    guarded balance change gates the rows after it (refused: only the claim
    row is written, and the caller raises, which takes it back). ``updates``:
    the UPDATEs of balances the caller locked and checked.
    """
    plan = rows.plan
    reservation = plan.reservation
    parts: list[str] = []
    params: list = []

    def cte(name: str, sql: str, values: list) -> None:
        parts.append(f"{name} AS ({sql})")
        params.extend(values)

    if posting_id is None:
        cte("claim", _CLAIM_INSERT, claim.params())
    else:
        cte("claim", "SELECT CAST(%s AS bigint) AS id", [posting_id])
    gate = "FROM claim"
    if guarded is not None:
        cte("bal", *guarded.statement(source="FROM claim"))
        gate += " CROSS JOIN bal"
    else:
        for number, (sql, values) in enumerate(updates):
            cte(f"upd{number}", f"{sql} RETURNING id", values)
        cte("bal", "SELECT CAST(NULL AS bigint) AS id", [])
    if plan.new_reservation is not None:
        cte(
            "res",
            f"INSERT INTO {_RESERVATION} ({_RESERVATION_COLUMNS}) "
            "SELECT %s, bal.id, %s, %s, %s, %s, %s, 0, 0, %s, %s FROM bal RETURNING id",
            rows.reservation_values(),
        )
        gate += " CROSS JOIN res"
        reservation_sql, reservation_params = "res.id", []
    else:
        if plan.reservation_change is not None:
            sql, values = rows.reservation_update(reservation.pk)
            cte("resupd", f"{sql} RETURNING id", values)
        reservation_sql = "CAST(%s AS bigint)"
        reservation_params = [reservation.pk if reservation is not None else None]
    ledger_rows = [rows.ledger_values(line, n) for n, line in enumerate(plan.lines, start=1)]
    cte(
        "led",
        f"INSERT INTO {_LEDGER} ({_LEDGER_COLUMNS}) "
        "SELECT claim.id, v.line_no, v.entry_type, v.warehouse_id, v.item_id, v.location_id, "
        f"v.status_id, v.on_hand_delta, v.reserved_delta, {reservation_sql}, v.source_ref, "
        f"v.reason_code, v.actor_id, v.actor_label, v.correlation_id {gate} "
        f"CROSS JOIN (VALUES {_values_sql(ledger_rows, _LEDGER_VALUE_CASTS)}) "
        f"AS v({_LEDGER_VALUE_COLUMNS}) RETURNING id, line_no",
        [*reservation_params, *[value for row in ledger_rows for value in row]],
    )
    # The event carries ids only known here: added to its payload in SQL.
    event = rows.event(claim.posting_key, reservation.pk if reservation is not None else None)
    select, values = [], []
    for column, value in event.items():
        if column == "data":
            select.append(
                "CAST(%s AS jsonb) || jsonb_build_object('ledgerEntryIds', "
                "(SELECT jsonb_agg(id ORDER BY line_no) FROM led)"
                + (f", 'reservationId', {reservation_sql})" if plan.reservation_bound else ")")
            )
            values += [value, *(reservation_params if plan.reservation_bound else [])]
        elif column == "aggregate_id" and plan.new_reservation is not None:
            select.append("CAST(res.id AS varchar)")
        else:
            select.append("%s")
            values.append(value)
    cte(
        "evt",
        f"INSERT INTO {OUTBOX_TABLE} ({', '.join(event)}) SELECT {', '.join(select)} {gate} "
        "RETURNING id",
        values,
    )
    new_reservation_id = "(SELECT id FROM res)" if plan.new_reservation is not None else "NULL"
    row = _pg_fetchone(
        f"WITH {', '.join(parts)} SELECT claim.id, (SELECT id FROM bal), {new_reservation_id}, "
        "(SELECT array_agg(id ORDER BY line_no) FROM led), (SELECT count(*) FROM evt) FROM claim",
        params,
    )
    if row is None:
        return None
    written_posting_id, balance_id, reservation_id, ledger_ids, _events = row
    return _Written(written_posting_id, ledger_ids or [], reservation_id, balance_id)


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


def _write_sequential(
    *,
    rows: _Rows,
    claim: _Claim,
    posting_id: int | None,
    guarded: _Guarded | None,
    updates: list[tuple[str, list]],
) -> _Written | None:
    """The same rows, one statement at a time (SQLite, the embedded default)."""
    plan = rows.plan
    reservation = plan.reservation
    with connection.cursor() as cursor:

        def run(sql, values):
            cursor.execute(sql, values)
            return cursor.fetchone() if "RETURNING" in sql else None

        if posting_id is None:
            row = run(_CLAIM_INSERT, claim.params())
            if row is None:
                return None
            posting_id = row[0]
        balance_id = None
        if guarded is not None:
            row = run(*guarded.statement())
            if row is None:
                return _Written(posting_id, [])
            balance_id = row[0]
        for sql, values in updates:
            run(sql, values)
        reservation_id = None
        if plan.new_reservation is not None:
            values = rows.reservation_values()
            reservation_id = run(
                f"INSERT INTO {_RESERVATION} ({_RESERVATION_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 0, 0, %s, %s) RETURNING id",
                [values[0], balance_id, *values[1:]],
            )[0]
        elif plan.reservation_change is not None:
            run(*rows.reservation_update(reservation.pk))
        bound_id = (
            reservation_id
            if reservation_id is not None
            else (reservation.pk if reservation is not None else None)
        )
        ledger_ids = [
            run(
                f"INSERT INTO {_LEDGER} ({_LEDGER_COLUMNS}) VALUES "
                f"({', '.join(['%s'] * 15)}) RETURNING id",
                [posting_id, *values[:8], bound_id, *values[8:]],
            )[0]
            for values in (
                rows.ledger_values(line, n) for n, line in enumerate(plan.lines, start=1)
            )
        ]
        ids = {"ledgerEntryIds": ledger_ids}
        if plan.reservation_bound:
            ids["reservationId"] = bound_id
        event = rows.event(claim.posting_key, bound_id, ids)
        run(
            f"INSERT INTO {OUTBOX_TABLE} ({', '.join(event)}) "
            f"VALUES ({', '.join(['%s'] * len(event))})",
            list(event.values()),
        )
    return _Written(posting_id, ledger_ids, reservation_id, balance_id)


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


# Every posting of the batch is a row of this record set (one JSON parameter), so the
# statement is the same whatever the batch size and is prepared once per connection.
_BATCH_RECORD = (
    "n integer, posting_key varchar, fingerprint varchar, source_ref varchar, "
    "balance_id bigint, line_no integer, entry_type varchar, warehouse_id bigint, "
    "item_id bigint, location_id bigint, status_id bigint, on_hand_delta numeric, "
    "reserved_delta numeric, reason_code varchar, actor_id integer, actor_label varchar, "
    "correlation_id varchar, r_warehouse_id bigint, r_item_id bigint, r_location_id bigint, "
    "r_status_id bigint, state varchar, qty numeric, demand_ref varchar, "
    "expires_at timestamptz, event_id uuid, event_type varchar, aggregate_type varchar, "
    "data jsonb"
)
_BATCH_SQL = (
    f"WITH v AS MATERIALIZED (SELECT * FROM jsonb_to_recordset(CAST(%s AS jsonb)) "
    f"AS v({_BATCH_RECORD})), "
    f"claim AS (INSERT INTO {_POSTING} (posting_key, kind, fingerprint, source_ref) "
    "SELECT posting_key, %s, fingerprint, source_ref FROM v ORDER BY n "
    "ON CONFLICT (posting_key) DO NOTHING RETURNING id, posting_key), "
    "claimed AS (SELECT (SELECT count(*) FROM claim) = (SELECT count(*) FROM v) AS ok), "
    # The balances: one UPDATE per row however many postings share it (a row may
    # change only once per statement), still guarded although the caller checked.
    f"bal AS (UPDATE {_BALANCE} b SET reserved = b.reserved + d.qty, "
    "updated_at = CURRENT_TIMESTAMP FROM (SELECT balance_id, sum(reserved_delta) AS qty "
    "FROM v GROUP BY balance_id) d WHERE b.id = d.balance_id "
    "AND b.on_hand - b.reserved >= d.qty AND (SELECT ok FROM claimed) RETURNING b.id), "
    "gate AS (SELECT (SELECT ok FROM claimed) AND (SELECT count(*) FROM bal) = "
    "(SELECT count(DISTINCT balance_id) FROM v) AS ok), "
    "ids AS MATERIALIZED (SELECT v.n, claim.id AS posting_id, "
    f"nextval(pg_get_serial_sequence('{_RESERVATION}', 'id')) AS reservation_id "
    "FROM v JOIN claim USING (posting_key) WHERE (SELECT ok FROM gate)), "
    f"res AS (INSERT INTO {_RESERVATION} (id, {_RESERVATION_COLUMNS}) "
    "SELECT ids.reservation_id, v.r_warehouse_id, v.balance_id, v.r_item_id, "
    "v.r_location_id, v.r_status_id, v.state, v.qty, 0, 0, v.demand_ref, v.expires_at "
    "FROM v JOIN ids USING (n) RETURNING id), "
    f"led AS (INSERT INTO {_LEDGER} ({_LEDGER_COLUMNS}) "
    "SELECT ids.posting_id, v.line_no, v.entry_type, v.warehouse_id, v.item_id, "
    "v.location_id, v.status_id, v.on_hand_delta, v.reserved_delta, ids.reservation_id, "
    "v.source_ref, v.reason_code, v.actor_id, v.actor_label, v.correlation_id "
    "FROM v JOIN ids USING (n) RETURNING id, posting_id), "
    f"evt AS (INSERT INTO {OUTBOX_TABLE} (event_id, event_type, version, aggregate_type, "
    "aggregate_id, correlation_id, data, status, attempts, sink, last_error) "
    "SELECT v.event_id, v.event_type, 1, v.aggregate_type, CAST(ids.reservation_id AS varchar), "
    "v.correlation_id, v.data || jsonb_build_object('ledgerEntryIds', jsonb_build_array(led.id), "
    "'reservationId', ids.reservation_id), %s, 0, '', '' "
    "FROM v JOIN ids USING (n) JOIN led ON led.posting_id = ids.posting_id RETURNING id) "
    "SELECT (SELECT ok FROM claimed), (SELECT ok FROM gate), "
    "(SELECT array_agg(id) FROM claim), "
    "(SELECT array_agg(ARRAY[ids.n, ids.posting_id, ids.reservation_id, led.id] ORDER BY ids.n) "
    "FROM ids JOIN led ON led.posting_id = ids.posting_id), (SELECT count(*) FROM res), "
    "(SELECT count(*) FROM evt)"
)


def post_reservations(batch: list[BatchReservation], *, actor=None) -> list[PostingResult] | None:
    """Post several new reservations in one statement (PostgreSQL; the caller falls back
    to one ``reservation_create`` each elsewhere).

    The same rows as that many ``reservation_create`` calls (claim, balance,
    reservation, ledger entry, event); the caller holds every balance locked
    and has checked it covers its postings. Returns ``None`` and writes
    nothing when a key was posted before (the caller posts them one by one,
    which replays or refuses each as usual).
    """
    from django.core.serializers.json import DjangoJSONEncoder

    from ..models import PostingKind

    actor_id, actor_label = _actor_fields(actor)
    correlation_id = get_correlation_id()
    records, claims, all_rows = [], [], []
    for n, posting in enumerate(batch):
        plan = posting.plan
        [line] = plan.lines
        claim = _Claim(
            posting_key=posting_key_checked(posting.posting_key),
            kind=PostingKind.RESERVE,
            fingerprint=_fingerprint(PostingKind.RESERVE, posting.content),
            source_ref=posting.source_ref,
        )
        rows = _Rows(plan, posting.source_ref, actor_id, actor_label, correlation_id)
        ledger = rows.ledger_values(line, 1)
        reservation = rows.reservation_values()
        event = rows.event_fields(claim.posting_key, None)
        records.append(
            {
                "n": n,
                "posting_key": claim.posting_key,
                "fingerprint": claim.fingerprint,
                "source_ref": claim.source_ref,
                "balance_id": posting.balance_id,
                **dict(zip(_LEDGER_VALUE_COLUMNS.split(", "), ledger, strict=True)),
                **dict(
                    zip(
                        ("r_warehouse_id", "r_item_id", "r_location_id", "r_status_id"),
                        reservation[:4],
                        strict=True,
                    )
                ),
                "state": reservation[4],
                "qty": reservation[5],
                "demand_ref": reservation[6],
                "expires_at": reservation[7],
                "event_id": str(uuid.uuid4()),
                "event_type": event["event_type"],
                "aggregate_type": event["aggregate_type"],
                "data": event["data"],
            }
        )
        claims.append(claim)
        all_rows.append(rows)
    row = _pg_fetchone(
        _BATCH_SQL,
        [json.dumps(records, cls=DjangoJSONEncoder), PostingKind.RESERVE, "PENDING"],
    )
    claimed, balanced, claim_ids, written, reservations, events = row
    if not claimed:
        for posting_id in claim_ids or []:
            _claim_withdraw(posting_id)  # the ones this batch claimed before it stopped
        return None
    if not balanced or reservations != len(batch) or events != len(batch):
        # The caller checked the locked balances: reaching this is a bug. Raising
        # dooms the caller's transaction, so nothing of the batch stays.
        raise AssertionError("a batch of reservations found a balance short under its lock")
    results = [None] * len(batch)
    for n, posting_id, reservation_id, ledger_id in written:
        results[n] = _result(
            claims[n],
            all_rows[n],
            _Written(posting_id, [ledger_id], reservation_id, batch[n].balance_id),
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
) -> PostingResult:
    """Claim ``posting_key`` and write what ``plan`` says, once; see the module docstring.

    ``content`` is what makes two calls with one key the same posting (its
    fingerprint). ``plan`` is a ``Plan``, or a function that builds one after
    the claim (taking the locks and checking the rules it needs).
    """
    claim = _Claim(
        posting_key=posting_key_checked(posting_key),
        kind=kind,
        fingerprint=_fingerprint(kind, content),
        source_ref=source_ref,
    )
    guarded = None
    posting_id = None
    if not callable(plan) and plan.balances is None:
        net, first_line = _net(plan.lines)
        if len(net) == 1:
            [(key, (d_on_hand, d_reserved))] = net.items()
            guarded = _Guarded(first_line[key], d_on_hand, d_reserved)
    updates = []
    if guarded is None:
        # Lock order: the posting key, then the balances (the plan may lock them).
        posting_id = _claim_insert(claim)
        if posting_id is None:
            return _replay(claim)
        created = []
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
            (
                f"UPDATE {_BALANCE} SET on_hand = on_hand + CAST(%s AS NUMERIC), "
                "reserved = reserved + CAST(%s AS NUMERIC), updated_at = CURRENT_TIMESTAMP "
                "WHERE id = %s",
                [d_on_hand, d_reserved, balances[key].pk],
            )
            for key, (d_on_hand, d_reserved) in net.items()
            if d_on_hand or d_reserved
        ]
    actor_id, actor_label = _actor_fields(actor)
    rows = _Rows(plan, source_ref, actor_id, actor_label, get_correlation_id())
    write = _write_postgresql if connection.vendor == "postgresql" else _write_sequential
    written = write(rows=rows, claim=claim, posting_id=posting_id, guarded=guarded, updates=updates)
    if written is None:
        return _replay(claim)
    if guarded is not None and written.balance_id is None:
        # Refused by the guard: nothing but the claim row was written.
        _claim_withdraw(written.posting_id)
        raise _refused(guarded.line, guarded.d_on_hand, guarded.d_reserved)
    return _result(claim, rows, written)


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
        cursor.execute(f"DELETE FROM {_POSTING} WHERE id = %s", [posting_id])
        for balance_id in created_balance_ids:
            cursor.execute(f"DELETE FROM {_BALANCE} WHERE id = %s", [balance_id])


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

    return PostingResult(replayed=False, reservation=reservation, build=build)
