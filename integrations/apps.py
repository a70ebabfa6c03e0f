from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self):
        from .messages import connect_receivers

        # Inbound idempotent API calls of external systems land in the message log.
        connect_receivers()

        from .automation import connect_receivers as connect_automation

        # Delivered pick-task batches are recorded; released automation work is dispatched.
        connect_automation()
