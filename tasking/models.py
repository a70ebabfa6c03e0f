"""Work for people and automation: pick tasks (this module), later put-away and
pack tasks, confirmations and exceptions.

A pick task is created when its wave is released (``tasking.services
.pick_tasks_create_for_wave``): one per order line x source location, holding
the reservations the planner made for that line at that location. Stock moves
only when a pick is confirmed, through ``inventory.services.reservation_consume``.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from outbound.models import history_user, uuid7


class PickTaskStatus(models.TextChoices):
    CREATED = "CREATED", _("Created")
    RELEASED = "RELEASED", _("Released (ready to work)")
    DISPATCHED = "DISPATCHED", _("Dispatched to automation")
    ASSIGNED = "ASSIGNED", _("Assigned to a picker")
    IN_PROGRESS = "IN_PROGRESS", _("In progress")
    DONE = "DONE", _("Done")
    SHORT = "SHORT", _("Short picked")
    EXCEPTION = "EXCEPTION", _("Exception")
    CANCELLED = "CANCELLED", _("Cancelled")


#: Nobody has the task in hand yet: cancelling it cannot race a picker or a robot.
NOT_STARTED_STATUSES = (PickTaskStatus.CREATED, PickTaskStatus.RELEASED)
#: The task still expects a confirmation.
OPEN_STATUSES = (
    PickTaskStatus.CREATED,
    PickTaskStatus.RELEASED,
    PickTaskStatus.DISPATCHED,
    PickTaskStatus.ASSIGNED,
    PickTaskStatus.IN_PROGRESS,
)


class PickTask(models.Model):
    """Pick ``qty_to_pick`` of ``item`` from ``from_location`` for one order line."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    wave = models.ForeignKey(
        "outbound.Wave", on_delete=models.PROTECT, related_name="pick_tasks", db_index=False
    )
    order = models.ForeignKey(
        "outbound.ReplenishmentOrder",
        on_delete=models.PROTECT,
        related_name="pick_tasks",
        db_index=False,
    )
    order_line = models.ForeignKey(
        "outbound.ReplenishmentOrderLine",
        on_delete=models.PROTECT,
        related_name="pick_tasks",
        db_index=False,
    )
    item = models.ForeignKey(
        "inventory.Item", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    from_location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reservations = models.ManyToManyField(
        "inventory.InventoryReservation",
        related_name="pick_tasks",
        verbose_name=_("reservations"),
        help_text=_("What confirming this task consumes, oldest first."),
    )
    qty_to_pick = models.DecimalField(_("quantity to pick"), max_digits=18, decimal_places=3)
    qty_picked = models.DecimalField(
        _("quantity picked"), max_digits=18, decimal_places=3, default=Decimal("0")
    )
    pick_sequence = models.PositiveIntegerField(
        _("pick sequence"), help_text=_("The source location's place on the pick path.")
    )
    sequence = models.PositiveIntegerField(
        _("sequence in wave"), help_text=_("1, 2, … along the pick path of the wave.")
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=PickTaskStatus.choices,
        default=PickTaskStatus.CREATED,
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"], get_user=history_user)

    class Meta:
        ordering = ["wave", "sequence"]
        verbose_name = _("pick task")
        verbose_name_plural = _("pick tasks")
        constraints = [
            # One live task per order line x source location: re-running a
            # release finds the task instead of creating a second one.
            models.UniqueConstraint(
                fields=["order_line", "from_location"],
                condition=~Q(status="CANCELLED"),
                name="pick_task_line_location_uniq",
            ),
            models.UniqueConstraint(fields=["wave", "sequence"], name="pick_task_wave_seq_uniq"),
            models.CheckConstraint(condition=Q(qty_to_pick__gt=0), name="pick_task_qty_positive"),
            models.CheckConstraint(
                condition=Q(qty_picked__gte=0) & Q(qty_picked__lte=F("qty_to_pick")),
                name="pick_task_picked_within_qty",
            ),
        ]
        indexes = [
            models.Index(
                fields=["warehouse", "status", "pick_sequence"], name="pick_task_queue_idx"
            ),
            models.Index(fields=["order", "status"], name="pick_task_order_idx"),
        ]

    def __str__(self):
        return f"Pick {self.qty_to_pick} x {self.item_id} @ {self.from_location_id}"
