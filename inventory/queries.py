"""Hand-written SQL of the inventory context: every statement, named, with what it
replaces and the figure that earns it its place.

Why there is SQL here at all: the posting engine is the hottest write path of
the product (every reservation, pick and receipt) and the ORM spent three to
four times the CPU of the statements themselves. Through these statements a
posting is one prepared data-modifying ``WITH`` between BEGIN and COMMIT
(commit aae0b7b, 2,000 ``reservation_create`` in one process: Python CPU 5.0
-> 1.6 ms, PostgreSQL CPU 2.1 -> 1.5 ms per posting, round trips 7 -> 3;
``bench/inventory_postings.py``: 315 postings/s against 307/s for the same
rows in plain psycopg, was 35-47 % of it).

Only inventory's own tables are named here. Other apps read them through
``inventory.selectors`` and write them through ``inventory.services``; the
locks are taken by ``inventory.locks`` (which runs the lock statements below,
in its lock order). Helpers that know no table are in ``wms.sql``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from wms import sql
from wms.history import history_snapshot_sql
from wms.outbox import outbox_rows_insert

from .models import (
    OPEN_RESERVATION_STATES,
    AuditEvent,
    InventoryAdjustment,
    InventoryBalance,
    InventoryLedgerEntry,
    InventoryPosting,
    InventoryReservation,
    Item,
    Location,
    Warehouse,
)

POSTING = InventoryPosting._meta.db_table
LEDGER = InventoryLedgerEntry._meta.db_table
RESERVATION = InventoryReservation._meta.db_table
BALANCE = InventoryBalance._meta.db_table
ZERO = Decimal("0")


# --- the posting key ------------------------------------------------------------------

#: Claim a posting key: the new posting's id, no row when the key was posted before.
#: Parameters: posting key, kind, fingerprint, source ref. Replaces ``get_or_create``
#: inside a savepoint: ``ON CONFLICT DO NOTHING`` waits for a concurrent holder of
#: the key without an error, so no savepoint (commit 86e069b: two round trips less
#: on every planned line and every pick).
POSTING_CLAIM = (
    f"INSERT INTO {POSTING} (posting_key, kind, fingerprint, source_ref) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (posting_key) DO NOTHING RETURNING id"
)

#: Take back a refused posting's claim row (parameter: its id), and with
#: ``BALANCE_WITHDRAW`` the zero balance rows it created to lock them: what a
#: savepoint rollback did, without its two round trips per posting (commit 86e069b).
POSTING_WITHDRAW = f"DELETE FROM {POSTING} WHERE id = %s"
BALANCE_WITHDRAW = f"DELETE FROM {BALANCE} WHERE id = %s"


# --- locks (run by inventory.locks, in its lock order) --------------------------------

#: Create one missing zero balance row so it can be locked; its id, no row when it
#: existed. Parameters: warehouse, item, location, status. Replaces a SELECT then
#: ``create``: the unique index finds an existing row before anything is written,
#: one round trip less per pick (commit c188e5e).
BALANCE_ENSURE = (
    f"INSERT INTO {BALANCE} (warehouse_id, item_id, location_id, status_id, on_hand, "
    "reserved, updated_at) VALUES (%s, %s, %s, %s, 0, 0, CURRENT_TIMESTAMP) "
    "ON CONFLICT (item_id, location_id, status_id) DO NOTHING RETURNING id"
)


#: ``BALANCE_ENSURE`` for several keys in one statement (a batch of picks brings
#: stock into many staging balances): parameters warehouse ids, item ids, location
#: ids, status ids (arrays, one element per key, in natural-key order so two
#: batches creating the same rows wait for each other in one order).
BALANCE_ENSURE_MANY = (
    f"INSERT INTO {BALANCE} (warehouse_id, item_id, location_id, status_id, on_hand, "
    "reserved, updated_at) SELECT k.w, k.i, k.l, k.s, 0, 0, CURRENT_TIMESTAMP "
    "FROM unnest(CAST(%s AS bigint[]), CAST(%s AS bigint[]), CAST(%s AS bigint[]), "
    "CAST(%s AS bigint[])) WITH ORDINALITY AS k(w, i, l, s, n) ORDER BY k.n "
    "ON CONFLICT (item_id, location_id, status_id) DO NOTHING RETURNING id"
)


def balances_lock(count: int) -> tuple[sql.Select, str]:
    """Lock ``count`` balances by natural key in primary-key order: every column
    (the ``Select`` turns a row into an instance), parameters item, location,
    status per key.

    Replaces ``select_for_update().filter(Q(...) | ...).order_by("pk")``: every pick
    locks two balances, and the ORM's compile cost more than the query (commit
    c188e5e; instances without a RawQuerySet since edb0a59).
    """
    balance = sql.select(InventoryBalance, "b")
    match = " OR ".join(["(item_id = %s AND location_id = %s AND status_id = %s)"] * count)
    return balance, (
        f"SELECT {balance.sql} FROM {BALANCE} b WHERE {match} ORDER BY b.id{sql.row_lock()}"
    )


def balance_update_guarded(
    *, key: tuple[int, int, int], d_on_hand: Decimal, d_reserved: Decimal
) -> tuple[str, list]:
    """A ``posting_write`` part: add the deltas to one balance if it stays available
    ≥ 0, once the posting's ``claim`` inserted its row; returning its id (no row:
    missing or refused). The UPDATE takes the row lock itself, which saves the
    ``SELECT … FOR UPDATE`` round trip of the single-balance postings (reserve,
    issue, adjust; commit aae0b7b)."""
    needed = max(ZERO, d_reserved - d_on_hand)  # how much available the change consumes
    return (
        f"UPDATE {BALANCE} SET on_hand = on_hand + %s::numeric, "
        "reserved = reserved + %s::numeric, updated_at = CURRENT_TIMESTAMP "
        "WHERE item_id = %s AND location_id = %s AND status_id = %s "
        "AND on_hand - reserved >= %s::numeric "
        "AND EXISTS (SELECT 1 FROM claim) RETURNING id",
        [d_on_hand, d_reserved, *key, needed],
    )


def balance_arrive(
    *, key: tuple[int, int, int], warehouse_id: int, d_on_hand: Decimal
) -> tuple[str, list]:
    """A ``posting_write`` part: stock arriving in one balance, created if missing,
    once the posting's ``claim`` inserted its row; returning its id. An upsert, so a
    first receipt needs no ensure-then-lock round trips (commit aae0b7b)."""
    item_id, location_id, status_id = key
    return (
        f"INSERT INTO {BALANCE} (warehouse_id, item_id, location_id, status_id, "
        "on_hand, reserved, updated_at) "
        "SELECT %s, %s, %s, %s, %s, 0, CURRENT_TIMESTAMP FROM claim "
        "ON CONFLICT (item_id, location_id, status_id) DO UPDATE SET "
        f"on_hand = {BALANCE}.on_hand + EXCLUDED.on_hand, "
        "updated_at = EXCLUDED.updated_at RETURNING id",
        [warehouse_id, item_id, location_id, status_id, d_on_hand],
    )


#: Lock one reservation row (parameter: its id) with ``expired_by_clock`` on the
#: database clock; for ``InventoryReservation.objects.raw``. Replaces a
#: ``select_for_update`` queryset with an annotation, compiled on every pick
#: (commit c188e5e).
RESERVATION_LOCK = (
    "SELECT id, warehouse_id, balance_id, item_id, location_id, status_id, state, "
    "qty, qty_consumed, qty_released, demand_ref, expires_at, created_at, "
    "resolved_at, (expires_at IS NOT NULL AND expires_at <= CURRENT_TIMESTAMP) "
    f"AS expired_by_clock FROM {RESERVATION} WHERE id = %s{sql.row_lock()}"
)


#: ``RESERVATION_LOCK`` for several reservations (parameter: an array of ids), in
#: primary-key order: a batch of picks locks its reservations in one round trip.
RESERVATIONS_LOCK = (
    "SELECT id, warehouse_id, balance_id, item_id, location_id, status_id, state, "
    "qty, qty_consumed, qty_released, demand_ref, expires_at, created_at, "
    "resolved_at, (expires_at IS NOT NULL AND expires_at <= CURRENT_TIMESTAMP) "
    f"AS expired_by_clock FROM {RESERVATION} WHERE id = ANY(%s) ORDER BY id{sql.row_lock()}"
)


# --- what a posting writes ------------------------------------------------------------

#: Add deltas to a balance the posting holds locked and has checked. Parameters:
#: on-hand delta, reserved delta, balance id.
BALANCE_ADD = (
    f"UPDATE {BALANCE} SET on_hand = on_hand + CAST(%s AS NUMERIC), "
    "reserved = reserved + CAST(%s AS NUMERIC), updated_at = CURRENT_TIMESTAMP "
    "WHERE id = %s"
)

LEDGER_COLUMNS = (
    "posting_id, line_no, entry_type, warehouse_id, item_id, location_id, status_id, "
    "on_hand_delta, reserved_delta, reservation_id, source_ref, reason_code, actor_id, "
    "actor_label, correlation_id"
)
RESERVATION_COLUMNS = (
    "warehouse_id, balance_id, item_id, location_id, status_id, state, qty, "
    "qty_consumed, qty_released, demand_ref, expires_at"
)
#: The per-line ledger values the engine gives (``_Rows.ledger_values``), with their
#: types (PostgreSQL would read untyped VALUES parameters as text).
LEDGER_VALUE_COLUMNS = (
    "line_no, entry_type, warehouse_id, item_id, location_id, status_id, on_hand_delta, "
    "reserved_delta, source_ref, reason_code, actor_id, actor_label, correlation_id"
)
_LEDGER_VALUE_TYPES = (
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
)
# ``%s::type``, not ``CAST(%s AS type)``: the posting statement, with a companion's parts,
# stays short enough for psycopg to cache its conversion (``adjustment_applied_parts``).
_LEDGER_VALUE_ROW = "(" + ", ".join(f"%s::{cast}" for cast in _LEDGER_VALUE_TYPES) + ")"


def reservation_change(
    *, reservation_id: int, consumed: Decimal, released: Decimal, closes_as: str | None
) -> tuple[str, list]:
    """Add to what a locked reservation consumed and released, closing it as
    ``closes_as`` if given; returning its id."""
    closing = ", state = %s, resolved_at = CURRENT_TIMESTAMP" if closes_as else ""
    return (
        f"UPDATE {RESERVATION} SET qty_consumed = qty_consumed + CAST(%s AS NUMERIC), "
        f"qty_released = qty_released + CAST(%s AS NUMERIC){closing} WHERE id = %s "
        "RETURNING id",
        [consumed, released, *([closes_as] if closes_as else []), reservation_id],
    )


def posting_write(
    *,
    claim: list | None,
    posting_id: int | None,
    balance: tuple[str, list] | None,
    balance_updates: list[tuple[str, list]],
    new_reservation: list | None,
    reservation_update: tuple[str, list] | None,
    reservation_id: int | None,
    ledger_rows: list[list],
    event: dict,
    companion=None,
) -> tuple[str, list]:
    """Everything one posting writes, as one data-modifying ``WITH`` statement, each
    part gated on the one before it: the claim (``claim``: ``POSTING_CLAIM``'s
    parameters; ``None`` when ``posting_id`` was claimed before), the balances
    (``balance``: one gated ``balance_arrive`` / ``balance_update_guarded``, or
    ``balance_updates``: ``BALANCE_ADD`` of the rows the engine locked), the new
    reservation (its ``RESERVATION_COLUMNS`` values but balance id) or the change of
    ``reservation_id``, the ledger rows (``LEDGER_VALUE_COLUMNS`` each) and the
    event (an ``outbox_row``); then a caller's ``companion`` (an
    ``engine.PostingCompanion``: its parts after ``posted``, the gate of them all).

    One row back, none for a replayed key: posting id, balance id (``balance``
    only; NULL when its guard refused, and nothing after it was written), new
    reservation id, ledger entry ids by line, then the companion's columns. Replaces
    the ORM's seven round trips per posting with one prepared statement (figures in
    the module docstring).
    """
    query = _With()
    if claim is not None:
        query.part("claim", POSTING_CLAIM, claim, gates=True)
    else:
        query.part("claim", "SELECT CAST(%s AS bigint) AS id", [posting_id], gates=True)
    _balances_part(query, balance, balance_updates)
    reservation = _reservation_part(query, new_reservation, reservation_update, reservation_id)
    _ledger_part(query, ledger_rows, reservation)
    # The event carries ids only known here: added to its payload in SQL.
    new = new_reservation is not None
    query.part(
        "evt",
        *outbox_rows_insert(
            [event],
            join="".join(f" CROSS JOIN {gate}" for gate in query.gates),
            data_merge="jsonb_build_object('ledgerEntryIds', "
            "(SELECT jsonb_agg(id ORDER BY line_no) FROM led)"
            + (", 'reservationId', res.id)" if new else ")"),
            aggregate_id="CAST(res.id AS varchar)" if new else "",
        ),
    )
    columns = ""
    if companion is not None:
        # ``posted``: a row only when every gate let the posting's rows be written.
        query.part("posted", f"SELECT claim.id FROM {' CROSS JOIN '.join(query.gates)}", [])
        for name, statement, params in companion.parts:
            query.part(name, statement, params)
        columns = "".join(f", {column}" for column in companion.columns)
    return (
        f"WITH {', '.join(query.parts)} SELECT claim.id, (SELECT id FROM bal), "
        f"{'(SELECT id FROM res)' if new else 'NULL'}, "
        f"(SELECT array_agg(id ORDER BY line_no) FROM led){columns} FROM claim",
        query.params,
    )


@dataclass
class _With:
    """A data-modifying ``WITH`` statement being built: its parts, their parameters in
    order, and the parts that gate the rows written after them (a part without a
    row lets nothing after it be written)."""

    parts: list[str] = field(default_factory=list)
    params: list = field(default_factory=list)
    gates: list[str] = field(default_factory=list)

    def part(self, name: str, statement: str, params: list, *, gates: bool = False) -> None:
        self.parts.append(f"{name} AS ({statement})")
        self.params.extend(params)
        if gates:
            self.gates.append(name)


def _balances_part(
    query: _With, balance: tuple[str, list] | None, updates: list[tuple[str, list]]
) -> None:
    """``bal``: the guarded single balance (a gate), or the updates of locked balances."""
    if balance is not None:
        query.part("bal", *balance, gates=True)
        return
    for number, (statement, values) in enumerate(updates):
        query.part(f"upd{number}", f"{statement} RETURNING id", values)
    query.part("bal", "SELECT CAST(NULL AS bigint) AS id", [])


def _reservation_part(
    query: _With,
    new_reservation: list | None,
    update: tuple[str, list] | None,
    reservation_id: int | None,
) -> tuple[str, list]:
    """``res`` (a new reservation, a gate) or ``resupd`` (a change); the SQL and the
    parameters of the reservation id the ledger rows carry."""
    if new_reservation is not None:
        query.part(
            "res",
            f"INSERT INTO {RESERVATION} ({RESERVATION_COLUMNS}) "
            "SELECT %s, bal.id, %s, %s, %s, %s, %s, 0, 0, %s, %s FROM bal RETURNING id",
            new_reservation,
            gates=True,
        )
        return "res.id", []
    if update is not None:
        query.part("resupd", *update)
    return "CAST(%s AS bigint)", [reservation_id]


def _ledger_part(query: _With, rows: list[list], reservation: tuple[str, list]) -> None:
    """``led``: the ledger rows, one per line, after every gate. The VALUES columns go by
    position (``v.*``, in ``LEDGER_VALUE_COLUMNS`` order), which keeps the statement short
    (see ``_LEDGER_VALUE_ROW``)."""
    reservation_sql, reservation_params = reservation
    query.part(
        "led",
        f"INSERT INTO {LEDGER} (posting_id, {LEDGER_VALUE_COLUMNS}, reservation_id) "
        f"SELECT claim.id, v.*, {reservation_sql} "
        f"FROM {' CROSS JOIN '.join(query.gates)} "
        f"CROSS JOIN (VALUES {', '.join([_LEDGER_VALUE_ROW] * len(rows))}) AS v "
        "RETURNING id, line_no",
        [*reservation_params, *[value for row in rows for value in row]],
    )


# --- a batch of new reservations --------------------------------------------------------

# Every posting of the batch is a row of this record set (one JSON parameter), and
# its event one of the outbox insert's (another): the statement is the same
# whatever the batch size and is prepared once per connection.
_BATCH_RECORD = (
    "n integer, posting_key varchar, fingerprint varchar, source_ref varchar, "
    "balance_id bigint, line_no integer, entry_type varchar, warehouse_id bigint, "
    "item_id bigint, location_id bigint, status_id bigint, on_hand_delta numeric, "
    "reserved_delta numeric, reason_code varchar, actor_id integer, actor_label varchar, "
    "correlation_id varchar, r_warehouse_id bigint, r_item_id bigint, r_location_id bigint, "
    "r_status_id bigint, state varchar, qty numeric, demand_ref varchar, "
    "expires_at timestamptz"
)


def reservations_batch(records: str, kind: str, events: list[dict]) -> tuple[str, list]:
    """Several new reservations in one statement: the same rows as that many
    ``posting_write`` of a reservation (claim, guarded balance, reservation, ledger
    entry, event), on balances the caller holds locked. ``records``: the postings
    as a JSON array of ``_BATCH_RECORD`` objects, ``n`` numbering them from 1;
    ``events``: their ``outbox_row``, in the same order.

    One row back: every key claimed?, every balance covered?, the ids claimed,
    ``[n, posting id, reservation id, ledger id]`` per posting, the reservations
    and events written. Replaces one posting statement per planned line (commit
    dbcbbe7, 445 orders x 10 lines in one process: 716 -> 832 lines/s; Python CPU
    per order 7.9 -> 6.5 ms, PostgreSQL 5.8 -> 5.2 ms).
    """
    events_sql, events_params = outbox_rows_insert(
        events,
        join="JOIN ids ON ids.n = e.n JOIN led ON led.posting_id = ids.posting_id",
        data_merge="jsonb_build_object('ledgerEntryIds', jsonb_build_array(led.id), "
        "'reservationId', ids.reservation_id)",
        aggregate_id="CAST(ids.reservation_id AS varchar)",
    )
    return (
        _reservations_batch_sql(events_sql),
        [records, kind, *events_params],
    )


@functools.cache
def _reservations_batch_sql(events_sql: str) -> str:
    return (
        f"WITH v AS MATERIALIZED (SELECT * FROM jsonb_to_recordset(CAST(%s AS jsonb)) "
        f"AS v({_BATCH_RECORD})), "
        f"claim AS (INSERT INTO {POSTING} (posting_key, kind, fingerprint, source_ref) "
        "SELECT posting_key, %s, fingerprint, source_ref FROM v ORDER BY n "
        "ON CONFLICT (posting_key) DO NOTHING RETURNING id, posting_key), "
        "claimed AS (SELECT (SELECT count(*) FROM claim) = (SELECT count(*) FROM v) AS ok), "
        # The balances: one UPDATE per row however many postings share it (a row may
        # change only once per statement), still guarded although the caller checked.
        f"bal AS (UPDATE {BALANCE} b SET reserved = b.reserved + d.qty, "
        "updated_at = CURRENT_TIMESTAMP FROM (SELECT balance_id, sum(reserved_delta) AS qty "
        "FROM v GROUP BY balance_id) d WHERE b.id = d.balance_id "
        "AND b.on_hand - b.reserved >= d.qty AND (SELECT ok FROM claimed) RETURNING b.id), "
        "gate AS (SELECT (SELECT ok FROM claimed) AND (SELECT count(*) FROM bal) = "
        "(SELECT count(DISTINCT balance_id) FROM v) AS ok), "
        "ids AS MATERIALIZED (SELECT v.n, claim.id AS posting_id, "
        f"nextval(pg_get_serial_sequence('{RESERVATION}', 'id')) AS reservation_id "
        "FROM v JOIN claim USING (posting_key) WHERE (SELECT ok FROM gate)), "
        f"res AS (INSERT INTO {RESERVATION} (id, {RESERVATION_COLUMNS}) "
        "SELECT ids.reservation_id, v.r_warehouse_id, v.balance_id, v.r_item_id, "
        "v.r_location_id, v.r_status_id, v.state, v.qty, 0, 0, v.demand_ref, v.expires_at "
        "FROM v JOIN ids USING (n) RETURNING id), "
        f"led AS (INSERT INTO {LEDGER} ({LEDGER_COLUMNS}) "
        "SELECT ids.posting_id, v.line_no, v.entry_type, v.warehouse_id, v.item_id, "
        "v.location_id, v.status_id, v.on_hand_delta, v.reserved_delta, ids.reservation_id, "
        "v.source_ref, v.reason_code, v.actor_id, v.actor_label, v.correlation_id "
        "FROM v JOIN ids USING (n) RETURNING id, posting_id), "
        f"evt AS ({events_sql} RETURNING id) "
        "SELECT (SELECT ok FROM claimed), (SELECT ok FROM gate), "
        "(SELECT array_agg(id) FROM claim), "
        "(SELECT array_agg(ARRAY[ids.n, ids.posting_id, ids.reservation_id, led.id] "
        "ORDER BY ids.n) FROM ids JOIN led ON led.posting_id = ids.posting_id), "
        "(SELECT count(*) FROM res), (SELECT count(*) FROM evt)"
    )


#: posting key, kind and reservation id (of the first ledger line) of the keys among
#: ``%s`` (an array) already posted. One indexed query beside the balance locks of
#: ``reservations_take`` instead of a look-up per key (commit 07e9e41).
POSTED_KEYS = (
    f"SELECT p.posting_key, p.kind, e.reservation_id FROM {POSTING} p "
    f"LEFT JOIN {LEDGER} e ON e.posting_id = p.id AND e.line_no = 1 "
    "WHERE p.posting_key = ANY(%s)"
)


# --- reads for the planner (inventory.selectors) ----------------------------------------

#: (id, item, location, status, available, on hand) of a warehouse's balances with
#: available stock of the items ``%s`` (an array); parameters warehouse id, item ids.
#: Replaces a queryset with joins to locations and statuses, which the planner
#: compiled once per order and which PostgreSQL could plan off the item index
#: (commits cef8ab4, edb0a59: candidates 0.9 -> 0.4 ms CPU per planned order).
BALANCES_AVAILABLE = (
    "SELECT b.id, b.item_id, b.location_id, b.status_id, b.available, b.on_hand "
    f"FROM {BALANCE} b WHERE b.warehouse_id = %s AND b.item_id = ANY(%s) AND b.available > 0"
)


@functools.cache
def items_with_warehouse() -> tuple[sql.Select, sql.Select, str]:
    """Items by id (``%s``: an array) with their warehouse, as two ``Select`` s and the
    statement. Replaces ``Item.objects.select_related("warehouse").in_bulk``: a
    planning job loads thousands of items (commit edb0a59: 0.9 -> 0.3 ms CPU per
    planned order)."""
    item, warehouse = sql.select(Item, "i"), sql.select(Warehouse, "w")
    return (
        item,
        warehouse,
        f"SELECT {item.sql}, {warehouse.sql} FROM {Item._meta.db_table} i "
        f"JOIN {Warehouse._meta.db_table} w ON w.id = i.warehouse_id WHERE i.id = ANY(%s)",
    )


#: balance id → when the oldest unit still in it arrived (``%s``: an array of balance
#: ids). The inflows of a balance are layered newest first; under first-in-first-out
#: consumption the units on hand are the newest layers that add up to on hand, so
#: the oldest of those dates the stock. A window over the ledger in a correlated
#: subquery, which the ORM cannot say; one statement for all the balances of an
#: order's candidates instead of one per balance (no benchmark recorded).
STOCK_FIFO_DATES = f"""
    SELECT b.id, (
        SELECT min(layer.occurred_at) FROM (
            SELECT e.occurred_at,
                   SUM(e.on_hand_delta) OVER (ORDER BY e.id DESC) AS newer_and_this,
                   e.on_hand_delta
            FROM {LEDGER} e
            WHERE e.item_id = b.item_id AND e.location_id = b.location_id
              AND e.status_id = b.status_id AND e.on_hand_delta > 0
        ) layer
        WHERE layer.newer_and_this - layer.on_hand_delta < b.on_hand
    )
    FROM {BALANCE} b WHERE b.id = ANY(%s)
