"""The finance feed: one ``FinanceEvent`` per financially relevant stock fact.

Writers (shipment confirmation now, inventory adjustments next) call
``finance_event_record`` inside their own transaction; readers page through
``finance_events_after`` with the last ``sequence`` they saw.

Why not a database sequence for ``sequence``: ``nextval`` hands numbers out at
call time, not at commit. Transaction A takes 41, B takes 42 and commits
first; a reader who saw 42 and asks for ``after=42`` never sees 41 when A
commits. So the number comes from a single counter row
(``FinanceSequence``), incremented under its row lock, and the lock is held
until the writer's transaction ends: the next writer gets its number only
after the previous one committed (or rolled back, and then the same number
again). Numbers are therefore gap-free and visible in order: at any moment the
committed events are exactly 1..N, and ``sequence > cursor`` never skips.

The cost is that recording finance events is serial across the instance,
so the lock is held as briefly as the guarantee allows:

- writers record the event as the *last* step of their service, after their
  business locks, postings and other writes (a shipment's stock postings,
  lines, orders and outbox event), so the counter's lock is held only from
  that statement to the commit;
- the event is rendered (lines valued, JSON built) before the lock is taken;
- taking the number and writing the row is one statement
  (``_record_statement``: ``UPDATE … RETURNING`` of the counter feeding the
  ``INSERT`` of the event, prepared on the server), where the ORM took four
  round trips under the lock (lock, look for ``source_key``, bump, insert).
  A ``source_key`` recorded before (a retry, or a writer racing on one key
  who got the lock second) conflicts and inserts nothing; that writer puts
  the number back (``last - 1``, still under the lock, so nobody saw it) and
  returns the first event: idempotent and still gap-free.
- a writer whose own last writes ride a posting's statement (an adjustment
  applied at once: ``engine.PostingCompanion``) takes the same two steps as
  parts of that statement (``finance_event_parts``): the counter bumped only
  once its other rows are written, so its lock is still the statement's last;
  an event recorded before or a missing counter row inserts nothing, and that
  writer rolls back and records the event the step-by-step way.

What the caller's transaction still does after the statement (the API's
idempotency record and message log, then COMMIT) is outside this module; the
guarantee does not depend on it, only the time the next writer waits.

Reading (the API's pages and ``export_finance_events``): a page is the range
``(after, end]`` of sequence numbers, ``end`` fixed before a row is read
(``finance_feed_end``). Every event up to ``end`` has committed already, and
the table is append-only, so that range holds the same rows however long the
streaming of it takes and in how many queries it is read (chunks of
``FEED_CHUNK`` by sequence: constant memory). ``end`` is the next cursor.
Cursors are the sequence signed with the instance's key
(``finance_cursor``): a reader cannot forge a position or bring one from
another instance.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from django.conf import settings
from django.core import signing
from django.db import connection
from django.db.models import Max, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from wms.correlation import get_correlation_id
from wms.exceptions import BusinessValidationError
from wms.sql import server_bound_cursor

from .models import FinanceEvent, FinanceSequence, Item, Warehouse

AMOUNT_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class FinanceLine:
    """``qty`` (base unit, signed: negative for a loss) of an item, valued at its unit cost."""

    item: Item
    qty: Decimal
    uom: str


def _line(line: FinanceLine) -> tuple[dict, Decimal]:
    unit_cost = line.item.unit_cost
    amount = (line.qty * unit_cost).quantize(AMOUNT_PLACES)
    return (
        {
            "sku": line.item.sku,
            "qty": format(line.qty.normalize(), "f"),
            "uom": line.uom,
            "unitCost": str(unit_cost),
            "amount": str(amount),
        },
        amount,
    )


_EVENT_COLUMNS = tuple(
    f for f in FinanceEvent._meta.concrete_fields if f.attname not in ("id", "sequence")
)


@functools.cache
def _record_statement() -> str:
    """The counter bumped (its row locked until commit) and the event inserted with the
    new number, in one statement (``finance_event_parts``, the one parameter the event
    as JSON); one row ``(number, event id)`` back, the id NULL when ``source_key`` was
    recorded before, no row when the counter row is missing.

    Replaces ``SELECT … FOR UPDATE`` of the counter, a look-up of ``source_key``, the
    counter's ``UPDATE`` and the ORM's ``INSERT``: four round trips under the lock that
    serialises every writer, now one. Figures (bench/order_to_ship.py, 300 orders, with
    the batched pack and ship services of the same change): a shipment's statements
    from the counter to its service's end 4 -> 1, ship confirmations 5.0 -> 10.6/s.
    """
    parts = ", ".join(f"{name} AS ({statement})" for name, statement in finance_event_parts())
    return f"WITH {parts} SELECT fin_n.last, fin_e.id FROM fin_n LEFT JOIN fin_e ON TRUE"


@functools.cache
def finance_event_parts(gate: str | None = None) -> tuple[tuple[str, str], tuple[str, str]]:
    """The two steps of recording an event as ``WITH`` parts: ``fin_n`` bumps the counter
    (its row locked until commit), ``fin_e`` inserts the event with that number, its
    one parameter ``PendingFinanceEvent.record``, and inserts nothing for a
    ``source_key`` recorded before. ``_record_statement`` is these two alone.

    ``gate``: a part of a writer's own statement (an applied adjustment rides its
    posting's statement, ``engine.PostingCompanion``): the counter is bumped only once
    that part has its row, so the counter's row lock is still taken after every other
    lock of the statement (PostgreSQL runs an uncorrelated ``EXISTS`` before the UPDATE
    scans; a part it reads runs first). That writer reads ``(SELECT id FROM fin_e)``:
    none means no counter row or an event recorded before, and it takes the
    step-by-step path, which handles both.
    """
    from . import queries  # queries imports the models this module's callers import

    quote = connection.ops.quote_name
    counter, events = quote(FinanceSequence._meta.db_table), quote(FinanceEvent._meta.db_table)
    gated = f" AND EXISTS (SELECT FROM {gate})" if gate else ""
    row = queries.populate_record_sql(
        FinanceEvent,
        "%s::jsonb",
        f"'sequence', fin_n.last, 'id', {queries.next_id_sql(FinanceEvent)}",
    )
    return (
        ("fin_n", f"UPDATE {counter} SET last = last + 1 WHERE id = 1{gated} RETURNING last"),
        (
            "fin_e",
            f"INSERT INTO {events} SELECT r.* FROM fin_n CROSS JOIN {row} "
            "ON CONFLICT (source_key) DO NOTHING RETURNING id",
        ),
    )


#: A number taken by a writer whose event was there already goes back (lock still held).
_NUMBER_RETURN = (
    f"UPDATE {FinanceSequence._meta.db_table} SET last = last - 1 WHERE id = 1 AND last = %s"
)


def finance_event_record(
    *,
    event_type: str,
    warehouse: Warehouse,
    reference_type: str,
    reference_id: str,
    reference_number: str = "",
    store_code: str = "",
    reason_code: str = "",
    lines: list[FinanceLine],
    source_key: str,
    occurred_at=None,
) -> FinanceEvent:
    """Record one finance event in the caller's transaction; idempotent by ``source_key``.

    Call it last in the transaction (see the module docstring: it serialises
    writers from here to commit).
    """
    pending = finance_event_pending(
        event_type=event_type, warehouse=warehouse, reference_type=reference_type,
        reference_id=reference_id, reference_number=reference_number, store_code=store_code,
        reason_code=reason_code, lines=lines, source_key=source_key, occurred_at=occurred_at,
    )  # fmt: skip
    with server_bound_cursor() as cursor:
        cursor.execute(pending.statement, pending.params)
        return pending.recorded(cursor.fetchone())


@dataclass(frozen=True)
class PendingFinanceEvent:
    """A rendered finance event and its statement (``_record_statement``), not run yet.

    ``finance_event_record`` runs ``statement`` with ``params`` (``record``) and hands
    the row it answered to ``recorded`` (still in the transaction, the counter's lock
    held), which puts back the number of an event recorded before. A writer that
    inserts the event inside a statement of its own (``finance_event_parts``) passes
    ``record`` to its ``fin_e``.
    """

    statement: str
    record: str  # the event's columns as one JSON object: fin_e's parameter
    request: dict  # finance_event_record's arguments: recorded again if the counter is missing
    values: dict  # the event's column values (attnames), for the instance

    @property
    def params(self) -> list:
        return [self.record]

    def recorded(self, row) -> FinanceEvent:
        """The event once ``statement`` answered ``row``."""
        if row is None:  # the migration creates it; a flushed test database may not have it
            FinanceSequence.objects.get_or_create(pk=1, defaults={"last": 0})
            return finance_event_record(**self.request)
        if row[1] is None:  # recorded before: the number goes back, the first event answers
            with server_bound_cursor() as cursor:
                cursor.execute(_NUMBER_RETURN, [row[0]])
            return FinanceEvent.objects.get(source_key=self.values["source_key"])
        event = FinanceEvent(id=row[1], sequence=row[0], **self.values)
        FinanceEvent.warehouse.field.set_cached_value(event, self.request["warehouse"])
        event._state.adding, event._state.db = False, connection.alias
        return event


def finance_event_pending(**request) -> PendingFinanceEvent:
    """``finance_event_record``'s event rendered (same arguments), its statement not run.

    The column values go as one JSON object (decimals, datetimes and uuids as their
    text, which ``jsonb_populate_record`` reads back into the columns' types): no
    model instance and no field's ``get_db_prep_save`` on the way.
    """
    rendered, total = [], Decimal("0")
    for line in request["lines"]:
        row, amount = _line(line)
        rendered.append(row)
        total += amount
    warehouse = request["warehouse"]
    values = {
        "event_id": uuid.uuid4(),
        "event_type": request["event_type"],
        "occurred_at": request.get("occurred_at") or timezone.now(),
        "warehouse_id": warehouse.pk,
        "currency": warehouse.currency,
        "reference_type": request["reference_type"],
        "reference_id": str(request["reference_id"]),
        "reference_number": request.get("reference_number", ""),
        "store_code": request.get("store_code", ""),
        "reason_code": request.get("reason_code", ""),
        "lines": rendered,
        "total_amount": total,
        "source_key": request["source_key"],
        "correlation_id": get_correlation_id() or "",
    }
    record = {f.column: values[f.attname] for f in _EVENT_COLUMNS}
    return PendingFinanceEvent(
        _record_statement(),
        json.dumps(record, default=str, separators=(",", ":")),
        request,
        values,
    )


def finance_events_after(*, after: int, limit: int, warehouse_ids=None):
    """Events with ``sequence > after`` in sequence order, at most ``limit`` (a queryset)."""
    queryset = FinanceEvent.objects.filter(sequence__gt=after).select_related("warehouse")
    if warehouse_ids is not None:
        queryset = queryset.filter(warehouse_id__in=list(warehouse_ids))
    return queryset.order_by("sequence")[:limit]


def finance_event_as_dict(event: FinanceEvent) -> dict:
    """The contract's shape of one event (CONTRACT.md, Finance)."""
    data = {
        "sequence": event.sequence,
        "id": str(event.event_id),
        "type": event.event_type,
        "occurredAt": event.occurred_at.isoformat(),
        "warehouse": event.warehouse.code,
        "currency": event.currency,
        "reference": {
            "type": event.reference_type,
            "id": event.reference_id,
            "number": event.reference_number,
        },
        "lines": event.lines,
        "totalAmount": str(event.total_amount),
    }
    if event.store_code:
        data["storeCode"] = event.store_code
    if event.reason_code:
        data["reasonCode"] = event.reason_code
    return data


# --- reading the feed: cursors, pages, JSON and CSV -------------------------------------

FEED_LIMIT_DEFAULT = 500
FEED_LIMIT_MAX = 5000
#: Rows per query when a range is streamed: memory stays at one chunk, whatever the range.
FEED_CHUNK = 2000

#: What a feed row holds, in this order. The id, the lines and the total come as the text
#: PostgreSQL has for them: the export passes them through instead of building a UUID, a
#: list of dicts and a Decimal per event only to turn them back into text (a third of
#: the export's time; ``bench/finance_export.py``).
_ROW_FIELDS = (
    "sequence",
    "id_text",
    "event_type",
    "occurred_at",
    "warehouse__code",
    "currency",
    "reference_type",
    "reference_id",
    "reference_number",
    "store_code",
    "reason_code",
    "lines_text",
    "total_text",
)
_ROW_TEXT = {"id_text": "event_id", "lines_text": "lines", "total_text": "total_amount"}

CSV_COLUMNS = (
    "sequence",
    "id",
    "type",
    "occurredAt",
    "warehouse",
    "currency",
    "referenceType",
    "referenceId",
    "referenceNumber",
    "storeCode",
    "reasonCode",
    "sku",
    "qty",
    "uom",
    "unitCost",
    "amount",
    "totalAmount",
)
_LINE_COLUMNS = ("sku", "qty", "uom", "unitCost", "amount")


class InvalidCursor(BusinessValidationError):
    status = 400
    code = "invalid_cursor"
    title = "Invalid cursor"


def _cursor_signer() -> signing.Signer:
    # The instance id in the salt: a cursor of another instance (even one that shares
    # the key) is refused instead of read as a position in this feed.
    return signing.Signer(salt=f"inventory.finance.cursor:{settings.WMS_INSTANCE_ID}")


def finance_cursor(sequence: int) -> str:
    """The opaque cursor of the feed position ``sequence`` (0: before the first event)."""
    return _cursor_signer().sign_object(int(sequence))


def finance_cursor_sequence(cursor: str | None) -> int:
    """The position a cursor of ``finance_cursor`` stands for; no cursor is the start.

    Raises ``InvalidCursor`` (400) for anything this instance did not hand out.
    """
    if cursor is None or cursor == "":
        return 0
    try:
        sequence = _cursor_signer().unsign_object(cursor)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        sequence = None
    if type(sequence) is not int or sequence < 0:
        raise InvalidCursor(
            "This cursor was not handed out by this feed; use the last 'next' you received, "
            "or no cursor to read from the start.",
            errors=[{"field": "after", "code": "invalid_cursor", "message": "unknown cursor"}],
        )
    return sequence


def _feed_events(*, warehouse_ids=None, event_type: str | None = None):
    queryset = FinanceEvent.objects.all()
    if warehouse_ids is not None:
        queryset = queryset.filter(warehouse_id__in=list(warehouse_ids))
    if event_type:
        queryset = queryset.filter(event_type=event_type)
    return queryset.order_by("sequence")


def finance_feed_end(
    *, after: int, limit: int | None, warehouse_ids=None, event_type: str | None = None
) -> int:
    """Where the page of at most ``limit`` events after ``after`` ends: its next cursor.

    The ``limit``-th matching event if there are that many; otherwise the newest
    event of the whole feed (read *before* looking for matches, so everything up to
    it has committed and was looked at): a reader who sees only some warehouses
    moves past the others' events instead of scanning them again on every poll.
    Never before ``after``. ``limit=None``: everything committed now.
    """
    newest = FinanceEvent.objects.aggregate(newest=Max("sequence"))["newest"] or 0
    if limit is not None:
        matching = _feed_events(warehouse_ids=warehouse_ids, event_type=event_type)
        last = (
            matching.filter(sequence__gt=after)
            .values_list("sequence", flat=True)[limit - 1 : limit]
            .first()
        )
        if last is not None:
            return last
    return max(newest, after)


def finance_feed_rows(
    *,
    after: int,
    end: int,
    warehouse_ids=None,
    event_type: str | None = None,
    chunk_size: int = FEED_CHUNK,
) -> Iterator[tuple]:
    """Events with ``after < sequence <= end`` in sequence order, as ``_ROW_FIELDS`` tuples.

    Read ``chunk_size`` at a time by sequence (each chunk its own short query, no
    server-side cursor held open): constant memory for any range.
    """
    queryset = (
        _feed_events(warehouse_ids=warehouse_ids, event_type=event_type)
        .filter(sequence__lte=end)
        .annotate(**{name: Cast(field, TextField()) for name, field in _ROW_TEXT.items()})
        .values_list(*_ROW_FIELDS)
    )
    last = after
    while last < end:
        chunk = list(queryset.filter(sequence__gt=last)[:chunk_size])
        yield from chunk
        if len(chunk) < chunk_size:
            return
        last = chunk[-1][0]


def _batches(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


def _event_json(row: tuple, dumps) -> str:
    """One event as JSON text: ``finance_event_as_dict``'s content, the lines as stored."""
    (sequence, event_id, event_type, occurred_at, warehouse, currency) = row[:6]
    (reference_type, reference_id, reference_number, store_code, reason_code) = row[6:11]
    lines, total = row[11], row[12]
    head = {
        "sequence": sequence,
        "id": event_id,
        "type": event_type,
        "occurredAt": occurred_at.isoformat(),
        "warehouse": warehouse,
        "currency": currency,
        "reference": {"type": reference_type, "id": reference_id, "number": reference_number},
    }
    if store_code:
        head["storeCode"] = store_code
    if reason_code:
        head["reasonCode"] = reason_code
    return f'{dumps(head)[:-1]},"lines":{lines},"totalAmount":"{total}"}}'


def finance_feed_json(rows: Iterable[tuple], *, next_cursor: str) -> Iterator[str]:
    """``{"events": [...], "next": cursor}`` (an API page) as text pieces, streamed."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    yield '{"events":['
    separator = ""
    for batch in _batches(rows, 500):
        yield separator + ",".join(_event_json(row, dumps) for row in batch)
        separator = ","
    yield '],"next":' + dumps(next_cursor) + "}\n"


def _csv_rows(row: tuple) -> Iterator[tuple]:
    head = (*row[:3], row[3].isoformat(), *row[4:11])
    total = row[12]
    # An event without lines still gets its row: a file reader must not lose it.
    for line in json.loads(row[11]) or [{}]:
        yield (*head, *(line.get(column, "") for column in _LINE_COLUMNS), total)


def finance_feed_csv(rows: Iterable[tuple]) -> Iterator[str]:
    """A header row, then one row per event line with the event's columns repeated."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for batch in _batches(rows, 500):
        for row in batch:
            writer.writerows(_csv_rows(row))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # no event at all: the header alone
        yield buffer.getvalue()
