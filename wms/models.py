"""Kernel tables shared by every bounded context.

``OutboxEvent`` lives in the kernel (not in ``integrations``) so that
inventory, outbound and the others can write events in their own transaction
without depending on the integration layer; the relay that publishes them is
in ``integrations``.
"""

import uuid

from django.conf import settings
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
        # Each index with the statement that needs it (docs/architecture.md, "The
        # outbox's indexes"); besides them the primary key (retention's batches,
        # the push's "after id", the admin's order) and the unique event_id.
        indexes = [
            # A shipment's events on its admin page (published ones too).
            models.Index(
                fields=["aggregate_type", "aggregate_id", "id"], name="outbox_aggregate_idx"
            ),
            # The relay takes the oldest pending events, however many are published;
            # the depth and lag gauges and the outbox-lag alert count and age them.
            models.Index(
                fields=["id"], condition=Q(status="PENDING"), name="outbox_pending_id_idx"
            ),
            # The relay asks "is there an earlier pending event of this aggregate?"
            models.Index(
                fields=["aggregate_type", "aggregate_id", "id"],
                condition=Q(status="PENDING"),
                name="outbox_agg_pending_idx",
            ),
            # The dead-letter alert and the delivery-health report count dead events.
            # No insert or publish writes it (neither row is DEAD): only a give-up does.
            models.Index(fields=["id"], condition=Q(status="DEAD"), name="outbox_dead_id_idx"),
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


# --- Alerts and scheduled reports (issue 17) --------------------------------------
#
# Kernel tables because the conditions span every app (stock, exceptions, orders,
# the outbox): ``integrations.alerts`` evaluates them; ``wms.alerts`` opens and
# closes alerts and ``integrations.scheduled_reports`` mails subscriptions.


class AlertKind(models.TextChoices):
    LOW_STOCK = "LOW_STOCK", _("Stock below a minimum")
    EXCEPTION_AGE = "EXCEPTION_AGE", _("Exception open too long")
    UNPLANNED_BACKLOG = "UNPLANNED_BACKLOG", _("Backlog of unplanned orders")
    OUTBOX_LAG = "OUTBOX_LAG", _("Outbox events waiting too long")
    DEAD_LETTERS = "DEAD_LETTERS", _("Dead letters (outbox or webhooks)")
    PLANNING_FAILED = "PLANNING_FAILED", _("Planning job failed")
    COUNT_VARIANCE_QTY = "COUNT_VARIANCE_QTY", _("Count variance above a quantity")
    COUNT_VARIANCE_VALUE = "COUNT_VARIANCE_VALUE", _("Count variance above a value")


class AlertRule(models.Model):
    """A condition watched in one warehouse; ``threshold`` means what ``kind`` says:
    minutes for ``EXCEPTION_AGE`` and ``OUTBOX_LAG``, a count of orders for
    ``UNPLANNED_BACKLOG``, of dead letters for ``DEAD_LETTERS``; the absolute variance
    of a count line (base units, or value at unit cost) for ``COUNT_VARIANCE_QTY`` /
    ``COUNT_VARIANCE_VALUE``; unused for ``LOW_STOCK`` (its minimums are
    ``StockMinimum`` rows)."""

    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("warehouse"),
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=AlertKind.choices)
    threshold = models.DecimalField(
        _("threshold"), max_digits=14, decimal_places=3, default=0, blank=True
    )
    recipients = models.TextField(
        _("e-mail recipients"), blank=True, help_text=_("One address per line or comma.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        ordering = ["warehouse", "kind", "name"]
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=0), name="alert_rule_threshold_gte0")
        ]

    def __str__(self):
        return self.name

    @property
    def recipient_list(self) -> list[str]:
        return [a.strip() for a in self.recipients.replace(",", "\n").splitlines() if a.strip()]


class StockMinimum(models.Model):
    """The least on hand (base units, allocatable status) of an item, in one location
    (a pick face) or in the whole warehouse when ``location`` is empty."""

    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, related_name="minimums", verbose_name=_("rule")
    )
    item = models.ForeignKey(
        "inventory.Item", on_delete=models.CASCADE, related_name="+", verbose_name=_("item")
    )
    location = models.ForeignKey(
        "inventory.Location",
        on_delete=models.CASCADE,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("location"),
    )
    min_qty = models.DecimalField(_("minimum"), max_digits=18, decimal_places=3)

    class Meta:
        ordering = ["rule", "id"]
        verbose_name = _("stock minimum")
        verbose_name_plural = _("stock minimums")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "item", "location"],
                nulls_distinct=False,
                name="stock_minimum_uniq",
            ),
            models.CheckConstraint(condition=Q(min_qty__gt=0), name="stock_minimum_positive"),
        ]

    def __str__(self):
        return f"{self.item_id}@{self.location_id or '*'} ≥ {self.min_qty}"


class AlertStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    CLOSED = "CLOSED", _("Closed")


class Alert(models.Model):
    """One occurrence of a rule's condition for one subject (an item and location,
    an exception, the warehouse): opened when the condition starts to hold, closed
    when it clears. At most one open alert per rule and subject (a partial unique
    index), so evaluating again while it holds changes nothing."""

    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("rule")
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    subject = models.CharField(_("subject"), max_length=200)
    status = models.CharField(
        _("status"), max_length=8, choices=AlertStatus.choices, default=AlertStatus.OPEN
    )
    message = models.CharField(_("message"), max_length=500)
    detail = models.JSONField(_("detail"), encoder=DjangoJSONEncoder, default=dict)
    opened_at = models.DateTimeField(_("opened at"), db_default=Now())
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject"],
                condition=Q(status="OPEN"),
                name="alert_one_open_per_rule_subject",
            ),
        ]
        indexes = [
            models.Index(
                fields=["warehouse", "opened_at"],
                condition=Q(status="OPEN"),
                name="alert_open_wh_idx",
            )
        ]

    def __str__(self):
        return f"{self.rule_id}:{self.subject} {self.status}"


class ReportFrequency(models.TextChoices):
    DAILY = "DAILY", _("Daily")
    WEEKLY = "WEEKLY", _("Weekly")


class ReportSubscription(models.Model):
    """A report mailed as an attachment every day or week (``next_run_at`` on)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
        help_text=_("The report is built with this person's warehouses and permissions."),
    )
    report = models.CharField(_("report"), max_length=40)
    params = models.JSONField(_("filters"), default=dict, blank=True)
    file_format = models.CharField(
        _("format"), max_length=4, choices=[("csv", "CSV"), ("xlsx", "XLSX")], default="xlsx"
    )
    frequency = models.CharField(
        _("frequency"), max_length=8, choices=ReportFrequency.choices, default=ReportFrequency.DAILY
    )
    recipients = models.TextField(_("e-mail recipients"), help_text=_("One per line or comma."))
    is_active = models.BooleanField(_("active"), default=True)
    next_run_at = models.DateTimeField(_("next run"), db_default=Now())
    last_sent_at = models.DateTimeField(_("last sent"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["next_run_at", "id"]
        verbose_name = _("report subscription")
        verbose_name_plural = _("report subscriptions")
        indexes = [
            models.Index(fields=["next_run_at"], condition=Q(is_active=True), name="report_sub_due")
        ]

    def __str__(self):
        return f"{self.report} {self.frequency}"

    @property
    def recipient_list(self) -> list[str]:
        return [a.strip() for a in self.recipients.replace(",", "\n").splitlines() if a.strip()]