"""


# --- verification (inventory.selectors.inventory_verify) --------------------------------
#
# Whole-table checks that the ORM cannot say (a FULL OUTER JOIN of balances and
# ledger sums) or says only as one query per row: each is one pass over the
# tables, in one snapshot. No benchmark: verify_inventory is a maintenance
# command, not a hot path. ``_EPSILON`` tolerates nothing but rounding noise
# below the third decimal.

_EPSILON = "0.0005"

#: One snapshot for every check while postings run (when verify owns the transaction).
VERIFY_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
_OPEN_STATES = ", ".join(f"'{state}'" for state in OPEN_RESERVATION_STATES)

#: Rows per stock table.
VERIFY_COUNTS = (
    f"SELECT (SELECT COUNT(*) FROM {BALANCE}), (SELECT COUNT(*) FROM {LEDGER}), "
    f"(SELECT COUNT(*) FROM {RESERVATION}), (SELECT COUNT(*) FROM {POSTING})"
)

#: Balances that differ from the sum of their ledger entries, and ledger sums
#: without a balance: item, location, status, on hand, reserved, ledger on hand,
#: ledger reserved.
VERIFY_BALANCES_AGAINST_LEDGER = f"""
    WITH sums AS (
        SELECT item_id, location_id, status_id,
               SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved
        FROM {LEDGER} GROUP BY item_id, location_id, status_id
    )
    SELECT COALESCE(b.item_id, s.item_id), COALESCE(b.location_id, s.location_id),
           COALESCE(b.status_id, s.status_id), b.on_hand, b.reserved, s.on_hand, s.reserved
    FROM {BALANCE} b
    FULL OUTER JOIN sums s ON s.item_id = b.item_id AND s.location_id = b.location_id
                          AND s.status_id = b.status_id
    WHERE ABS(COALESCE(b.on_hand, 0) - COALESCE(s.on_hand, 0)) > {_EPSILON}
       OR ABS(COALESCE(b.reserved, 0) - COALESCE(s.reserved, 0)) > {_EPSILON}
    ORDER BY 1, 2, 3
