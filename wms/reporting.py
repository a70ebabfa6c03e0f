"""What every report shares: its columns, a keyset-paged or streamed row source, and
the CSV / XLSX files written row by row.

A report is a list of ``Column`` and a ``ReportSource``: rows are tuples whose
first ``key_len`` values are the report's order key (hidden; a JSON page's
cursor is the last row's key, signed) followed by one value per column. The
apps' ``reports.py`` build sources (selectors only: nothing here writes);
``integrations.reports_api`` turns them into JSON pages and files.

Memory stays flat whatever the size: ``SqlSource.stream`` reads through a
server-side cursor in chunks, CSV leaves PostgreSQL by ``COPY … TO STDOUT``
(the report's own query, only formatted by the server) and XLSX is written row by
row into a zip that leaves as it is made (``wms.xlsx``: why not xlsxwriter).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.core import signing
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import xlsx
from .exceptions import BusinessValidationError

CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STREAM_CHUNK = 5_000
COPY_BLOCK = 256 * 1024
_CURSOR_SALT = "wms.reporting.cursor"


class ReportFilterInvalid(BusinessValidationError):
    """A filter value that is not valid: never a 500, never a silently empty report."""

    status = 400
    code = "invalid_report_filter"
    title = "Invalid report filter"

    def __init__(self, field_name: str, message: str, *, code: str = "invalid"):
        super().__init__(message, errors=[{"field": field_name, "code": code, "message": message}])


@dataclass(frozen=True)
class Column:
    """``key`` is the JSON field (camelCase) and the CSV header; ``kind`` says how a file
    shows it (text, int, decimal, money, datetime); ``sensitive`` columns (values at
    cost) are left empty for people who may not see values."""

    key: str
    label: object  # a lazy translation: the XLSX header and the page's column title
    kind: str = "text"
    sensitive: bool = False


# --- row sources ---------------------------------------------------------------------


@dataclass
class SqlSource:
    """Rows of one hand-written query (the owning app's ``queries.py``): ``sql`` selects
    the key columns ``k0..k{n-1}`` then one column per report column, named by the
    column's key, ordered by the key; ``{after}`` and ``{limit}`` mark where a page's
    keyset condition and limit go."""

    sql: str
    params: dict
    key_exprs: list[str]  # the key's SQL expressions, in order
    columns: list[Column]
    page_sql: str | None = None  # another plan for a page (a few rows), if one pays

    @property
    def key_len(self) -> int:
        return len(self.key_exprs)

    def _statement(self, *, after: tuple | None, limit: int | None) -> tuple[str, dict]:
        params = dict(self.params)
        sql = self.page_sql if limit is not None and self.page_sql else self.sql
        condition, tail = "", ""
        if after is not None:
            keys = ", ".join(f"%(after{i})s" for i in range(self.key_len))
            condition = f"AND ({', '.join(self.key_exprs)}) > ({keys})"
            params.update({f"after{i}": value for i, value in enumerate(after)})
        if limit is not None:
            tail, params["limit"] = "LIMIT %(limit)s", limit
        return sql.format(after=condition, limit=tail), params

    def page(self, *, after: tuple | None, limit: int) -> list[tuple]:
        sql, params = self._statement(after=after, limit=limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def stream(self) -> Iterator[tuple]:
        """Every row, read ``STREAM_CHUNK`` at a time through a server-side cursor.

        The cursor lives in a read-only transaction of its own, opened when the first
        row is asked for and closed with the generator (also when a client goes away)."""
        sql, params = self._statement(after=None, limit=None)
        with transaction.atomic(), connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(STREAM_CHUNK):
                yield from rows

    def copy_csv(self, *, hide_sensitive: bool) -> Iterator[bytes]:
        """The rows as CSV data (no header), formatted by PostgreSQL's ``COPY``.

        Not joined into bigger messages on the server as ``xlsx_rows`` does: quoting
        each value in SQL as ``COPY`` does cost more than psycopg's 1 µs per row
        message (bench/reports.py database, 1,000,000 rows: 5.8-6.1 s against
        4.1-4.2 s, loaded machine)."""
        sql, params = self._statement(after=None, limit=None)
        outer = ", ".join(
            "NULL" if hide_sensitive and c.sensitive else _outer(c) for c in self.columns
        )
        statement = f"COPY (SELECT {outer} FROM ({sql}) r) TO STDOUT (FORMAT csv)"
        with _download_cursor() as cursor, cursor.copy(statement, params) as copy:
            # psycopg hands COPY data over a row at a time: send blocks, not a million
            # tiny ones through the response (19.4 -> 7.4 s, commit fd85706).
            buffer = bytearray()
            for block in copy:
                buffer += block
                if len(buffer) >= COPY_BLOCK:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)

    def xlsx_rows(self, *, hide_sensitive: bool) -> Iterator[bytes] | None:
        """The rows as XLSX sheet XML (``<row r="2">…``), written by PostgreSQL
        (``wms.xlsx.row_sql``); None when a column's kind has no SQL form there."""
        if any(c.kind not in xlsx.SQL_KINDS for c in self.columns):
            return None
        keys = ", ".join(f"r.k{i}" for i in range(self.key_len))
        cells = [
            (None if hide_sensitive and c.sensitive else _outer(c), c.kind) for c in self.columns
        ]
        return self._copy_chunks(xlsx.row_sql(f"row_number() OVER (ORDER BY {keys}) + 1", cells))

    def _copy_chunks(self, line: str) -> Iterator[bytes]:
        """``line`` (an expression over the report's row ``r``) for every row, in order,
        as blocks of about ``COPY_BLOCK`` bytes.

        Rows are joined on the server, one string per value of the first key column
        (``string_agg`` over the ordered rows: a streaming group, no sort), and leave
        by ``COPY … (FORMAT binary)``, which sends text as it is (no escaping to undo).
        Why: ``COPY`` sends a message per row and psycopg costs about 1 µs a message
        in Python, as much as PostgreSQL spends making the row (1,000,000 short rows:
        psql 0.5 s, psycopg 1.5 s); grouped, a location's 50 rows are one message.
        The price: a message holds all the rows of one first-key value, so memory
        follows the largest location (about 320 bytes of XML a row: 10,000 SKUs in
        one location, 3 MB). Smaller groups (location and a range of item ids) were
        slower here: 497,437 messages, 8.6 s against 7.3 s."""
        sql, params = self._statement(after=None, limit=None)
        statement = (
            f"COPY (SELECT string_agg(x.line, '') FROM (SELECT r.k0, {line} AS line "
            f"FROM ({sql}) r) x GROUP BY x.k0 ORDER BY x.k0) TO STDOUT (FORMAT binary)"
        )
        with _download_cursor() as cursor, cursor.copy(statement, params) as copy:
            buffer = bytearray()
            for value in _binary_copy_values(copy):
                buffer += value
                if len(buffer) >= COPY_BLOCK:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)


