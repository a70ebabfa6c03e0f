"""Idempotent POSTs for DRF views (CONTRACT.md, "Idempotency").

Usage: put ``@idempotent`` on the ``post`` method of an ``APIView``::

    from wms.idempotency import idempotent

    class PickConfirmationCreateApi(APIView):
        permission_classes = [ActorPermission]
        allowed_system_types = ("automation",)

        @idempotent
        def post(self, request):
            payload = PickConfirmationInputSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            confirmation = pick_confirm(**payload.validated_data, actor=request.user)
            return Response(PickConfirmationOutputSerializer(confirmation).data, status=200)

The view stays as it would be without idempotency: call the service, return a
``Response``. The decorator

* answers 400 ``idempotency_key_missing`` without an ``Idempotency-Key``
  header and 400 ``idempotency_key_invalid`` for a key that is not 1 to 255
  printable ASCII characters;
* runs the view inside one transaction and stores the outcome (status, body,
  ``Location``) in that same transaction, so the outcome exists if and only if
  the effect committed (services' own ``@transaction.atomic`` nest inside it;
  ``transaction.on_commit`` callbacks run after the outer commit);
* answers a repeated key with the same request (method, path, canonical JSON
  body) with the stored status and body and ``Idempotent-Replayed: true``; the
  view does not run, so no second effect and no second event;
* answers the same key with a different request 422 ``idempotency_key_reused``,
  and the same key while the first request is still running 409
  ``idempotency_key_in_use`` (with ``Retry-After``);
* stores nothing and keeps no effect when the view raises or answers 4xx/5xx:
  the client may fix the request and retry with the same key;
* scopes keys per client: ``system:<id>`` for an external system's token,
  ``user:<id>`` for a person's session.

Keys older than ``settings.WMS_IDEMPOTENCY_RETENTION_HOURS`` are treated as new
and purged by the beat task ``wms.tasks.idempotency_purge_task``.

Concurrency: a transaction-scoped advisory lock on (scope, key) marks a
request in flight; a second request that cannot take it gets 409 at once.
One statement reads the stored outcome and, only when there is none, takes
the lock, so retries of a finished request never wait for each other (two
round trips less than a read, a lock and a re-read; the statements are in
``wms.queries``). The unique constraint on (scope, key) is the last guard:
the outcome is inserted with ``ON CONFLICT DO NOTHING`` (no savepoint), and a
race that slips past the lock ends in 409, never in a second stored outcome.

Each handled request sends ``idempotent_request_handled`` (outcome
``processed`` inside the transaction of the effect; ``replayed``, ``rejected``,
``conflict`` after it) so the integration layer can keep its message log
without the kernel depending on it (``record_id`` names the stored outcome for
``processed`` and ``replayed``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.dispatch import Signal
from django.http.request import RawPostDataException
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder as DrfJSONEncoder

from .correlation import get_correlation_id
from .exceptions import DomainError
from .models import IdempotencyRecord
from .problems import problem_response
from .queries import (
    IDEMPOTENCY_CLAIM,
    IDEMPOTENCY_RECORD_COLUMNS,
    IDEMPOTENCY_RECORD_INSERT,
    IDEMPOTENCY_TRY_LOCK,
)
from .sql import server_bound_cursor

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_PATTERN = re.compile(r"^[\x20-\x7e]{1,255}$")
_STORED_HEADERS = ("Location", "Content-Location")
_ADVISORY_NAMESPACE = b"wms.idempotency:"

#: Sent for every request that reached the decorator with a valid key.
#: kwargs: ``request``, ``outcome`` (``processed`` | ``replayed`` | ``rejected``
#: | ``conflict``), ``status``, ``key``, ``scope``, ``body`` (response data or None),
#: ``record_id`` (the ``IdempotencyRecord`` answered from or stored, else None).
idempotent_request_handled = Signal()

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description=(
        "1 to 255 printable characters, unique per intended effect and client. A retry with the "
        "same key and body returns the first outcome with `Idempotent-Replayed: true`; the same "
        "key with another body → 422 `idempotency_key_reused`; while the first request still "
        "runs → 409 `idempotency_key_in_use`."
    ),
)


class _KeyRace(Exception):
    """The unique (scope, key) constraint caught a concurrent first use."""


def client_scope(actor) -> str:
    """The namespace of a client's keys: its external system, else its user."""
    system = getattr(actor, "system", None)
    if system is not None:
        return f"system:{system.pk}"
    if actor is not None and getattr(actor, "is_authenticated", False):
        return f"user:{actor.pk}"
    return "anonymous"