"""

#: Balances breaking an invariant the check constraints should make impossible:
#: id, on hand, reserved, available.
VERIFY_BALANCE_INVARIANTS = f"""
    SELECT id, on_hand, reserved, available FROM {BALANCE}
    WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand
       OR ABS(available - (on_hand - reserved)) > {_EPSILON}
    ORDER BY id
"""

#: Balances in another warehouse than their item or location: id, warehouse, the
#: item's, the location's.
VERIFY_BALANCE_WAREHOUSES = f"""
    SELECT b.id, b.warehouse_id, i.warehouse_id, l.warehouse_id
    FROM {BALANCE} b
    JOIN {Item._meta.db_table} i ON i.id = b.item_id
    JOIN {Location._meta.db_table} l ON l.id = b.location_id
    WHERE b.warehouse_id <> i.warehouse_id OR b.warehouse_id <> l.warehouse_id
    ORDER BY b.id
"""

#: Balances whose reserved is not what their open reservations hold: id,
#: reserved, held.
VERIFY_RESERVED_AGAINST_RESERVATIONS = f"""
    SELECT b.id, b.reserved, COALESCE(h.held, 0)
    FROM {BALANCE} b
    LEFT JOIN (
        SELECT balance_id, SUM(qty - qty_consumed - qty_released) AS held
        FROM {RESERVATION} WHERE state IN ({_OPEN_STATES}) GROUP BY balance_id
    ) h ON h.balance_id = b.id
    WHERE ABS(b.reserved - COALESCE(h.held, 0)) > {_EPSILON}
    ORDER BY b.id
