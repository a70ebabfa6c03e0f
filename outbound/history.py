"""History records written by one ``INSERT … SELECT`` (for the intake hot path).

django-simple-history builds a Python historical object per row before it
inserts them; on order intake (an order and its lines, hundreds of times a
second) that costs more CPU than the rest of the request. This writes the
very same rows — every tracked column copied from the row just written, plus
``history_date``, ``history_type``, ``history_change_reason`` and
``history_user`` — in one statement, so the database copies them and Python
does not. The historical tables stay those of simple-history: admin history
views, ``instance.history`` and later records work unchanged.
"""

from django.db import connection
from django.utils import timezone
from simple_history.models import HistoricalRecords

from wms.history import history_user

_SQL: dict = {}
_HISTORY_FIELDS = {
    "history_id",
    "history_date",
    "history_change_reason",
    "history_type",
    "history_user_id",
}


def _current_user_id():
    request = getattr(HistoricalRecords.context, "request", None)
    user = history_user(request=request)
    return user.pk if user is not None else None


def _snapshot_sql(model) -> str:
    sql = _SQL.get(model)
    if sql is None:
        historical = model.history.model
        quote = connection.ops.quote_name
        targets, sources = [], []
        for field in historical._meta.concrete_fields:
            if field.attname in _HISTORY_FIELDS:
                continue
            targets.append(quote(field.column))
            sources.append(quote(model._meta.get_field(field.name).column))
        targets += [
            quote(name)
            for name in ("history_date", "history_type", "history_change_reason", "history_user_id")
        ]
        sql = _SQL[model] = (
            f"INSERT INTO {quote(historical._meta.db_table)} ({', '.join(targets)}) "
            f"SELECT {', '.join(sources)}, %s, %s, %s, %s "
            f"FROM {quote(model._meta.db_table)} WHERE {{where}}"
        )
    return sql


def history_snapshot(
    *, model, where: str, params: list, history_type: str = "+", change_reason: str = ""
) -> int:
    """Write one history record for each row of ``model`` matching ``where``; returns the count.

    ``where`` is a SQL condition on the model's own table with ``%s`` placeholders
    (``"order_id = %s"``). Call it in the transaction that wrote the rows.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    values = [now, history_type, change_reason or None, _current_user_id(), *params]
    with connection.cursor() as cursor:
        cursor.execute(_snapshot_sql(model).format(where=where), values)
        return cursor.rowcount
