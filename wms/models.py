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
        ]

    def __str__(self):
        return f"{self.event_type} {self.aggregate_type}:{self.aggregate_id}"