"""

#: Reservations whose state does not match their quantities, whose identity does
#: not match their balance, or whose ledger entries do not add up to what they say
#: was reserved, consumed, released: id, state, qty, consumed, released, and the
#: ledger's reserved, consumed, released, still held, and 1 if on another balance.
VERIFY_RESERVATIONS_AGAINST_LEDGER = f"""
    SELECT r.id, r.state, r.qty, r.qty_consumed, r.qty_released,
           COALESCE(SUM(CASE WHEN e.entry_type = 'RESERVE' THEN e.reserved_delta END), 0),
           COALESCE(SUM(CASE WHEN e.entry_type = 'PICK_OUT' THEN -e.on_hand_delta END), 0),
           COALESCE(SUM(CASE WHEN e.entry_type IN ('RELEASE', 'EXPIRE')
                             THEN -e.reserved_delta END), 0),
           COALESCE(SUM(e.reserved_delta), 0),
           MAX(CASE WHEN b.item_id <> r.item_id OR b.location_id <> r.location_id
                     OR b.status_id <> r.status_id THEN 1 ELSE 0 END)
    FROM {RESERVATION} r
    JOIN {BALANCE} b ON b.id = r.balance_id
    LEFT JOIN {LEDGER} e ON e.reservation_id = r.id
    GROUP BY r.id, r.state, r.qty, r.qty_consumed, r.qty_released
    HAVING ABS(COALESCE(SUM(CASE WHEN e.entry_type = 'RESERVE'
                                 THEN e.reserved_delta END), 0) - r.qty) > {_EPSILON}
        OR ABS(COALESCE(SUM(CASE WHEN e.entry_type = 'PICK_OUT'
                                 THEN -e.on_hand_delta END), 0) - r.qty_consumed) > {_EPSILON}
        OR ABS(COALESCE(SUM(CASE WHEN e.entry_type IN ('RELEASE', 'EXPIRE')
                                 THEN -e.reserved_delta END), 0) - r.qty_released) > {_EPSILON}
        OR ABS(COALESCE(SUM(e.reserved_delta), 0)
               - (r.qty - r.qty_consumed - r.qty_released)) > {_EPSILON}
        OR r.qty_consumed + r.qty_released > r.qty + {_EPSILON}
        OR (r.state IN ({_OPEN_STATES}) AND r.qty_consumed + r.qty_released >= r.qty)
        OR (r.state NOT IN ({_OPEN_STATES})
            AND ABS(r.qty_consumed + r.qty_released - r.qty) > {_EPSILON})
        OR MAX(CASE WHEN b.item_id <> r.item_id OR b.location_id <> r.location_id
                    OR b.status_id <> r.status_id THEN 1 ELSE 0 END) = 1
    ORDER BY r.id
