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

        # Delivered pick-task batches are recorded.
        connect_automation()

        from .metrics import register_collector

        # /metrics carries the conditions the alert rules watch (ops/prometheus/alerts.yml).
        register_collector()

        from .tasks import connect_kicks

        # Due deliveries and released automation work are enqueued at once.
        connect_kicks()

        from django.db.models.signals import m2m_changed, post_delete, post_save

        from .authentication import token_cache_clear_on_commit
        from .models import ApiToken, ExternalSystem

        # Remembered tokens are forgotten when a token, a system or its grants change.
        for model in (ApiToken, ExternalSystem):
            for signal in (post_save, post_delete):
                signal.connect(
                    token_cache_clear_on_commit, sender=model, dispatch_uid=f"token_cache.{model}"
                )
        m2m_changed.connect(
            token_cache_clear_on_commit,
            sender=ExternalSystem.warehouses.through,
            dispatch_uid="token_cache.grants",
        )