_BINARY_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _binary_copy_values(copy) -> Iterator[bytes]:
    """The values of a one-column ``COPY … (FORMAT binary)`` (each tuple: field count,
    length, bytes; NULLs skipped), parsed over the stream whatever its message
    boundaries."""
    buffer = bytearray()
    offset = None  # past the header once it has been read
    for data in copy:
        buffer += data
        if offset is None:
            if len(buffer) < 19:
                continue
            if buffer[:11] != _BINARY_COPY_SIGNATURE:
                raise ValueError("not a binary COPY stream")
            offset = 19 + int.from_bytes(buffer[15:19], "big")
        while len(buffer) - offset >= 2:
            fields = int.from_bytes(buffer[offset : offset + 2], "big", signed=True)
            if fields == -1:  # the trailer
                offset += 2
                continue
            if len(buffer) - offset < 6:
                break
            size = int.from_bytes(buffer[offset + 2 : offset + 6], "big", signed=True)
            if size < 0:
                offset += 6
                continue
            if len(buffer) - offset < 6 + size:
                break
            yield bytes(buffer[offset + 6 : offset + 6 + size])
            offset += 6 + size
        del buffer[:offset]
        offset = 0


def _outer(column: Column) -> str:
    return f"r.{_quote(column.key)}"


@contextmanager
def _download_cursor():
    """A psycopg cursor for one whole-report statement, in a transaction of its own
    with settings that pay for a million rows and only for it: no JIT (its compile
    is not repaid by one pass) and a sort in memory instead of on disk (64 MB for
    each process of the download's parallel sort, while it runs; 4 MB spilled
    87 MB to disk). bench/reports.py database, 1,000,000 rows, CSV by COPY:
    3.6 -> 3.0 s now, 5.5 -> 4.6 s as of 30 days back (loaded machine, noisy)."""
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"
        )
        yield cursor


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


