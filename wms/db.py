"""A cursor for the few statements every request of a hot endpoint runs.

Django's PostgreSQL cursors bind parameters on the client (psycopg quotes every
value in Python) and never prepare, so the server parses and plans the same
statement on every request. ``server_bound_cursor`` is Django's cursor wrapper
(query log, execute wrappers, Django's errors) around a psycopg cursor whose
parameters the server binds: psycopg prepares a statement from its second use
on the connection (``DB_PREPARE_THRESHOLD``; 0 turns preparing off).

Use it for fixed statements built once per process (not for text that varies
with the data: each variant would be prepared on its own). Elsewhere than
PostgreSQL it is Django's ordinary cursor.
"""

from django.db import connection


def server_bound_cursor():
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    return connection._prepare_cursor(psycopg.Cursor(connection.connection))
