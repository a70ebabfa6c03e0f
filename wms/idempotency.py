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

Concurrency: on PostgreSQL a transaction-scoped advisory lock on (scope, key)
marks a request in flight; a second request that cannot take it gets 409 at
once. SQLite (the embedded default) has no advisory locks but opens every
transaction with ``BEGIN IMMEDIATE`` (see settings), which serialises writers:
the second request waits for the first to commit and then gets the replay. On
any backend the unique constraint on (scope, key) is the last guard: a race
that slips past the lock ends in 409, never in a second stored outcome.

Each handled request sends ``idempotent_request_handled`` (outcome
``processed`` inside the transaction of the effect; ``replayed``, ``rejected``,
``conflict`` after it) so the integration layer can keep its message log
without the kernel depending on it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
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

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_PATTERN = re.compile(r"^[\x20-\x7e]{1,255}$")
_STORED_HEADERS = ("Location", "Content-Location")
_ADVISORY_NAMESPACE = b"wms.idempotency:"

#: Sent for every request that reached the decorator with a valid key.
#: kwargs: ``request``, ``outcome`` (``processed`` | ``replayed`` | ``rejected``
#: | ``conflict``), ``status``, ``key``, ``scope``, ``body`` (response data or None).
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
    if connection.vendor != "postgresql":
        # SQLite: BEGIN IMMEDIATE already serialises this transaction.
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_advisory_key(scope, key)])
        return bool(cursor.fetchone()[0])


def _replay(record: IdempotencyRecord) -> Response:
    data = None if record.response_body is None else json.loads(record.response_body)
    response = Response(data, status=record.response_status)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _notify(request, *, outcome, status, key, scope, body=None, robust=True) -> None:
    sender = idempotent_request_handled
    kwargs = dict(request=request, outcome=outcome, status=status, key=key, scope=scope, body=body)
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
        scope = client_scope(request.user)
        fingerprint = request_fingerprint(request)
        notice = {"key": key, "scope": scope}

        try:
            # Fast path without a lock: a completed outcome answers retries, so
            # concurrent retries of a finished request never block each other.
            response = _answer_from_record(_live_record(scope, key), fingerprint, key, notice)
            if response is None:
                with transaction.atomic():
                    if not _try_lock(scope, key):
                        response = _in_use(key)
                        notice["outcome"] = "conflict"
                    else:
                        # Re-read under the lock: the first request may have
                        # committed between the fast path and the lock.
                        record = _live_record(scope, key, purge_stale=True)
                        response = _answer_from_record(record, fingerprint, key, notice)
                        if response is None:
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


def _exception_summary(exc) -> tuple[int, dict]:
    """The status and code the API will answer for ``exc`` (for the message log)."""
    if isinstance(exc, DomainError):
        return exc.status, {"code": exc.code, "detail": exc.detail}
    if isinstance(exc, drf_exceptions.ValidationError):
        return 400, {"code": "validation_failed", "detail": str(exc.detail)[:1000]}
    if isinstance(exc, drf_exceptions.APIException):
        return exc.status_code, {"code": exc.default_code, "detail": str(exc.detail)}
    return 500, {"code": "internal_error", "detail": type(exc).__name__}


def _live_record(scope: str, key: str, *, purge_stale: bool = False):
    """The stored outcome of (scope, key) within the retention, or None."""
    record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if record is not None and record.created_at < _retention_cutoff():
        if purge_stale:
            record.delete()
        return None
    return record


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
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(
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
    except IntegrityError as exc:
        raise _KeyRace(key) from exc
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
