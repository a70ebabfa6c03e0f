"""Disconnected operations (issue 16): the handhelds that sync, and every entry they sent.

A handheld keeps the floor actions it could not send in an IndexedDB queue;
on reconnect it posts them in batches to ``/handheld/offline/sync/``
(``tasking.offline_sync``). Each entry is applied once, through the same
service as the online action, and leaves one ``SyncEntry`` row: its outcome,
the device's time beside the server's, and the original entry. A refused entry
that conflicts with what happened meanwhile (task reassigned or cancelled,
stock gone) is a supervisor's case (``conflict_status`` OPEN) until resolved.

Exactly once: (user, key) is unique. A retry of a batch whose answer was lost
finds the row and is answered from it; a concurrent duplicate waits on the
unique index until the first commits, then finds it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class HandheldDevice(models.Model):
    """One browser profile on a handheld (its id is made by the device, kept in
    IndexedDB); the counters are what the operator view shows."""

    device_key = models.CharField(_("device id"), max_length=64, unique=True)
    last_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("last user"),
    )
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)
    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    last_pending = models.PositiveIntegerField(
        _("queued at last sync"),
        default=0,
        help_text=_("Entries the device said it still held when it last synced."),
    )
    entries_received = models.PositiveIntegerField(_("entries received"), default=0)
    entries_applied = models.PositiveIntegerField(_("applied"), default=0)
    entries_refused = models.PositiveIntegerField(_("refused"), default=0)
    conflicts = models.PositiveIntegerField(_("conflicts"), default=0)

    class Meta:
        ordering = ["-last_sync_at", "device_key"]
        verbose_name = _("handheld device")
        verbose_name_plural = _("handheld devices")

    def __str__(self):
        return self.device_key


class SyncOutcome(models.TextChoices):
    APPLIED = "APPLIED", _("Applied")
    REFUSED = "REFUSED", _("Refused")


class ConflictStatus(models.TextChoices):
    NONE = "", _("No conflict")
    OPEN = "OPEN", _("Open")
    RESOLVED = "RESOLVED", _("Resolved")


class SyncEntry(models.Model):
    """One floor action a device queued and sent: applied once, or refused with a reason."""

    device = models.ForeignKey(
        HandheldDevice, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    key = models.CharField(_("key"), max_length=64)
    fingerprint = models.CharField(max_length=64, editable=False)
    kind = models.CharField(_("action"), max_length=32)
    subject = models.CharField(
        _("subject"), max_length=64, blank=True, help_text=_("The task (or ASN) it is about.")
    )
    payload = models.JSONField(_("entry as sent"))
    happened_at = models.DateTimeField(_("time on the floor (device clock)"))
    received_at = models.DateTimeField(_("received (server clock)"), default=timezone.now)
    sequence = models.PositiveIntegerField(_("order on the device"), default=0)
    outcome = models.CharField(_("outcome"), max_length=10, choices=SyncOutcome.choices)
    reason_code = models.CharField(_("reason code"), max_length=64, blank=True)
    message = models.CharField(_("message"), max_length=500, blank=True)
    conflict_status = models.CharField(
        _("conflict"), max_length=10, choices=ConflictStatus.choices, blank=True, default=""
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("handheld sync entry")
        verbose_name_plural = _("handheld sync entries")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="sync_entry_user_key_uniq"),
            models.CheckConstraint(
                condition=Q(conflict_status="") | Q(outcome="REFUSED"),
                name="sync_entry_conflict_is_refused",
            ),
        ]
        indexes = [
            models.Index(fields=["device", "received_at"], name="sync_entry_device_idx"),
            models.Index(
                fields=["received_at"],
                condition=Q(conflict_status="OPEN"),
                name="sync_entry_open_conflict_idx",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.key} ({self.outcome})"
