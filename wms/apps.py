from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WmsConfig(AppConfig):
    name = "wms"
    verbose_name = "WMS kernel"

    def ready(self):
        from . import (
            checks,  # noqa: F401  registers the system checks
            metrics,  # noqa: F401  business metrics and their signal receiver
            schema,  # noqa: F401  registers the OpenAPI auth extension
        )
        from .roles import roles_sync_after_migrate

        # Runs after every migrate, when every app's permissions exist, so
        # roles pick up models added later.
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="wms.roles_sync")
