"""External systems (stores, automation, finance), their API tokens, the log of
every exchange with them (``IntegrationMessage``), webhook subscriptions and
the store-and-forward deliveries that carry events and pushes to them."""

import hashlib

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
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
    """A token is stored only as its SHA-256 hash; the key is shown once, when issued.

    The key is 160 random bits (``integrations.services``): nothing, not even
    ``SECRET_KEY``, can show it again; a lost key is replaced by rotating it.
    A token stops working when revoked or once ``expires_at`` has passed
    (``WMS_API_TOKEN_DAYS`` after it was issued; none when that is 0).
    """

    system = models.ForeignKey(ExternalSystem, on_delete=models.CASCADE, related_name="tokens")
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
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
        # A fast hash is enough: the key is 160 random bits, not a password to guess.
        return hashlib.sha256(key.encode()).hexdigest()

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


# --- Integration messages -----------------------------------------------------


class MessageDirection(models.TextChoices):
    INBOUND = "INBOUND", _("Inbound")
    OUTBOUND = "OUTBOUND", _("Outbound")


class MessageStatus(models.TextChoices):
    PROCESSED = "PROCESSED", _("Processed")
    REPLAYED = "REPLAYED", _("Replayed (idempotent retry)")
    REJECTED = "REJECTED", _("Rejected")
    DELIVERED = "DELIVERED", _("Delivered")
    FAILED = "FAILED", _("Failed (will retry)")
    DEAD = "DEAD", _("Dead (retry budget spent)")


class IntegrationMessage(models.Model):
    """One exchange with an external system, in either direction (seed 002).

    An append-only log for troubleshooting and reconciliation: what came in or
    went out, under which idempotency key and correlation id, and how it ended.
    The payload itself stays where it lives (``payload_ref`` names it, e.g.
    ``IdempotencyRecord:42`` or ``WebhookDelivery:7``).
    """

    system = models.ForeignKey(
        ExternalSystem,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("external system"),
    )
    direction = models.CharField(_("direction"), max_length=8, choices=MessageDirection.choices)
    message_type = models.CharField(_("message type"), max_length=200)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=MessageStatus.choices)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    correlation_id = models.CharField(_("correlation id"), max_length=128, blank=True)
    payload_ref = models.CharField(_("payload reference"), max_length=200, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), db_default=Now())

    class Meta:
        ordering = ["-id"]
        verbose_name = _("integration message")
        verbose_name_plural = _("integration messages")
        indexes = [
            models.Index(fields=["system", "-id"], name="intmsg_system_idx"),
            models.Index(fields=["correlation_id"], name="intmsg_correlation_idx"),
            models.Index(fields=["idempotency_key"], name="intmsg_idem_key_idx"),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} {self.message_type} ({self.get_status_display()})"


# --- Webhooks and store-and-forward deliveries ---------------------------------


class WebhookSubscription(models.Model):
    """An external system's wish to receive some event types by HTTP POST.

    The signing secret is not stored: like API tokens it is derived from the
    instance ``SECRET_KEY`` and a random salt (``integrations.webhooks``), and
    shown once when the subscription is created or its secret rotated.
    """

    system = models.ForeignKey(
        ExternalSystem,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        verbose_name=_("external system"),
    )
    url = models.URLField(_("target URL"), max_length=500)
    event_types = models.JSONField(
        _("event types"),
        default=list,
        help_text=_('Event types to send, e.g. ["order.accepted", "shipment.*"]; "*" for all.'),
    )
    secret_salt = models.CharField(max_length=32, editable=False)
    max_attempts = models.PositiveSmallIntegerField(
        _("retry budget"), default=8, help_text=_("Attempts before a delivery is dead-lettered.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["secret_salt"])

    class Meta:
        ordering = ["system__code", "id"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self):
        return f"{self.system.code} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    RETRYING = "RETRYING", _("Failed, will retry")
    DELIVERED = "DELIVERED", _("Delivered")
    DEAD = "DEAD", _("Dead letter")


class DeliveryKind(models.TextChoices):
    EVENT = "event", _("Event webhook")
    PICK_TASK_BATCH = "pick_task_batch", _("Pick task batch")
    OTHER = "other", _("Other")


class WebhookDelivery(models.Model):
    """One HTTP POST to an external system, stored and forwarded until it lands.

    Generic store-and-forward: event webhooks create one per (subscription,
    event); other pushes (e.g. the automation connector's pick-task batches)
    create their own with ``kind`` and an ``idempotency_key``. Each attempt
    is signed, retried with exponential backoff and jitter, and dead-lettered
    once ``max_attempts`` is spent; the admin replays dead ones.
    """

    system = models.ForeignKey(
        ExternalSystem,
        on_delete=models.PROTECT,
        related_name="deliveries",
        verbose_name=_("external system"),
    )
    subscription = models.ForeignKey(
        WebhookSubscription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    kind = models.CharField(max_length=20, choices=DeliveryKind.choices, default=DeliveryKind.EVENT)
    event_id = models.UUIDField(_("event id"), null=True, blank=True)
    event_type = models.CharField(_("event type"), max_length=64, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    url = models.URLField(_("target URL"), max_length=500)
    body = models.TextField(_("body (JSON)"))
    correlation_id = models.CharField(_("correlation id"), max_length=128, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("retry budget"), default=8)
    next_attempt_at = models.DateTimeField(_("next attempt"), db_default=Now())
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_http_status = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        ordering = ["-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            # The relay may hand an event over twice (at least once); one delivery each.
            models.UniqueConstraint(
                fields=["subscription", "event_id"],
                condition=Q(subscription__isnull=False, event_id__isnull=False),
                name="delivery_one_per_subscription_event",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status__in=["PENDING", "RETRYING"]),
                name="delivery_due_idx",
            ),
            models.Index(fields=["status", "-id"], name="delivery_status_idx"),
        ]

    def __str__(self):
        return f"{self.kind} {self.event_type or self.idempotency_key} → {self.system.code}"
