"""The handheld shell: login, logout and the home menu of the floor's scanner pages.

Pages for handhelds extend ``templates/handheld/base.html`` (mobile first,
large targets, the scan field focused, Enter submits, clear success and error
banners, English and Spanish). Each app adds its entries to the home menu from
its ``AppConfig.ready``::

    from wms.handheld import MenuEntry, register_menu_entry

    register_menu_entry(
        MenuEntry(
            key="picking.pick",
            label=_("Pick"),
            url_name="handheld-pick",
            permissions=("tasking.change_picktask",),
            order=30,
        )
    )

An entry is shown to a user who holds any of its ``permissions`` (all entries
to a superuser); entries are sorted by ``order``, then label. The shell itself
depends on no app.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.functional import Promise


@dataclass(frozen=True)
class MenuEntry:
    key: str
    label: str | Promise
    url_name: str
    permissions: tuple[str, ...] = ()
    order: int = 100
    hint: str | Promise = ""

    def visible_to(self, user) -> bool:
        if user.is_superuser or not self.permissions:
            return True
        return any(user.has_perm(perm) for perm in self.permissions)


_MENU: dict[str, MenuEntry] = {}


def register_menu_entry(entry: MenuEntry) -> None:
    """Add (or replace, by ``key``) an entry of the home menu."""
    _MENU[entry.key] = entry


def menu_for(user) -> list[dict]:
    entries = sorted(
        (entry for entry in _MENU.values() if entry.visible_to(user)),
        key=lambda entry: (entry.order, str(entry.label)),
    )
    return [
        {"key": entry.key, "label": entry.label, "hint": entry.hint, "url": reverse(entry.url_name)}
        for entry in entries
    ]


@login_required
def home(request):
    return render(request, "handheld/home.html", {"menu": menu_for(request.user)})


class HandheldLoginView(auth_views.LoginView):
    template_name = "handheld/login.html"
    redirect_authenticated_user = True


class HandheldLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("handheld-login")

    def post(self, request, *args, **kwargs):
        # After a single sign-on, end the provider's session too (wms.sso).
        provider_logout = None
        if settings.WMS_OIDC_ENABLED and request.session.get("oidc_id_token"):
            from .sso import provider_logout_url

            provider_logout = provider_logout_url(request)
        response = super().post(request, *args, **kwargs)
        return redirect(provider_logout) if provider_logout else response
