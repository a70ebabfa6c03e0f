"""``/api/v1/``: every app contributes its routes here (contract: CONTRACT.md)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# The docs page: Swagger UI from our static files (drf-spectacular-sidecar) and its
# start script from this origin (the split view): nothing inline, no CDN.
api_docs = SpectacularSwaggerSplitView.as_view(url_name="api-schema")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", api_docs, name="api-docs"),
    path("", include("inventory.urls")),
    path("", include("inbound.urls")),
    path("", include("outbound.urls")),
    path("", include("integrations.automation_urls")),
    path("", include("counting.urls")),
    path("", include("integrations.reports_api")),
]
