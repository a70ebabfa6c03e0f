"""Hand-written SQL on the kernel's own tables: the idempotency outcomes.

Each statement says what ORM code it replaces and the figure that earns it
its place. Helpers that know no table (statement caches, batches, bulk
inserts) are in ``wms.sql``; other apps' statements are in their own
``queries.py``.

All run on ``wms.sql.server_bound_cursor``: an idempotent store call runs
these fixed statements on every request, and prepared by the server they
cost PostgreSQL 1.11/1.13 ms CPU per order instead of 1.69/1.81 ms
(bench/intake.py through gunicorn, commit b4ba9ac, together with the
message log row of ``integrations.queries``).
"""

from .models import IdempotencyRecord

_RECORD = IdempotencyRecord._meta.db_table


def _columns(names, alias: str = "") -> str:
    return ", ".join(f'{alias}"{name}"' for name in names)


#: The columns ``IDEMPOTENCY_CLAIM`` returns before its ``locked`` flag.
IDEMPOTENCY_CLAIM_COLUMNS = (
    "id",
    "request_fingerprint",
    "response_status",
    "response_body",
    "response_headers",
    "created_at",
)

#: The stored outcome of (scope, key), if any, and only when there is none the
#: transaction's advisory lock on the key. Parameters: the advisory key, scope,
#: key; one row, ``IDEMPOTENCY_CLAIM_COLUMNS`` (all NULL without an outcome) and
#: ``locked``. Replaces an ORM read of the outcome, ``pg_try_advisory_xact_lock``
#: and a re-read under the lock: two round trips fewer, and a finished request's
#: retries never wait for each other (commit b756df5: 19 -> 12 statements per
#: intake request with ``IDEMPOTENCY_RECORD_INSERT``, app CPU 19.3 -> 13.2 ms).
IDEMPOTENCY_CLAIM = (
    f"SELECT {_columns(IDEMPOTENCY_CLAIM_COLUMNS, 'r.')}, "
    "CASE WHEN r.id IS NULL THEN pg_try_advisory_xact_lock(%s) ELSE FALSE END "
    f'FROM (SELECT 1) AS one LEFT JOIN {_RECORD} r ON r.scope = %s AND r."key" = %s'
)

#: The transaction's advisory lock on a key whose outcome is past the retention
#: (parameter: the advisory key); true when this request may reuse the key.
IDEMPOTENCY_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"

#: The columns ``IDEMPOTENCY_RECORD_INSERT`` takes, in its parameters' order.
IDEMPOTENCY_RECORD_COLUMNS = (
    "scope",
    "key",
    "request_fingerprint",
    "method",
    "path",
    "response_status",
    "response_body",
    "response_headers",
    "correlation_id",
)

#: Store an outcome, returning its id; no row when (scope, key) is already taken.
#: Replaces ``IdempotencyRecord.objects.create`` inside a savepoint: ``ON CONFLICT
#: DO NOTHING`` sees a concurrent first use without an error, so no savepoint
#: round trips (commit b756df5, figures at ``IDEMPOTENCY_CLAIM``).
IDEMPOTENCY_RECORD_INSERT = (
    f"INSERT INTO {_RECORD} ({_columns(IDEMPOTENCY_RECORD_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(IDEMPOTENCY_RECORD_COLUMNS))}) "
    'ON CONFLICT (scope, "key") DO NOTHING RETURNING id'
)