def request_fingerprint(request) -> str:
    """SHA-256 of method, path and body; JSON bodies in canonical form (key order,
    whitespace and escapes do not make two requests different)."""
    try:
        raw = request.body
    except RawPostDataException:
        # Something read the stream before us (DRF parsed it): use the parsed data.
        canonical = json.dumps(
            request.data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder
        ).encode()
    else:
        try:
            canonical = json.dumps(
                json.loads(raw or b"null"), sort_keys=True, separators=(",", ":")
            ).encode()
        except (ValueError, UnicodeDecodeError):
            canonical = raw
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\n")
    digest.update(request.get_full_path().encode())
    digest.update(b"\n")
    digest.update(canonical)
    return digest.hexdigest()


def _retention_cutoff():
    return timezone.now() - timedelta(hours=settings.WMS_IDEMPOTENCY_RETENTION_HOURS)


def _advisory_key(scope: str, key: str) -> int:
    digest = hashlib.blake2b(
        _ADVISORY_NAMESPACE + scope.encode() + b"\0" + key.encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def _try_lock(scope: str, key: str) -> bool:
    """Mark (scope, key) in flight until the transaction ends; False if another has it."""
    with server_bound_cursor() as cursor:
        cursor.execute(IDEMPOTENCY_TRY_LOCK, [_advisory_key(scope, key)])
        return bool(cursor.fetchone()[0])


class _Stored(NamedTuple):
    """The columns of a stored outcome that answer a repeated key."""

    id: int
    request_fingerprint: str
    response_status: int
    response_body: str | None
    response_headers: dict


def _claim(scope: str, key: str) -> tuple[_Stored | None, int | None, bool]:
    """``(live outcome, id of an outcome past the retention, locked)`` for (scope, key).

    Called inside the transaction of the effect. A live outcome answers the
    request (no lock is taken, so retries of a finished request never wait for
    each other); otherwise ``locked`` says whether this request may run it.
    """
    with server_bound_cursor() as cursor:
        cursor.execute(IDEMPOTENCY_CLAIM, [_advisory_key(scope, key), scope, key])
        *columns, created_at, locked = cursor.fetchone()
    if columns[0] is None:
        return None, None, bool(locked)
    if created_at < _retention_cutoff():
        # Past the retention the key is new again: the lock decides who reuses it.
        return None, columns[0], _try_lock(scope, key)
    # jsonb comes back as text: Django's connection loads it so (its JSONField decodes).
    headers = json.loads(columns[4]) if columns[4] else {}
    return _Stored(*columns[:4], headers), None, False


def _record_insert(**values) -> int | None:
    """Store an outcome; its id, or None when (scope, key) is already taken.

    ``ON CONFLICT DO NOTHING``: a concurrent first use of the key is detected
    without an error, so no savepoint is needed around the insert.
    """
    meta = IdempotencyRecord._meta
    params = [
        meta.get_field(name).get_db_prep_save(values[name], connection)
        for name in IDEMPOTENCY_RECORD_COLUMNS
    ]
    with server_bound_cursor() as cursor:
        cursor.execute(IDEMPOTENCY_RECORD_INSERT, params)
        row = cursor.fetchone()
    return None if row is None else row[0]


def _record_delete(record_id: int) -> None:
    IdempotencyRecord.objects.filter(pk=record_id).delete()


def _replay(record: _Stored) -> Response:
    data = None if record.response_body is None else json.loads(record.response_body)
    response = Response(data, status=record.response_status)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _notify(
    request, *, outcome, status, key, scope, body=None, record_id=None, robust=True
) -> None:
    sender = idempotent_request_handled
    kwargs = dict(
        request=request,
        outcome=outcome,
        status=status,
        key=key,
        scope=scope,
        body=body,
        record_id=record_id,
    )
    if not robust:
        sender.send(sender=IdempotencyRecord, **kwargs)
        return
    for receiver, result in sender.send_robust(sender=IdempotencyRecord, **kwargs):
        if isinstance(result, Exception):
            logger.error("idempotency receiver %r failed", receiver, exc_info=result)


def idempotent(view_method):
    """Make a DRF ``post`` handler idempotent per ``Idempotency-Key`` (see module doc)."""

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        refused = _key_refused(key)
        if refused is not None:
            return refused
        scope = client_scope(request.user)
        fingerprint = request_fingerprint(request)
        notice = {"key": key, "scope": scope}

        try:
            with transaction.atomic():
                # One statement: the stored outcome, else the in-flight lock.
                record, stale_id, locked = _claim(scope, key)
                response = _answer_from_record(record, fingerprint, key, notice)
                if response is None:
                    if not locked:
                        response = _in_use(key)
                        notice["outcome"] = "conflict"
                    else:
                        if stale_id is not None:  # past the retention: the key is new
                            _record_delete(stale_id)
                        response = _process(
                            view_method,
                            view,
                            request,
                            args,
                            kwargs,
                            notice,
                            scope=scope,
                            key=key,
                            fingerprint=fingerprint,
                        )
        except _KeyRace:
            response = _in_use(key)
            notice["outcome"] = "conflict"
        except Exception as exc:
            notice.pop("outcome", None)
            notice.pop("record_id", None)
            status, body = _exception_summary(exc)
            _notify(request, outcome="rejected", status=status, body=body, **notice)
            raise

        # No outcome set: the view ran and answered 4xx/5xx (rolled back).
        outcome = notice.pop("outcome", "rejected")
        if outcome != "processed":
            body = getattr(response, "data", None)
            _notify(request, outcome=outcome, status=response.status_code, body=body, **notice)
        return response

    # Document the header on the operation (works above or below @extend_schema).
    wrapper.kwargs = dict(getattr(view_method, "kwargs", {}))
    wrapper.idempotent = True
    return extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER])(wrapper)


