"""``/handheld/``: the scanner shell and every app's handheld pages.

Apps mount their pages below (``path("<app>/", include("<app>.handheld_urls"))``)
and add menu entries with ``wms.handheld.register_menu_entry``.
"""

from django.urls import include, path

from . import handheld

urlpatterns = [
    path("", handheld.home, name="handheld-home"),
    path("login/", handheld.HandheldLoginView.as_view(), name="handheld-login"),
    path("logout/", handheld.HandheldLogoutView.as_view(), name="handheld-logout"),
    path("inbound/", include("inbound.handheld_urls")),
    path("picking/", include("tasking.handheld_urls")),
    path("counting/", include("counting.handheld_urls")),
    path("offline/", include("tasking.offline_urls")),
]
