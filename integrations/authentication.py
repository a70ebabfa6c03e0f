"""DRF authentication of external systems by ``Authorization: Token <key>``.

A valid token is remembered in the process for ``WMS_TOKEN_CACHE_SECONDS``
(default 5): a store sends hundreds of orders a second with the same token,
and looking it up (token, system, granted warehouses) cost more CPU than
storing an order. Only successes are remembered, under the key's SHA-256.

The price is a bound on how late a change is seen: a token revoked, a system
deactivated or a warehouse grant changed *in another process* takes effect
there within ``WMS_TOKEN_CACHE_SECONDS``. In the process that made the change
it takes effect at once (rotation, and saves of systems, tokens and grants,
clear the process's memory after commit). 0 turns the memory off.
"""

import copy
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from rest_framework import authentication, exceptions

from wms.logs import set_actor

from .models import ApiToken, ExternalSystem


@dataclass
class SystemPrincipal:
    """``request.user`` for a call made by an external system, not a person."""

    system: ExternalSystem
    warehouse_ids: frozenset[int] = field(default_factory=frozenset)
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    is_anonymous: bool = False

    @property
    def pk(self):
        return f"system:{self.system.pk}"

    @property
    def username(self):
        return f"system:{self.system.code}"

    def has_perm(self, perm, obj=None):
        return False

    def __str__(self):
        return self.username


# key hash → (expires at (monotonic), token, system, warehouse ids)
_KNOWN: dict[str, tuple[float, ApiToken, ExternalSystem, frozenset[int]]] = {}
_KNOWN_LOCK = threading.Lock()
_KNOWN_MAX = 10_000  # tokens remembered at most (a process serves a few hundred systems)


def token_cache_clear() -> None:
    """Forget every remembered token of this process (after a revocation or a change of
    a system or its grants; other processes forget within ``WMS_TOKEN_CACHE_SECONDS``)."""
    with _KNOWN_LOCK:
        _KNOWN.clear()


def token_cache_clear_on_commit(**_kwargs) -> None:
    """Signal receiver: clear now and again once the change is committed (a request
    that reads the token meanwhile must not remember the state from before it)."""
    token_cache_clear()
    transaction.on_commit(token_cache_clear)


def _lookup(key_hash: str):
    token = (
        ApiToken.objects.select_related("system")
        .filter(key_hash=key_hash, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=Now()))
        .first()
    )
    if token is None or not token.system.is_active:
        return None
    warehouse_ids = frozenset(token.system.warehouses.values_list("pk", flat=True))
    return token, token.system, warehouse_ids


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed token.") from exc
        key_hash = ApiToken.hash_key(key)
        now = time.monotonic()
        known = _KNOWN.get(key_hash)
        if known is not None and known[0] > now and not known[1].is_expired():
            _expires, token, system, warehouse_ids = known
        else:
            found = _lookup(key_hash)
            if found is None:
                raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
            token, system, warehouse_ids = found
            ttl = settings.WMS_TOKEN_CACHE_SECONDS
            if ttl > 0:
                with _KNOWN_LOCK:
                    if len(_KNOWN) >= _KNOWN_MAX:
                        _KNOWN.clear()
                    _KNOWN[key_hash] = (now + ttl, token, system, warehouse_ids)
        # Each request gets its own instances: nothing a view caches on them is shared.
        principal = SystemPrincipal(system=copy.copy(system), warehouse_ids=warehouse_ids)
        set_actor(principal.pk)  # reset by wms.middleware.CorrelationIdMiddleware
        return principal, copy.copy(token)

    def authenticate_header(self, request):
        return self.keyword