@dataclass
class ListSource:
    """Rows computed in Python (aggregates: a handful of rows), sorted by their key."""

    rows: list[tuple]
    key_len: int

    def page(self, *, after: tuple | None, limit: int) -> list[tuple]:
        rows = self.rows if after is None else [r for r in self.rows if r[: self.key_len] > after]
        return rows[:limit]

    def stream(self) -> Iterator[tuple]:
        return iter(self.rows)


@dataclass
class QuerySetSource:
    """Rows of a ``values_list`` queryset whose first value is a unique key it is
    ordered by (keyset pages on that one field)."""

    queryset: object
    key_field: str
    key_len: int = field(default=1)

    def page(self, *, after: tuple | None, limit: int) -> list[tuple]:
        queryset = self.queryset
        if after is not None:
            queryset = queryset.filter(**{f"{self.key_field}__gt": after[0]})
        return list(queryset[:limit])

    def stream(self) -> Iterator[tuple]:
        with transaction.atomic():
            yield from self.queryset.iterator(chunk_size=STREAM_CHUNK)


# --- cursors -------------------------------------------------------------------------


def cursor_encode(key: tuple) -> str:
    return signing.dumps([_json_key(v) for v in key], salt=_CURSOR_SALT, compress=True)


def cursor_decode(raw: str | None) -> tuple | None:
    if not raw:
        return None
    try:
        values = signing.loads(raw, salt=_CURSOR_SALT)
    except signing.BadSignature:
        raise ReportFilterInvalid(
            "cursor", "Not a cursor this API gave.", code="invalid_cursor"
        ) from None
    return tuple(_from_json_key(v) for v in values)


def _json_key(value):
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    return value


def _from_json_key(value):
    if isinstance(value, dict) and "t" in value:
        return dt.datetime.fromisoformat(value["t"])
    if isinstance(value, dict) and "d" in value:
        return Decimal(value["d"])
    return value


# --- values as text (JSON, CSV) -------------------------------------------------------


