"""Hand-written SQL of counting: each statement named, with what it replaces and why.

Only counting's tables are named here; the balances and the ledger are read
through ``inventory.selectors`` (``count_sheet`` gives the SELECT that
``count_lines_open`` inserts from).
"""

from django.db import connection

from .models import CountLine, CountLineState, CountSubmission

LINE = CountLine._meta.db_table
SUBMISSION = CountSubmission._meta.db_table

#: The next count number (a sequence created by the migration; gaps are harmless).
COUNT_NUMBER_NEXT = "SELECT nextval('counting_count_number')"

#: No JIT compilation for the rest of this transaction. The big statements of a count
#: (the sheet insert of ``count_open``, the ledger ranges of ``count_close``) are
#: estimated expensive enough to compile, and compiling cost 1.6 s of a 3.3 s sheet
#: of 100,000 lines that runs once (``bench/counting_full.py``, EXPLAIN ANALYZE).
JIT_OFF = "SET LOCAL jit = off"

#: Claim a submission key: the new row's id, no row when the key was recorded before.
#: ``ON CONFLICT DO NOTHING`` waits for a concurrent holder of the key, no savepoint.
SUBMISSION_CLAIM = (
    f"INSERT INTO {SUBMISSION} (count_id, request_key, fingerprint, line_ids, actor_label, "
    "created_at) VALUES (%s, %s, %s, '[]'::jsonb, %s, CURRENT_TIMESTAMP) "
    "ON CONFLICT (request_key) DO NOTHING RETURNING id"
)


def jit_off() -> None:
    with connection.cursor() as cursor:
        cursor.execute(JIT_OFF)


def count_lines_open(*, count_id: int, sheet_sql: str, sheet_params: list) -> int:
    """Insert one line per row of the count sheet (``inventory.selectors.count_sheet``):
    one ``INSERT … SELECT``; the number of lines.

    Replaces building 100,000 ``CountLine`` instances and ``bulk_create`` (the
    rows travel twice and Django compiles every value). ``bench/counting_full.py``,
    100,000 lines on the shared 2-core machine (commit 0073b86): 9.3 s with the
    balance locks and ledger marks (4.0 s alone on the machine), ORM path 220 s,
    plain ``INSERT … SELECT`` without lock or mark 1.9 s.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {LINE} (count_id, location_id, item_id, status_id, state, "
            "qty_expected, opened_ledger_mark, opened_at, added_at_scan, counted_by_label, "
            "recount_by_label, reviewed_by_label, note) "
            "SELECT %s, s.location_id, s.item_id, s.status_id, %s, s.on_hand, s.ledger_mark, "
            f"CURRENT_TIMESTAMP, false, '', '', '', '' FROM ({sheet_sql}) "
            "AS s(location_id, item_id, status_id, on_hand, ledger_mark) "
            "ORDER BY s.location_id, s.item_id NULLS FIRST, s.status_id",
            [count_id, CountLineState.OPEN, *sheet_params],
        )
        return cursor.rowcount


def count_lines_reconcile(*, line_ids: list, moved: list, variances: list, state: str) -> None:
    """Set what was posted between opening and scan, the variance and ``state`` of many
    lines in one ``UPDATE … FROM unnest``: the ORM's ``bulk_update`` writes a CASE per
    column per row, which for a full count's 100,000 lines costs more than the count."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {LINE} l SET qty_moved = v.moved, variance = v.variance, state = %s "
            "FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[]) AS v(id, moved, variance) "
            "WHERE l.id = v.id",
            [state, line_ids, moved, variances],
        )


def count_lines_not_counted(*, count_id: int) -> int:
    """Lines still open when their count closes are marked not counted."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {LINE} SET state = %s WHERE count_id = %s AND state = %s",
            [CountLineState.NOT_COUNTED, count_id, CountLineState.OPEN],
        )
        return cursor.rowcount


#: The columns a recorded result writes, with their SQL array types.
_RESULT_COLUMNS = (
    ("state", "varchar"),
    ("qty_counted", "numeric"),
    ("scanned_ledger_mark", "bigint"),
    ("counted_by_id", "integer"),
    ("counted_by_label", "varchar"),
    ("counted_at", "timestamptz"),
    ("recount_qty", "numeric"),
    ("recount_ledger_mark", "bigint"),
    ("recount_by_id", "integer"),
    ("recount_by_label", "varchar"),
    ("recounted_at", "timestamptz"),
    ("qty_moved", "numeric"),
    ("variance", "numeric"),
)


def count_lines_record(lines: list[CountLine]) -> None:
    """Write what results changed on ``lines`` (their ``_RESULT_COLUMNS``) in one
    ``UPDATE … FROM unnest``. Replaces ``bulk_update``, which compiled a CASE of 13
    columns for every line: 9.3 of 9.6 s for a batch of 500 results
    (``bench/counting_full.py``: 98 results/s before)."""
    if not lines:
        return
    arrays = [[line.pk for line in lines]]
    arrays += [[getattr(line, column) for line in lines] for column, _type in _RESULT_COLUMNS]
    names = ", ".join(column for column, _type in _RESULT_COLUMNS)
    casts = ", ".join(f"%s::{sql_type}[]" for _column, sql_type in _RESULT_COLUMNS)
    sets = ", ".join(f"{column} = v.{column}" for column, _type in _RESULT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {LINE} l SET {sets} FROM unnest(%s::bigint[], {casts}) "
            f"AS v(id, {names}) WHERE l.id = v.id",
            arrays,
        )


def count_lines_adjusted(
    *, adjusted: list[tuple[int, int]], blocked: list[tuple[int, str]]
) -> None:
    """After ``count_close``'s adjustments (or a blocked line's retry): each adjusted line's
    adjustment (the line RECONCILED, a blocked line's reason cleared), and the blocked
    lines with their reason, in two statements instead of one UPDATE per line."""
    with connection.cursor() as cursor:
        if adjusted:
            cursor.execute(
                f"UPDATE {LINE} l SET adjustment_id = v.adjustment_id, state = %s, note = '' "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, adjustment_id) "
                "WHERE l.id = v.id",
                [
                    CountLineState.RECONCILED,
                    [pk for pk, _a in adjusted],
                    [a for _pk, a in adjusted],
                ],
            )
        if blocked:
            cursor.execute(
                f"UPDATE {LINE} l SET state = %s, note = v.note "
                "FROM unnest(%s::bigint[], %s::varchar[]) AS v(id, note) WHERE l.id = v.id",
                [CountLineState.BLOCKED, [pk for pk, _n in blocked], [n for _pk, n in blocked]],
            )
