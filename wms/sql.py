"""Hand-written SQL for the pick confirmation hot path, with model instances out.

A confirmation reads one task with its item, location and order line and the
task's reservations, and writes the task, its history and the confirmation.
Through the ORM each of those statements is compiled anew on every request,
which costs more CPU than the database spends running them. Here the SQL is
built once per process from the models' metadata (so it follows the models),
rows are turned into the same model instances the ORM would give (the
backend's and the fields' converters applied, related objects cached on
their foreign keys), and writes are sent in one round trip on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

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
    key = (model, alias, connection.vendor)
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


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def db_value(model, name: str, value):
    """``value`` as the database stores ``model.name`` (UUIDs, dates, decimals)."""
    field = model._meta.get_field(name)
    return field.get_db_prep_save(value, connection=connection)


def execute(statements) -> None:
    """Run ``[(sql, params), ...]`` in order: one round trip on PostgreSQL (several
    statements in one simple query), one statement at a time elsewhere."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                ";\n".join(sql for sql, _ in statements),
                [param for _, params in statements for param in params],
            )
        else:
            for sql, params in statements:
                cursor.execute(sql, params)
