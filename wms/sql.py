"""Hand-written SQL for hot paths, with model instances out.

Through the ORM every statement is compiled anew on every request; on the
busiest write paths (a pick confirmation: order, task, reservations, order
line, history, confirmation) that costs more CPU than the database spends
running them. Here a statement is built once per process from the models'
metadata (so it follows the models), rows become the same model instances
the ORM would give (the backend's and the fields' converters applied; the
caller caches related objects on their foreign keys), and a batch of writes
goes in one round trip.

Only generic helpers live here, nothing that knows an app's tables: each
app's own statements are in its ``queries.py`` (STYLE.md). Use them where a
profile shows the ORM's compile cost, not as a habit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, models

from . import telemetry

_SELECTS: dict = {}


@dataclass(frozen=True)
class Select:
    """The columns of ``model`` read under the table alias ``alias``."""

    model: type
    alias: str
    sql: str
    attnames: tuple
    converters: tuple  # (index, [converter, ...], expression)

    def instance(self, row, start: int = 0):
        """The model instance held in ``row[start:start + len(attnames)]``."""
        values = list(row[start : start + len(self.attnames)])
        for index, functions, expression in self.converters:
            value = values[index]
            for function in functions:
                value = function(value, expression, connection)
            values[index] = value
        return self.model.from_db(connection.alias, self.attnames, values)

    def __len__(self) -> int:
        return len(self.attnames)


def select(model, alias: str) -> Select:
    """Every concrete column of ``model`` as ``alias."column"``, with their converters."""
    key = (model, alias)
    cached = _SELECTS.get(key)
    if cached is None:
        quote = connection.ops.quote_name
        fields = model._meta.concrete_fields
        converters = []
        for index, field in enumerate(fields):
            expression = field.get_col(alias)
            functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(
                connection
            )
            if functions:
                converters.append((index, functions, expression))
        cached = _SELECTS[key] = Select(
            model=model,
            alias=alias,
            sql=", ".join(f"{alias}.{quote(field.column)}" for field in fields),
            attnames=tuple(field.attname for field in fields),
            converters=tuple(converters),
        )
    return cached


def server_bound_cursor():
    """Django's cursor wrapper (query log, execute wrappers, Django's errors) around a
    psycopg cursor whose parameters the server binds.

    Django's PostgreSQL cursors bind on the client (psycopg quotes every value
    in Python) and never prepare, so the server parses and plans the same
    statement every time. Through this cursor psycopg prepares a statement from
    its second use on the connection (``DB_PREPARE_THRESHOLD``; 0 turns
    preparing off). For fixed statements built once per process, not for text
    that varies with the data (each variant would be prepared on its own).
    """
    connection.ensure_connection()
    # psycopg.Cursor, or its traced subclass while tracing is on (wms.telemetry).
    return connection._prepare_cursor(telemetry.server_cursor(connection.connection))


def any_of(values) -> tuple[str, list]:
    """The right-hand side of a condition matching any of ``values``, and its parameters:
    ``= ANY(%s)`` with one array (the same statement text for any count, so the
    server prepares it once)."""
    return "= ANY(%s)", [list(values)]


def in_bulk(model, ids) -> dict:
    """``model.objects.in_bulk(ids)`` without compiling a queryset: id → instance."""
    ids = list(ids)
    if not ids:
        return {}
    selected = select(model, "t")
    match, params = any_of(ids)
    key = column(model, model._meta.pk.name)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {selected.sql} FROM {table(model)} t WHERE t.{key} {match}", params)
        instances = [selected.instance(row) for row in cursor.fetchall()]
    return {instance.pk: instance for instance in instances}


# Fields whose Python values psycopg binds as they are (the prepared statement casts
# the arrays): their get_db_prep_save only copies or re-formats the value, and on a
# bulk insert it was the main cost.
_PLAIN_FIELDS = (
    models.AutoField,
    models.BigAutoField,
    models.IntegerField,
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.DecimalField,
    models.UUIDField,
    models.ForeignKey,
)


def _column_values(field, objs) -> list:
    if isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
        return [field.pre_save(obj, True) for obj in objs]
    if isinstance(field, _PLAIN_FIELDS) or (
        isinstance(field, models.DateTimeField) and settings.USE_TZ
    ):
        return [getattr(obj, field.attname) for obj in objs]
    prepare = field.get_db_prep_save
    return [prepare(field.pre_save(obj, True), connection=connection) for obj in objs]


_BULK_INSERT: dict = {}


def bulk_insert_statement(objs: list) -> tuple[str, list]:
    """``bulk_insert``'s statement and parameters, for a caller that sends its writes
    in one round trip (``execute``); the instances count as saved from here."""
    statement, fields = _bulk_insert_built(type(objs[0]))
    params = [_column_values(f, objs) for f in fields]
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return statement, params


def _bulk_insert_built(model) -> tuple[str, list]:
    built = _BULK_INSERT.get(model)
    if built is None:
        fields = [
            f
            for f in model._meta.concrete_fields
            if f is not model._meta.auto_field and not f.generated
        ]
        arrays = ", ".join(f"CAST(%s AS {f.db_type(connection)}[])" for f in fields)
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        built = _BULK_INSERT[model] = (
            f"INSERT INTO {table(model)} ({columns}) SELECT * FROM unnest({arrays})",
            fields,
        )
    return built


def bulk_insert(objs: list) -> int:
    """``bulk_create`` for new instances of one model whose primary key is set or not
    needed back (UUIDs, through rows); returns the row count.

    One ``INSERT … SELECT * FROM unnest(array, …)``: one array parameter per
    column, bound by the server, so the statement is the same for any number
    of rows and is prepared; the ORM's ``bulk_create`` compiles and quotes
    every value of every row in Python, which costs more than the insert (wave
    release writes hundreds of pick tasks at once: 4.8 -> 3.5 s in
    ``wave_release`` for 72 waves, commit de64f0f).
    """
    if not objs:
        return 0
    statement, params = bulk_insert_statement(objs)
    with server_bound_cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def row_lock(alias: str | None = None, *, skip_locked: bool = False) -> str:
    """`` FOR UPDATE`` (``OF alias`` when given; `` SKIP LOCKED`` if asked)."""
    clause = " FOR UPDATE"
    if alias:
        clause += f" OF {alias}"
    if skip_locked:
        clause += " SKIP LOCKED"
    return clause


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def db_value(model, name: str, value):
    """``value`` as the database stores ``model.name`` (UUIDs, dates, decimals)."""
    field = model._meta.get_field(name)
    return field.get_db_prep_save(value, connection=connection)


def execute(statements) -> list[int]:
    """Run ``[(sql, params), ...]`` in order and return the row count of each.

    One round trip (psycopg's pipeline mode) on server-binding cursors
    (``server_bound_cursor``): no Python-side quoting of every value, and each
    statement prepared from its second use.
    """
    return _pipelined(statements, lambda cursor: cursor.rowcount)


def fetch_pipelined(statements) -> list:
    """``execute`` for statements that return a row: the first row of each (None
    when it returned none), all in one round trip."""
    return _pipelined(statements, lambda cursor: cursor.fetchone())


def _pipelined(statements, answer) -> list:
    """``statements`` in one pipeline; ``answer(cursor)`` of each, read after the sync."""
    cursors = []
    connection.ensure_connection()
    # Errors surface when the pipeline syncs: they come out as Django's there too
    # (the deadlock retries look for OperationalError).
    with connection.wrap_database_errors:
        try:
            with connection.connection.pipeline():
                for statement, params in statements:
                    cursor = server_bound_cursor()
                    cursor.execute(statement, params)
                    cursors.append(cursor)
            return [answer(cursor) for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()


def insert(obj) -> tuple[str, list]:
    """The INSERT of a new model instance (every concrete column, as ``save()`` sends
    it); the instance counts as saved from here (run the statement in the caller's
    transaction)."""
    model, fields = type(obj), obj._meta.concrete_fields
    columns = ", ".join(column(model, f.name) for f in fields)
    statement = f"INSERT INTO {table(model)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection=connection) for f in fields]
    obj._state.adding = False
    obj._state.db = connection.alias
    return statement, params


_UPDATES: dict = {}


def update(obj, names) -> tuple[str, list]:
    """The UPDATE of the fields ``names`` of a saved instance, from its attributes
    (no ``auto_now`` magic: set such fields yourself). The statement is built once
    per model and field list."""
    model = type(obj)
    key = (model, tuple(names))
    built = _UPDATES.get(key)
    if built is None:
        fields = [model._meta.get_field(name) for name in names]
        statement = (
            f"UPDATE {table(model)} SET "
            + ", ".join(f"{column(model, f.name)} = %s" for f in fields)
            + f" WHERE {column(model, model._meta.pk.name)} = %s"
        )
        built = _UPDATES[key] = (statement, fields, model._meta.pk)
    statement, fields, pk = built
    params = [f.get_db_prep_save(getattr(obj, f.attname), connection=connection) for f in fields]
    return statement, [*params, pk.get_db_prep_save(obj.pk, connection=connection)]
