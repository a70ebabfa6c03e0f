"""``/api/v1/``: every app contributes its routes here (contract: CONTRACT.md)."""

from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# The docs page: Swagger UI's bundle comes from its CDN, its start script from
# this origin (the split view), so the CSP needs the CDN and nothing inline.
_SWAGGER_CDN = "https://cdn.jsdelivr.net"
api_docs = csp_update(
    {"script-src": [_SWAGGER_CDN], "style-src": [_SWAGGER_CDN], "img-src": [_SWAGGER_CDN]}
)(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))

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
