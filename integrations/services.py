"""Writes of the integration layer: external systems and their API tokens.

A token key is ``wms_`` and 32 base32 characters of 160 random bits; only its
SHA-256 hash is stored, so a key is shown once, when it is issued (the system
created, or its token rotated), and never again. Each key expires
``WMS_API_TOKEN_DAYS`` after it was issued (0: never).
"""

import base64
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inventory.models import Warehouse
from wms.exceptions import BusinessValidationError

from .authentication import token_cache_clear
from .models import ApiToken, ExternalSystem, SystemType


def _new_key() -> str:
    return "wms_" + base64.b32encode(secrets.token_bytes(20)).decode().lower()


def _token_issue(*, system: ExternalSystem) -> tuple[ApiToken, str]:
    key = _new_key()
    days = settings.WMS_API_TOKEN_DAYS
    token = ApiToken.objects.create(
        system=system,
        prefix=key[:12],
        key_hash=ApiToken.hash_key(key),
        expires_at=timezone.now() + timedelta(days=days) if days else None,
    )
    return token, key


@transaction.atomic
def external_system_ensure(
    *,
    system_type: str,
    code: str,
    name: str = "",
    warehouse_codes: list[str] | None = None,
    endpoint_url: str | None = None,
    rotate: bool = False,
) -> tuple[ExternalSystem, str | None, bool]:
    """Create the system (or find it) and return ``(system, key, created)``.

    ``key`` is the token key when one was issued by this call (a new system, a
    system without a live token, or ``rotate``), else ``None``: a key already
    issued cannot be shown again. An existing system of another type is
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

    live = system.tokens.filter(revoked_at__isnull=True).first()
    if rotate or live is None or live.is_expired():
        return system, api_token_rotate(system=system), created
    return system, None, created


@transaction.atomic
def api_token_rotate(*, system: ExternalSystem) -> str:
    """Revoke the live token (if any) and issue a new one; returns the new key."""
    system.tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    # This process forgets the old token at once; others within WMS_TOKEN_CACHE_SECONDS.
    token_cache_clear()
    transaction.on_commit(token_cache_clear)
    _token, key = _token_issue(system=system)
    return key