"""

#: Postings without ledger entries (a posting is all or nothing): id, posting key.
VERIFY_POSTINGS_WITHOUT_ENTRIES = f"""
    SELECT p.id, p.posting_key FROM {POSTING} p
    WHERE NOT EXISTS (SELECT 1 FROM {LEDGER} e WHERE e.posting_id = p.id)
    ORDER BY p.id
"""


# --- what a pick confirmation reads (inventory.selectors.stock_for_pick) ----------------


@functools.cache
def stock_for_pick() -> tuple[tuple[sql.Select, ...], str]:
    """The item of a pick (with its base unit and warehouse), the location it is picked
    from and the pick's reservations with their status, oldest first: the
    ``Select`` s (item, unit, warehouse, location, reservation, status) and the
    statement. Parameters: location id, reservation ids (an array), item id. One
    row per reservation; one row with NULL reservation and status columns when
    there is none, no row without the item or the location.

    Replaces the joins of tasking's task lock to these tables and tasking's own
    read of the reservations (commit 30bb6ff, both built once per process with the
    confirmation's writes in one round trip: CPU per confirmation 57.8 -> 42.1 ms,
    39 -> 34 statements); one statement here keeps a confirmation at the same
    number of round trips now that tasking reads only its own tables.
    """
    uom_model = Item._meta.get_field("base_uom").related_model
    status_model = InventoryReservation._meta.get_field("status").related_model
    parts = (
        sql.select(Item, "i"),
        sql.select(uom_model, "u"),
        sql.select(Warehouse, "w"),
        sql.select(Location, "l"),
        sql.select(InventoryReservation, "r"),
        sql.select(status_model, "s"),
    )
    return parts, (
        f"SELECT {', '.join(part.sql for part in parts)} FROM {Item._meta.db_table} i "
        f"JOIN {uom_model._meta.db_table} u ON u.id = i.base_uom_id "
        f"JOIN {Warehouse._meta.db_table} w ON w.id = i.warehouse_id "
        f"JOIN {Location._meta.db_table} l ON l.id = %s "
        f"LEFT JOIN {RESERVATION} r ON r.id = ANY(%s) "
        f"LEFT JOIN {status_model._meta.db_table} s ON s.id = r.status_id "
        "WHERE i.id = %s ORDER BY r.id"
    )


# --- reports (inventory.reports) ---------------------------------------------------------

#: The later ledger of a stock-on-hand "as of": per balance, the sum of the on-hand
#: changes after the date. Parameters: warehouse ids (array), as_of.
_LEDGER_AFTER = (
    f"WITH later AS (SELECT e.item_id, e.location_id, e.status_id, "
    f"sum(e.on_hand_delta) AS delta FROM {LEDGER} e "
    "WHERE e.warehouse_id = ANY(%(warehouse_ids)s) AND e.occurred_at > %(as_of)s "
    "GROUP BY e.item_id, e.location_id, e.status_id) "
)


def stock_on_hand_report(
    *, as_of: bool, zone: bool, items: bool, status: bool, per_balance: bool = False
) -> str:
    """The stock-on-hand report: key ``k0..k2`` (location, item, status ids: the order of
    ``balance_location_idx``, so a page or the first byte needs no sort of the whole
    result), then warehouse, location, sku, status, onHand, unitCost, value, currency.
    Rows with nothing on hand are left out. ``{after}`` and ``{limit}`` are left for
    ``wms.reporting.SqlSource``.

    Parameters (named): warehouse_ids; with ``as_of`` the date; with ``zone``
    zone_id; with ``items`` item_ids (array); with ``status`` status_id.

    Why SQL: "as of" needs the ledger grouped once per balance, which the ORM only
    writes as a correlated subquery per balance (every ledger entry of every balance
    read through ``ledger_balance_idx``). Here the entries *after* the date are read
    once through ``ledger_wh_time_cover_idx`` and subtracted from the balance: on hand
    at a date is the ledger's sum up to it, and the ledger's sum is the balance
    (``verify_inventory`` checks that invariant), so only the newer part of the
    ledger is read. That index includes the columns read here, so the read is an
    index-only scan (no heap fetch per entry; bench/reports.py database, 821,000
    entries after the date: 0.84 -> 0.29 s per process, where the pages are marked
    all-visible). Each process of a parallel plan groups those entries itself (the
    hash of a CTE is not shared); grouping them once in the leader and merging them
    into the ordered balances there was slower (3.3-3.9 s against 2.9-3.3 s, the
    whole query, loaded machine). ``per_balance`` (a page: 100 rows) sums instead the later
    entries of each balance the page reads, through ``ledger_balance_idx``: a few
    index lookups per row instead of grouping the whole later ledger for every
    page (bench/reports.py, 200,000 balances, as of 30 days back: first page
    3.8 s -> 0.02 to 0.2 s).
    """
    on_hand = "(b.on_hand - COALESCE(x.delta, 0))" if as_of else "b.on_hand"
    conditions = ["b.warehouse_id = ANY(%(warehouse_ids)s)", f"{on_hand} <> 0"]
    if zone:
        conditions.append("l.zone_id = %(zone_id)s")
    if items:
        conditions.append("b.item_id = ANY(%(item_ids)s)")
    if status:
        conditions.append("b.status_id = %(status_id)s")
    later = ""
    if as_of and per_balance:
        later = (
            f"LEFT JOIN LATERAL (SELECT sum(e.on_hand_delta) AS delta FROM {LEDGER} e "
            "WHERE e.item_id = b.item_id AND e.location_id = b.location_id "
            "AND e.status_id = b.status_id AND e.occurred_at > %(as_of)s) x ON true "
        )
    elif as_of:
        later = (
            "LEFT JOIN later x ON x.item_id = b.item_id AND x.location_id = b.location_id "
            "AND x.status_id = b.status_id "
        )
    return (
        (_LEDGER_AFTER if as_of and not per_balance else "")
        + "SELECT b.location_id AS k0, b.item_id AS k1, b.status_id AS k2, "
        'w.code AS "warehouse", l.code AS "location", i.sku AS "sku", s.code AS "status", '
        f'{on_hand} AS "onHand", i.unit_cost AS "unitCost", '
        f'round({on_hand} * i.unit_cost, 4) AS "value", w.currency AS "currency" '
        f"FROM {BALANCE} b {later}"
        f"JOIN {Location._meta.db_table} l ON l.id = b.location_id "
        f"JOIN {Item._meta.db_table} i ON i.id = b.item_id "
        f"JOIN {InventoryBalance._meta.get_field('status').related_model._meta.db_table} s "
        "ON s.id = b.status_id "
        f"JOIN {Warehouse._meta.db_table} w ON w.id = b.warehouse_id "
        f"WHERE {' AND '.join(conditions)} {{after}} "
        "ORDER BY b.location_id, b.item_id, b.status_id {limit}"
    )


#: On hand in allocatable statuses per item of a warehouse, for the items given
#: (low-stock alerts on warehouse-wide minimums). Parameters: warehouse id, item ids
#: (array). An array, not ``item_id__in``: 100,000 minimums are one parameter, not
#: 100,000 (bench/reports.py, alert evaluation).
ON_HAND_PER_ITEM = (
    f"SELECT b.item_id, sum(b.on_hand) FROM {BALANCE} b "
    f"JOIN {InventoryBalance._meta.get_field('status').related_model._meta.db_table} s "
    "ON s.id = b.status_id AND s.allocatable "
    "WHERE b.warehouse_id = %s AND b.item_id = ANY(%s) GROUP BY b.item_id"
)

#: The same per item and location, for the (item, location) pairs given as two
#: arrays of equal length (minimums of pick faces).
ON_HAND_PER_ITEM_LOCATION = (
    f"SELECT b.item_id, b.location_id, sum(b.on_hand) FROM {BALANCE} b "
    f"JOIN {InventoryBalance._meta.get_field('status').related_model._meta.db_table} s "
    "ON s.id = b.status_id AND s.allocatable "
    "JOIN unnest(%s::bigint[], %s::bigint[]) AS p(item_id, location_id) "
    "ON p.item_id = b.item_id AND p.location_id = b.location_id "
    "GROUP BY b.item_id, b.location_id"
)


# --- adjustments (``inventory.services.adjustments``) ------------------------------------

#: Everything ``adjustment_request`` needs to know of a request, in one round trip:
#: the reason code (id, use, requires approval), an earlier adjustment of the request
#: key, and the warehouse's thresholds. Parameters: request key, reason code,
#: warehouse id. Replaces three ORM queries; the path that posts at once queues it
#: before its posting, so both cost one round trip (per applied adjustment 10 -> 4
#: round trips; bench/adjustments.py, adjustments/s over raw ADJUST postings/s on the
#: shared 2-core machine: 0.21 through the ORM, 0.5-0.6 now; noisy).
ADJUSTMENT_REQUEST_LOOKUP = (
    "SELECT r.id, r.use, r.requires_approval, "
    "(SELECT a.id FROM inventory_inventoryadjustment a WHERE a.request_key = %s), "
    "t.max_abs_qty, t.max_abs_value "
    "FROM (SELECT 1) AS one "
    "LEFT JOIN inventory_reasoncode r ON r.code = %s "
    "LEFT JOIN inventory_adjustmentthreshold t ON t.warehouse_id = %s"
)

#: A block of ids for new adjustments (``_AdjustmentIds``). Parameter: how many.
ADJUSTMENT_IDS = (
    "SELECT nextval(pg_get_serial_sequence('inventory_inventoryadjustment', 'id')) "
    "FROM generate_series(1, %s)"
)


def _casts(fields) -> str:
    return ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in fields)


_ADJUSTMENT_FIELDS = tuple(InventoryAdjustment._meta.concrete_fields)
_AUDIT_FIELDS = tuple(f for f in AuditEvent._meta.concrete_fields if not f.primary_key)


@functools.cache
def _adjustment_insert_sql(audit_rows: int) -> str:
    columns = ", ".join(sql.column(InventoryAdjustment, f.name) for f in _ADJUSTMENT_FIELDS)
    audit_columns = ", ".join(sql.column(AuditEvent, f.name) for f in _AUDIT_FIELDS)
    audit_row = f"({_casts(_AUDIT_FIELDS)})"
    history = history_snapshot_sql(InventoryAdjustment, source="a").format(where="TRUE")
    return (
        f"WITH a AS (INSERT INTO {sql.table(InventoryAdjustment)} ({columns}) "
        f"VALUES ({_casts(_ADJUSTMENT_FIELDS)}) RETURNING *), "
        f"h AS ({history}) "
        f"INSERT INTO {sql.table(AuditEvent)} ({audit_columns}) "
        f"VALUES {', '.join([audit_row] * audit_rows)}"
    )


def adjustment_insert(adjustment, history: list, audit_rows: list[dict]) -> tuple[str, list]:
    """A new adjustment, its first history record and its audit records: one statement.

    ``history``: simple-history's four values (date, type, reason, user id);
    ``audit_rows``: the audit records' column values (``inventory.audit.audit_values``).
    Replaces three statements (``wms.sql.insert``, ``wms.history.history_records``,
    the audit INSERT) whose parameters went through every field's
    ``get_db_prep_save``: Python CPU per applied adjustment 3.0 -> 2.2 ms (the raw
    posting: 0.9 ms).
    Values go as they are (psycopg adapts ints, decimals, text and datetimes; the
    casts type the NULLs); the audit snapshots as JSON text.
    """
    params = [getattr(adjustment, f.attname) for f in _ADJUSTMENT_FIELDS]
    params += history
    for row in audit_rows:
        for f in _AUDIT_FIELDS:
            value = row[f.attname]
            if f.attname in ("before", "after") and value is not None:
                value = json.dumps(value)
            params.append(value)
    return _adjustment_insert_sql(len(audit_rows)), params


def adjustment_applied_parts(
    adjustment,
    *,
    reason_code: str,
    history: dict,
    audit_rows: list[dict],
    ledger_ids_in: int,
    finance: tuple[tuple[str, str], tuple[str, str]],
    finance_record: str,
) -> tuple[list[tuple[str, str, list]], tuple[str, ...]]:
    """An adjustment applied at once, as the parts of its ADJUST posting's statement
    (``engine.PostingCompanion``): parts and the columns to read back.

    - ``adj_ok``: ``ADJUSTMENT_REQUEST_LOOKUP``'s question answered in SQL: the reason
      exists, is one for adjustments and needs no approval, the request key is new,
      the quantity and value are within the warehouse's limits; its ``id`` is the
      reason's. No row, nothing of the adjustment is written (the service rolls the
      posting back too and takes the request step by step);
    - ``adj``: the row (``posting_id`` the statement's posting, the reason ``adj_ok``'s),
      only once ``posted`` and ``adj_ok`` have theirs; ``adj_hist``: its first history
      record (``history``: simple-history's four columns); ``adj_audit``: ``audit_rows``
      (``inventory.audit.audit_values``), the one at ``ledger_ids_in`` given
      ``ledgerEntryIds`` from ``led``;
    - ``finance``: ``finance.finance_event_parts("adj")``, ``finance_record`` its row.

    Each row travels as one JSON parameter read by ``jsonb_populate_record`` into the
    table's own row type: the whole statement, posting included, stays within what
    psycopg caches the conversion of (``MAX_CACHED_STATEMENT_LENGTH``, ``_PARAMS``;
    pinned by a test), where 86 typed parameters in 6,200 characters were parsed again
    on every call.

    Columns: the reason id, the adjustment id and the finance event's id (each NULL
    when that part wrote nothing; no finance event also when the counter row is
    missing). Replaces the look-up queued in a pipeline before the posting and the two
    write statements sent after it: four round trips per applied adjustment -> three,
    as many as the raw posting (figures in ``inventory.services.adjustments``).
    """
    record = {f.column: getattr(adjustment, f.attname) for f in _ADJUSTMENT_FIELDS}
    audit = [{f.column: row[f.attname] for f in _AUDIT_FIELDS} for row in audit_rows]
    limits = [abs(adjustment.qty_delta), abs(adjustment.value)]
    lookup = [adjustment.warehouse_id, reason_code, adjustment.request_key, *limits]
    sqls = _adjustment_applied_sql(ledger_ids_in)
    (counter_name, counter_sql), (event_name, event_sql) = finance
    parts = [
        ("adj_ok", sqls[0], lookup),
        ("adj", sqls[1], [_json(record)]),
        ("adj_hist", sqls[2], [_json(history)]),
        ("adj_audit", sqls[3], [_json(audit)]),
        (counter_name, counter_sql, []),
        (event_name, event_sql, [finance_record]),
    ]
    columns = ("(SELECT id FROM adj_ok)", "(SELECT id FROM adj)", f"(SELECT id FROM {event_name})")
    return parts, columns


def _json(value) -> str:
    """JSON text for ``jsonb_populate_record``: decimals, datetimes and uuids as their
    text, which the columns' types read back exactly."""
    return json.dumps(value, default=str, separators=(",", ":"))