def _key_refused(key: str | None) -> Response | None:
    """400 for a missing key or one that is not 1 to 255 printable ASCII characters."""
    if key is None or key == "":
        return problem_response(
            status=400,
            code="idempotency_key_missing",
            title="Idempotency-Key header required",
            detail=f"Send an {HEADER} header (1 to 255 printable characters).",
        )
    if not _KEY_PATTERN.match(key):
        return problem_response(
            status=400,
            code="idempotency_key_invalid",
            title="Invalid Idempotency-Key",
            detail=f"The {HEADER} must be 1 to 255 printable ASCII characters.",
        )
    return None


def _exception_summary(exc) -> tuple[int, dict]:
    """The status and code the API will answer for ``exc`` (for the message log)."""
    if isinstance(exc, DomainError):
        return exc.status, {"code": exc.code, "detail": exc.detail}
    if isinstance(exc, drf_exceptions.ValidationError):
        return 400, {"code": "validation_failed", "detail": str(exc.detail)[:1000]}
    if isinstance(exc, drf_exceptions.APIException):
        return exc.status_code, {"code": exc.default_code, "detail": str(exc.detail)}
    return 500, {"code": "internal_error", "detail": type(exc).__name__}


def _answer_from_record(record, fingerprint: str, key: str, notice: dict):
    """Replay or 422 for a stored outcome; None when there is none."""
    if record is None:
        return None
    if record.request_fingerprint != fingerprint:
        notice["outcome"] = "conflict"
        return problem_response(
            status=422,
            code="idempotency_key_reused",
            title="Idempotency-Key reused with another request",
            detail=(
                f"The {HEADER} '{key}' was already used with a different request; "
                "use a new key for a new request."
            ),
        )
    notice["outcome"] = "replayed"
    notice["record_id"] = record.id
    return _replay(record)


def _in_use(key: str) -> Response:
    response = problem_response(
        status=409,
        code="idempotency_key_in_use",
        title="A request with this Idempotency-Key is still running",
        detail=f"The first request with {HEADER} '{key}' has not finished; retry shortly.",
    )
    response["Retry-After"] = "1"
    return response


def _process(view_method, view, request, args, kwargs, notice, *, scope, key, fingerprint):
    """Run the view; keep its effect and outcome only for a non-error answer."""
    response = view_method(view, request, *args, **kwargs)
    status = response.status_code
    if status >= 400:
        # Rejected input leaves nothing behind, neither effect nor outcome.
        transaction.set_rollback(True)
        return response
    # Stored as JSON text made by the renderer's encoder (Decimal, UUID, dates) in
    # the view's key order, so a replay renders byte-for-byte the same body.
    data = getattr(response, "data", None)
    body = None if data is None else json.dumps(data, cls=DrfJSONEncoder)
    record_id = _record_insert(
        scope=scope,
        key=key,
        request_fingerprint=fingerprint,
        method=request.method,
        path=request.get_full_path()[:500],
        response_status=status,
        response_body=body,
        response_headers={h: response[h] for h in _STORED_HEADERS if h in response},
        correlation_id=get_correlation_id(),
    )
    if record_id is None:
        raise _KeyRace(key)
    notice["record_id"] = record_id
    # In the transaction of the effect: the message log commits (or not) with it.
    _notify(request, outcome="processed", status=status, body=data, robust=False, **notice)
    notice["outcome"] = "processed"
    return response


@transaction.atomic
def idempotency_purge(*, older_than=None, batch_size: int = 5000) -> int:
    """Delete stored outcomes older than the retention (or ``older_than``); returns the count."""
    cutoff = older_than or _retention_cutoff()
    ids = list(
        IdempotencyRecord.objects.filter(created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:batch_size]
    )
    if not ids:
        return 0
    deleted, _ = IdempotencyRecord.objects.filter(id__in=ids).delete()
    return deleted