def text_value(value) -> str | int | None:
    """A cell as the JSON and CSV show it: decimals as plain strings, times in ISO 8601
    with the instance's offset."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds():.0f}"
    return value


def visible_row(row: tuple, columns: list[Column], key_len: int, hide_sensitive: bool) -> list:
    values = list(row[key_len:])
    if hide_sensitive:
        for index, column in enumerate(columns):
            if column.sensitive:
                values[index] = None
    return values


# --- files -------------------------------------------------------------------------


def csv_header(columns: list[Column]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([c.key for c in columns])
    return buffer.getvalue().encode()


def csv_stream(
    columns: list[Column], rows: Iterable[tuple], *, key_len: int, hide_sensitive: bool
) -> Iterator[bytes]:
    """A header row then the rows, ``STREAM_CHUNK`` rows per block."""
    yield csv_header(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for count, row in enumerate(rows, start=1):
        values = visible_row(row, columns, key_len, hide_sensitive)
        writer.writerow([text_value(v) for v in values])
        if count % STREAM_CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def xlsx_stream(
    columns: list[Column],
    rows: Iterable[tuple],
    *,
    key_len: int,
    hide_sensitive: bool,
    sheet_title: str,
) -> Iterator[bytes]:
    """The workbook, streamed as it is written (``wms.xlsx``)."""
    return xlsx.xlsx_stream(
        sheet_name=sheet_title,
        headers=[str(c.label) for c in columns],
        kinds=[c.kind for c in columns],
        rows=(visible_row(row, columns, key_len, hide_sensitive) for row in rows),
    )


def source_xlsx_stream(
    columns: list[Column], source, *, hide_sensitive: bool, sheet_title: str
) -> Iterator[bytes]:
    """``source``'s workbook: its rows written as sheet XML by PostgreSQL where the
    source can (``SqlSource.xlsx_rows``), else written here from its rows."""
    make_rows = getattr(source, "xlsx_rows", None)
    sheet_rows = make_rows(hide_sensitive=hide_sensitive) if make_rows else None
    if sheet_rows is None:
        return xlsx_stream(
            columns,
            source.stream(),
            key_len=source.key_len,
            hide_sensitive=hide_sensitive,
            sheet_title=sheet_title,
        )
    return xlsx.xlsx_stream(
        sheet_name=sheet_title,
        headers=[str(c.label) for c in columns],
        kinds=[c.kind for c in columns],
        sheet_rows=sheet_rows,
    )


def file_name(slug: str, extension: str) -> str:
    return f"{slug}-{timezone.localtime():%Y%m%d-%H%M}.{extension}"


# --- shared aggregates -----------------------------------------------------------------

#: Age buckets of open work (exceptions): label, lower bound in minutes.
AGE_BUCKETS = (("ageUnder15m", 0), ("age15To60m", 15), ("age1To4h", 60), ("ageOver4h", 240))


def age_bucket_counts(field_name: str, now: dt.datetime) -> dict:
    """``Count`` annotations of rows per age bucket of ``field_name`` (a start time)."""
    counts = {}
    bounds = [minutes for _label, minutes in AGE_BUCKETS[1:]] + [None]
    for (label, lower), upper in zip(AGE_BUCKETS, bounds, strict=True):
        condition = Q(**{f"{field_name}__lte": now - dt.timedelta(minutes=lower)})
        if upper is not None:
            condition &= Q(**{f"{field_name}__gt": now - dt.timedelta(minutes=upper)})
        counts[label] = Count("pk", filter=condition)
    return counts


def age_bucket_columns() -> list[Column]:
    labels = {
        "ageUnder15m": _("Under 15 min"),
        "age15To60m": _("15 to 60 min"),
        "age1To4h": _("1 to 4 h"),
        "ageOver4h": _("Over 4 h"),
    }
    return [Column(key, labels[key], "int") for key, _minutes in AGE_BUCKETS]


def counts_by_type_and_age(queryset, *, opened_field: str = "opened_at") -> list[tuple]:
    """Open work (exceptions) per warehouse and type: ``(warehouse, type, count, oldest,
    *counts per AGE_BUCKETS)`` in warehouse and type order."""
    buckets = age_bucket_counts(opened_field, timezone.now())
    per_type = (
        queryset.values("warehouse__code", "type")
        .annotate(n=Count("pk"), oldest=Min(opened_field), **buckets)
        .order_by("warehouse__code", "type")
    )
    return [
        (row["warehouse__code"], row["type"], row["n"], row["oldest"], *(row[b] for b in buckets))
        for row in per_type
    ]


# --- the catalogue's names, for the kernel's admin -------------------------------------

#: slug → title of every report, filled by ``integrations.reports`` when it is imported
#: (the kernel may not import it): the subscription admin offers these.
REPORT_TITLES: dict[str, object] = {}


def report_choices() -> list[tuple[str, str]]:
    return [(slug, str(title)) for slug, title in sorted(REPORT_TITLES.items())]
