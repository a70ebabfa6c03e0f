"""Kernel tables shared by every bounded context.

``OutboxEvent`` lives in the kernel (not in ``integrations``) so that
inventory, outbound and the others can write events in their own transaction
without depending on the integration layer; the relay that publishes them is
in ``integrations``.
"""

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class OutboxStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    PUBLISHED = "PUBLISHED", _("Published")
    DEAD = "DEAD", _("Dead")


class OutboxEvent(models.Model):
    """One domain event, written in the transaction of the change it reports."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField(default=1)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(db_default=Now())
    correlation_id = models.CharField(max_length=128, blank=True)
    data = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_default=Now())
    published_at = models.DateTimeField(null=True, blank=True)
    sink = models.CharField(
        max_length=16,
        blank=True,
        help_text=_('Where the relay published it: "amqp" (the event bus) or "log" (no bus).'),
    )
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="PENDING"),
                name="outbox_pending_idx",
            ),
            models.Index(
                fields=["aggregate_type", "aggregate_id", "id"], name="outbox_aggregate_idx"
            ),
            models.Index(fields=["event_type", "id"], name="outbox_type_idx"),
            # The relay takes the oldest pending events, however many are published.
            models.Index(
                fields=["id"], condition=Q(status="PENDING"), name="outbox_pending_id_idx"
            ),
            # The relay asks "is there an earlier pending event of this aggregate?"
            models.Index(
                fields=["aggregate_type", "aggregate_id", "id"],
                condition=Q(status="PENDING"),
                name="outbox_agg_pending_idx",
            ),
        ]

    def __str__(self):
        return f"{self.event_type} {self.aggregate_type}:{self.aggregate_id}"


class IdempotencyRecord(models.Model):
    """The stored outcome of one idempotent request (CONTRACT.md, Idempotency).

    Written by ``wms.idempotency.idempotent`` in the transaction of the effect,
    so an outcome exists if and only if the effect committed. ``scope`` names
    the calling client (``system:<id>`` or ``user:<id>``): two clients may use
    the same key independently.
    """

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(
        max_length=64, help_text=_("SHA-256 of method, path and canonical body.")
    )
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    response_status = models.PositiveSmallIntegerField()
    # The JSON text as first sent (jsonb would reorder keys: a replay must be
    # the same bytes).
    response_body = models.TextField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_uniq"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self):
        return f"{self.scope} {self.key} → {self.response_status}"
