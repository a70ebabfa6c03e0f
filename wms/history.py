"""django-simple-history helpers shared by every app that keeps history."""

from django.db import connection
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .sql import any_of


def history_user(request=None, **kwargs):
    """The person behind a history record; None for an external system's token.

    django-simple-history takes ``request.user`` by default, which under token
    authentication is a ``SystemPrincipal`` and not a user row.
    """
    user = getattr(request, "user", None)
    return user if getattr(user, "_meta", None) is not None and user.is_authenticated else None


_SNAPSHOT_SQL: dict = {}
_HISTORY_COLUMNS = ("history_date", "history_type", "history_change_reason", "history_user_id")


def history_snapshot_sql(model, source: str | None = None) -> str:
    """``INSERT … SELECT`` of one history record per row of ``model`` matching ``{where}``.

    The very rows django-simple-history would write (every tracked column copied
    from the row, then ``history_date``, ``history_type``, ``history_change_reason``,
    ``history_user_id`` as four ``%s`` parameters), without building a Python
    historical object first. Format ``{where}`` with a condition on the model's
    own table and run it in the transaction that wrote the rows.

    ``source`` reads the rows from elsewhere than the model's table, e.g. the name
    of a ``WITH x AS (INSERT … RETURNING *)`` of the same statement, whose rows
    the table does not show yet.
    """
    key = (model, source)
    sql = _SNAPSHOT_SQL.get(key)
    if sql is None:
        historical = model.history.model
        quote = connection.ops.quote_name
        targets, sources = [], []
        for field in historical._meta.concrete_fields:
            if field.attname == "history_id" or field.attname in _HISTORY_COLUMNS:
                continue
            targets.append(quote(field.column))
            sources.append(quote(model._meta.get_field(field.name).column))
        targets += [quote(name) for name in _HISTORY_COLUMNS]
        sql = _SNAPSHOT_SQL[key] = (
            f"INSERT INTO {quote(historical._meta.db_table)} ({', '.join(targets)}) "
            f"SELECT {', '.join(sources)}, %s, %s, %s, %s "
            f"FROM {source or quote(model._meta.db_table)} WHERE {{where}}"
        )
    return sql


def current_history_user_id():
    """The id of the person simple-history would name for a change made now (the
    request's user, as its middleware keeps it), or None."""
    user = history_user(request=getattr(HistoricalRecords.context, "request", None))
    return user.pk if user is not None else None


def history_records(
    model, pks, *, history_type: str, change_reason: str = "", user_id=None
) -> tuple[str, list]:
    """``(sql, params)`` writing one history record for each row of ``model`` whose
    primary key is in ``pks``, as they are now (``history_snapshot_sql``): for a
    batch that changed many rows, instead of simple-history's bulk helpers, which
    build a Python historical object per row. Run it in the transaction that
    wrote the rows (``wms.sql.execute`` batches it with them). ``user_id``: the
    person to name; by default whom the current request names.
    """
    pk = model._meta.pk
    match, params = any_of(pk.get_db_prep_save(value, connection=connection) for value in pks)
    return (
        history_snapshot_sql(model).format(where=f"{connection.ops.quote_name(pk.column)} {match}"),
        [
            connection.ops.adapt_datetimefield_value(timezone.now()),
            history_type,
            change_reason or None,
            current_history_user_id() if user_id is None else user_id,
            *params,
        ],
    )
