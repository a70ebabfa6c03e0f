"""Writes of the integration layer: external systems and their API tokens.

A token key is ``wms_<prefix><secret>`` where the secret is an HMAC of the
instance ``SECRET_KEY`` over the system code and a random salt; only its hash
is stored. Showing an existing system's key recomputes it, so
``create_api_client`` and ``seed_demo`` can run again and change nothing.
"""

import base64
import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inventory.models import Warehouse
from wms.exceptions import BusinessValidationError

from .authentication import token_cache_clear
from .models import ApiToken, ExternalSystem, SystemType


def api_token_key(*, token: ApiToken) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(),
        f"api-token:{token.system.code}:{token.salt}".encode(),
        hashlib.sha256,
    ).digest()
    return "wms_" + base64.b32encode(digest).decode().rstrip("=").lower()


def _token_issue(*, system: ExternalSystem) -> tuple[ApiToken, str]:
    token = ApiToken(system=system, salt=secrets.token_hex(16))
    key = api_token_key(token=token)
    token.prefix = key[:12]
    token.key_hash = ApiToken.hash_key(key)
    token.save()
    return token, key


@transaction.atomic
def external_system_ensure(
    *,
    system_type: str,
    code: str,
    name: str = "",
    warehouse_codes: list[str] | None = None,
    endpoint_url: str | None = None,
) -> tuple[ExternalSystem, str, bool]:
    """Create the system (or find it) and return it with its live token key.

    Returns ``(system, key, created)``. An existing system of another type is
    refused: a code names one system.
    """
    if system_type not in SystemType.values:
        raise BusinessValidationError(
            f"Unknown system type '{system_type}'.", code="unknown_system_type"
        )
    warehouses = []
    for wh_code in warehouse_codes or []:
        warehouse = Warehouse.objects.filter(code=wh_code).first()
        if warehouse is None:
            raise BusinessValidationError(
                f"Unknown warehouse '{wh_code}'.", code="unknown_warehouse"
            )
        warehouses.append(warehouse)

    system, created = ExternalSystem.objects.select_for_update().get_or_create(
        code=code,
        defaults={"type": system_type, "name": name or code, "endpoint_url": endpoint_url or ""},
    )
    if system.type != system_type:
        raise BusinessValidationError(
            f"External system '{code}' exists with type '{system.type}'.",
            code="system_type_mismatch",
        )
    if endpoint_url is not None and system.endpoint_url != endpoint_url:
        system.endpoint_url = endpoint_url
        system.save(update_fields=["endpoint_url"])
    missing = [w for w in warehouses if not system.warehouses.filter(pk=w.pk).exists()]
    if missing:
        system.warehouses.add(*missing)

    token = system.tokens.filter(revoked_at__isnull=True).first()
    if token is None:
        token, key = _token_issue(system=system)
    else:
        key = api_token_key(token=token)
    return system, key, created


@transaction.atomic
def api_token_rotate(*, system: ExternalSystem) -> str:
    """Revoke the live token and issue a new one; returns the new key."""
    system.tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    # This process forgets the old token at once; others within WMS_TOKEN_CACHE_SECONDS.
    token_cache_clear()
    transaction.on_commit(token_cache_clear)
    _token, key = _token_issue(system=system)
    return key
