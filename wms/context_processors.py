from django.conf import settings

from .instance import current_instance


def instance(request):
    return {
        "wms_instance": current_instance(),
        # Login pages (handheld and admin): offer single sign-on, and passwords or not.
        "sso_enabled": settings.WMS_OIDC_ENABLED,
        "local_passwords": settings.WMS_LOCAL_PASSWORDS,
    }
