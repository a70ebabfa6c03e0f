"""DRF authentication of external systems by ``Authorization: Token <key>``."""

from dataclasses import dataclass, field

from rest_framework import authentication, exceptions

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
        token = (
            ApiToken.objects.select_related("system")
            .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.system.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        warehouse_ids = frozenset(token.system.warehouses.values_list("pk", flat=True))
        return SystemPrincipal(system=token.system, warehouse_ids=warehouse_ids), token

    def authenticate_header(self, request):
        return self.keyword