def populate_record_sql(model, record: str, add: str) -> str:
    """``r``, a row of ``model``'s table read from the JSON ``record`` (an SQL expression),
    with ``add`` (pairs for ``jsonb_build_object``) over it: ``CROSS JOIN LATERAL`` it
    and ``INSERT INTO`` the table ``SELECT r.*``."""
    table = sql.table(model)
    return f"LATERAL jsonb_populate_record(NULL::{table}, {record} || jsonb_build_object({add})) r"


def next_id_sql(model, column: str = "id") -> str:
    """The next value of ``model``'s id sequence, for a row built by ``populate_record_sql``."""
    return f"nextval(pg_get_serial_sequence('{model._meta.db_table}', '{column}'))"


@functools.cache
def _adjustment_applied_sql(ledger_ids_in: int) -> tuple[str, str, str, str]:
    lookup = (
        "SELECT r.id FROM inventory_reasoncode r "
        "LEFT JOIN inventory_adjustmentthreshold t ON t.warehouse_id = %s "
        "WHERE r.code = %s AND r.use = 'ADJUSTMENT' AND NOT r.requires_approval "
        "AND NOT EXISTS (SELECT FROM inventory_inventoryadjustment WHERE request_key = %s) "
        "AND coalesce(t.max_abs_qty >= %s, TRUE) AND coalesce(t.max_abs_value >= %s, TRUE)"
    )
    adjustment = (
        f"INSERT INTO {sql.table(InventoryAdjustment)} SELECT r.* "
        "FROM posted CROSS JOIN adj_ok CROSS JOIN "
        + populate_record_sql(
            InventoryAdjustment, "%s::jsonb", "'posting_id', posted.id, 'reason_code_id', adj_ok.id"
        )
        + " RETURNING *"
    )
    historical = InventoryAdjustment.history.model
    history = (
        f"INSERT INTO {sql.table(historical)} SELECT r.* FROM adj CROSS JOIN "
        + populate_record_sql(
            historical,
            "to_jsonb(adj) || %s::jsonb",
            f"'history_id', {next_id_sql(historical, 'history_id')}",
        )
    )
    audit = (
        f"INSERT INTO {sql.table(AuditEvent)} SELECT r.* FROM adj CROSS JOIN "
        f"jsonb_array_elements(jsonb_set(%s::jsonb, '{{{ledger_ids_in},after,ledgerEntryIds}}', "
        "(SELECT coalesce(jsonb_agg(id ORDER BY line_no), '[]') FROM led))) e CROSS JOIN "
        + populate_record_sql(AuditEvent, "e", f"'id', {next_id_sql(AuditEvent)}")
    )
    return lookup, adjustment, history, audit
