"""External systems (stores, automation, finance) and their API tokens."""

import hashlib

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class SystemType(models.TextChoices):
    STORE = "store", _("Store")
    AUTOMATION = "automation", _("Automation")
    FINANCE = "finance", _("Finance")


class ExternalSystem(models.Model):
    type = models.CharField(_("type"), max_length=16, choices=SystemType.choices)
    code = models.CharField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    warehouses = models.ManyToManyField(
        "inventory.Warehouse",
        related_name="external_systems",
        blank=True,
        verbose_name=_("warehouses granted"),
    )
    endpoint_url = models.URLField(
        _("push endpoint"), blank=True, help_text=_("Where store-and-forward deliveries go.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(m2m_fields=[warehouses])

    class Meta:
        ordering = ["code"]
        verbose_name = _("external system")
        verbose_name_plural = _("external systems")

    def __str__(self):
        return f"{self.code} ({self.get_type_display()})"


class ApiToken(models.Model):
    """A token is stored only as its SHA-256 hash; the key is shown when issued.

    The key itself is derived from ``SECRET_KEY`` and a random salt (see
    ``integrations.services.api_token_key``), so an operator who holds the
    instance secret can show it again without the database holding it.
    """

    system = models.ForeignKey(ExternalSystem, on_delete=models.CASCADE, related_name="tokens")
    salt = models.CharField(max_length=32, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        constraints = [
            models.UniqueConstraint(
                fields=["system"],
                condition=Q(revoked_at__isnull=True),
                name="one_live_token_per_system",
            ),
        ]

    def __str__(self):
        return f"{self.prefix}… ({self.system.code})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()
