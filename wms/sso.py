"""Single sign-on over OpenID Connect (mozilla-django-oidc): authorization code flow
with PKCE, configured by environment variables only (settings ``WMS_OIDC_*``).

The identity provider is the one place where people are managed: a user is
created or matched (by the ``WMS_OIDC_USERNAME_CLAIM``) at the first login, and
at every login its roles are set from the groups claim (values naming the
product's roles, ``wms.roles``, after ``WMS_OIDC_ROLE_PREFIX``) and its warehouse
grants from the warehouses claim (warehouse codes; ``wms.scoping``). A login whose
claims name a warehouse that does not exist is refused and changes nothing; so
is one whose token does not verify, or whose state or nonce does not match: the
person sees the refusal page, and no user is created or half-updated.
"""

import logging
from urllib.parse import urlencode

import requests
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.shortcuts import render
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

from .roles import ADMINISTRATOR, FINANCE, INVENTORY_CONTROLLER, ROLE_PERMISSIONS, SUPERVISOR
from .scoping import WAREHOUSE_PERMISSION

logger = logging.getLogger(__name__)

# Roles that work in the admin (the others use the handheld pages only).
STAFF_ROLES = {SUPERVISOR, INVENTORY_CONTROLLER, FINANCE, ADMINISTRATOR}


class ClaimsRefused(SuspiciousOperation):
    """The provider vouched for the person, but the claims cannot be applied."""


def _claim_list(claims: dict, name: str) -> list[str]:
    value = claims.get(name) or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def roles_from_claims(claims: dict) -> set[str]:
    prefix = settings.WMS_OIDC_ROLE_PREFIX
    names = _claim_list(claims, settings.WMS_OIDC_GROUPS_CLAIM)
    return {n[len(prefix) :] for n in names if n.startswith(prefix)} & set(ROLE_PERMISSIONS)


def warehouses_from_claims(claims: dict):
    """The warehouses the claim names; refuses a code that names none."""
    warehouse_model = apps.get_model("inventory", "Warehouse")
    codes = set(_claim_list(claims, settings.WMS_OIDC_WAREHOUSES_CLAIM))
    found = list(warehouse_model.objects.filter(code__in=codes))
    unknown = codes - {w.code for w in found}
    if unknown:
        raise ClaimsRefused(f"the warehouses claim names unknown warehouses: {sorted(unknown)}")
    return found


class WmsOidcBackend(OIDCAuthenticationBackend):
    """Creates or matches the user and re-applies roles and grants at each login."""

    def filter_users_by_claims(self, claims):
        username = claims.get(settings.WMS_OIDC_USERNAME_CLAIM)
        if not username:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(username=username)

    def verify_claims(self, claims):
        return bool(claims.get(settings.WMS_OIDC_USERNAME_CLAIM))

    def get_username(self, claims):
        return claims[settings.WMS_OIDC_USERNAME_CLAIM]

    @transaction.atomic
    def create_user(self, claims):
        warehouses = warehouses_from_claims(claims)  # refuse before writing anything
        user = self.UserModel(username=self.get_username(claims))
        user.set_unusable_password()
        user.save()
        return self._apply(user, claims, warehouses)

    @transaction.atomic
    def update_user(self, user, claims):
        return self._apply(user, claims, warehouses_from_claims(claims))

    def _apply(self, user, claims, warehouses):
        roles = roles_from_claims(claims)
        user.email = claims.get("email", user.email) or ""
        user.first_name = (claims.get("given_name") or user.first_name or "")[:150]
        user.last_name = (claims.get("family_name") or user.last_name or "")[:150]
        user.is_staff = bool(roles & STAFF_ROLES)
        user.is_superuser = ADMINISTRATOR in roles
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
        granted = set(
            get_objects_for_user(
                user,
                WAREHOUSE_PERMISSION,
                klass=apps.get_model("inventory", "Warehouse"),
                with_superuser=False,
                accept_global_perms=False,
            )
        )
        for warehouse in granted - set(warehouses):
            remove_perm(WAREHOUSE_PERMISSION, user, warehouse)
        for warehouse in set(warehouses) - granted:
            assign_perm(WAREHOUSE_PERMISSION, user, warehouse)
        logger.info(
            "sso login applied",
            extra={
                "userId": user.pk,
                "roles": sorted(roles),
                "warehouses": sorted(w.code for w in warehouses),
            },
        )
        return user


class CallbackView(OIDCAuthenticationCallbackView):
    """The provider's redirect back: any failure (a wrong state, a token that does not
    verify, refused claims, the provider unreachable) ends on the refusal page."""

    def get(self, request):
        try:
            return super().get(request)
        except (SuspiciousOperation, requests.RequestException) as exc:
            logger.warning("sso login refused: %s", exc)
            return self.login_failure()

    def login_failure(self):
        return render(self.request, "handheld/sso_refused.html", status=403)


def provider_logout_url(request) -> str:
    """Where logging out sends the browser: the provider's end-session endpoint, so the
    provider's session ends too (OIDC RP-initiated logout)."""
    endpoint = settings.WMS_OIDC_END_SESSION_ENDPOINT
    if not endpoint:
        return settings.LOGIN_URL
    params = {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(settings.LOGIN_URL),
    }
    if id_token := request.session.get("oidc_id_token"):
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"
