from django.contrib import admin
from django.urls import include, path

from . import handheld, health, metrics

handler404 = "wms.problems.handler404"
handler500 = "wms.problems.handler500"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Before django-prometheus's: sums every process in multiprocess mode (wms/metrics.py).
    path("metrics", metrics.metrics_view, name="prometheus-django-metrics"),
    path("", include("django_prometheus.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("wms.api_urls")),
    # Before the admin's own: logging out of the admin after a single sign-on ends the
    # provider's session too (wms.sso), as on the handheld pages.
    path(
        "admin/logout/",
        handheld.HandheldLogoutView.as_view(next_page="/admin/login/"),
        name="admin-logout",
    ),
    path("admin/", admin.site.urls),
    path("handheld/", include("wms.handheld_urls")),
    # Single sign-on (wms/sso.py): /oidc/authenticate/, /oidc/callback/.
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("reports/", include("integrations.report_views")),
    path("dashboard/", include("integrations.dashboard")),
]
