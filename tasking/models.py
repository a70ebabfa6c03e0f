"""Work for people and automation: pick tasks, their confirmations, picking
exceptions and the count requests those exceptions raise.

A pick task is created when its wave is released (``tasking.services
.pick_tasks_create_for_wave``): one per order line x source location, holding
the reservations the planner made for that line at that location. Its zone
decides who works it: zones listed in ``AutomationZone`` go to an automation
system (``work_mode`` AUTOMATION, dispatched by ``integrations.automation``),
every other task waits in the pickers' work queue. Stock moves only when a
pick is confirmed (``PickConfirmation``), through
``inventory.services.reservation_consume``.

Lifecycle::

    CREATED → RELEASED → DISPATCHED (automation) → IN_PROGRESS (acknowledged)
                       → ASSIGNED (picker)       → IN_PROGRESS (location scanned)
    open → DONE (all picked) | SHORT (less, exception opened)
         | EXCEPTION (reported by the picker) | CANCELLED (order/wave cancelled)

Every change is in the task's history (django-simple-history).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from wms.history import history_user
from wms.ids import uuid7

QTY = {"max_digits": 18, "decimal_places": 3}


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


class WorkMode(models.TextChoices):
    MANUAL = "MANUAL", _("Picker (handheld)")
    AUTOMATION = "AUTOMATION", _("Automation system")


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
#: A confirmation is accepted in these (someone holds the task).
CONFIRMABLE_STATUSES = (
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
    zone = models.ForeignKey(
        "inventory.Zone",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
        help_text=_("The source location's zone (the work queue is per zone)."),
    )
    to_location = models.ForeignKey(
        "inventory.Location",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
        verbose_name=_("staging location"),
        help_text=_("Where the picked goods went (the order's staging location)."),
    )
    reservations = models.ManyToManyField(
        "inventory.InventoryReservation",
        related_name="pick_tasks",
        verbose_name=_("reservations"),
        help_text=_("What confirming this task consumes, oldest first."),
    )
    qty_to_pick = models.DecimalField(_("quantity to pick"), **QTY)
    qty_picked = models.DecimalField(_("quantity picked"), default=Decimal("0"), **QTY)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=5, help_text=_("The order's priority: 1 is the most urgent.")
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
    work_mode = models.CharField(
        _("worked by"), max_length=10, choices=WorkMode.choices, default=WorkMode.MANUAL
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("picker"),
    )
    dispatch_target = models.CharField(
        _("automation system"),
        max_length=64,
        blank=True,
        help_text=_("Code of the automation system the task was dispatched to."),
    )
    dispatch_batch = models.CharField(
        _("dispatch batch"),
        max_length=255,
        blank=True,
        help_text=_("Idempotency key of the batch that carried the task."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    delivered_at = models.DateTimeField(
        _("delivered at"), null=True, blank=True, help_text=_("The batch reached the system.")
    )
    acked_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # History is read by record id only: indexes on its foreign keys would only
    # slow down every write (order intake, planning, picking).
    history = HistoricalRecords(
        excluded_fields=["updated_at"],
        get_user=history_user,
        no_db_index=[
            "warehouse",
            "wave",
            "order",
            "order_line",
            "item",
            "from_location",
            "zone",
            "to_location",
            "assigned_to",
        ],
    )

    class Meta:
        ordering = ["id"]  # uuid7: creation order, no join (a wave ordering would add one)
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
            # A task sent to automation names its system.
            models.CheckConstraint(
                condition=~Q(status="DISPATCHED") | ~Q(dispatch_target=""),
                name="pick_task_dispatched_has_target",
            ),
        ]
        indexes = [
            models.Index(
                fields=["warehouse", "status", "pick_sequence"], name="pick_task_queue_idx"
            ),
            models.Index(fields=["order", "status"], name="pick_task_order_idx"),
            # The pickers' work queue: released manual work, best first (QA-05).
            models.Index(
                fields=["warehouse", "priority", "pick_sequence", "id"],
                condition=Q(status="RELEASED", work_mode="MANUAL"),
                name="pick_task_manual_queue_idx",
            ),
            models.Index(
                fields=["warehouse", "zone", "priority", "pick_sequence", "id"],
                condition=Q(status="RELEASED", work_mode="MANUAL"),
                name="pick_task_zone_queue_idx",
            ),
            # Work waiting for an automation dispatcher.
            models.Index(
                fields=["zone", "priority", "pick_sequence", "id"],
                condition=Q(status="RELEASED", work_mode="AUTOMATION"),
                name="pick_task_auto_queue_idx",
            ),
            # A picker's tasks in hand.
            models.Index(
                fields=["assigned_to", "status"],
                condition=Q(status__in=["ASSIGNED", "IN_PROGRESS"]),
                name="pick_task_in_hand_idx",
            ),
            # An automation system's tasks (pull API).
            models.Index(
                fields=["dispatch_target", "status", "id"],
                condition=~Q(dispatch_target=""),
                name="pick_task_dispatch_idx",
            ),
            models.Index(fields=["order_line"], name="pick_task_line_idx"),
        ]

    def __str__(self):
        return f"Pick {self.qty_to_pick} x {self.item_id} @ {self.from_location_id}"

    @property
    def qty_open(self) -> Decimal:
        return self.qty_to_pick - self.qty_picked

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def label(self) -> str:
        """Short reference for people: ``PK-`` and the last eight hex digits."""
        return f"PK-{self.id.hex[-8:].upper()}"


class ConfirmationSource(models.TextChoices):
    MANUAL = "MANUAL", _("Picker (handheld)")
    AUTOMATION = "AUTOMATION", _("Automation system")


class PickConfirmation(models.Model):
    """One confirmation of a pick task (seed 002: PickConfirmation): what was picked,
    by whom, and the postings it made (keys ``pick:<confirmation id>:<reservation id>``).

    ``request_key`` is the caller's idempotency key, scoped to the caller
    (``user:<id>:<form key>`` from a handheld page, ``system:<id>:<key>`` from
    the API): the same key never confirms twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    pick_task = models.ForeignKey(
        PickTask, on_delete=models.PROTECT, related_name="confirmations", db_index=False
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    request_key = models.CharField(_("request key"), max_length=320)
    request_fingerprint = models.CharField(max_length=64, editable=False)
    source = models.CharField(_("source"), max_length=10, choices=ConfirmationSource.choices)
    qty_picked = models.DecimalField(_("quantity picked"), **QTY)
    from_location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    to_location = models.ForeignKey(
        "inventory.Location",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
    )
    task_status = models.CharField(
        _("task status after"), max_length=12, choices=PickTaskStatus.choices
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    actor_label = models.CharField(_("by"), max_length=150, blank=True)
    external_correlation_id = models.CharField(
        _("correlation id (caller)"), max_length=128, blank=True
    )
    correlation_id = models.CharField(_("correlation id"), max_length=128, blank=True)
    confirmed_at = models.DateTimeField(
        _("confirmed at"), help_text=_("When the pick happened, as the caller reported it.")
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["-recorded_at"]
        verbose_name = _("pick confirmation")
        verbose_name_plural = _("pick confirmations")
        constraints = [
            models.CheckConstraint(
                condition=Q(qty_picked__gte=0), name="pick_confirmation_qty_non_negative"
            ),
            # Not unique=True on the field: that adds a LIKE index no query uses.
            models.UniqueConstraint(fields=["request_key"], name="pick_confirmation_request_uniq"),
        ]
        indexes = [models.Index(fields=["pick_task", "recorded_at"], name="pick_conf_task_idx")]

    def __str__(self):
        return f"{self.qty_picked} for {self.pick_task_id} ({self.source})"


class ExceptionType(models.TextChoices):
    SHORT_PICK = "SHORT_PICK", _("Short pick (less than asked)")
    LOCATION_EMPTY = "LOCATION_EMPTY", _("Location empty")
    DAMAGED = "DAMAGED", _("Damaged goods")
    WRONG_ITEM = "WRONG_ITEM", _("Wrong item at the location")
    OTHER = "OTHER", _("Other")


class ExceptionStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    RESOLVED = "RESOLVED", _("Resolved")


class ExceptionResolution(models.TextChoices):
    REALLOCATED = "REALLOCATED", _("Re-allocated from another location")
    SHORTED = "SHORTED", _("Line shorted (remainder released)")
    QUARANTINED = "QUARANTINED", _("Location quarantined and count requested")
    NOTHING_OPEN = "NOTHING_OPEN", _("Nothing left to resolve")


class ExceptionCase(models.Model):
    """A picking problem (seed 002: ExceptionCase) that a supervisor resolves with one
    of the controlled actions of ``tasking.services.exception_case_resolve``.

    While it is open the task's remaining reservation keeps the stock held, so
    nothing else allocates it; resolving releases, moves or re-allocates it
    through the outbound and inventory services.
    """

    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    type = models.CharField(_("type"), max_length=16, choices=ExceptionType.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=ExceptionStatus.choices, default=ExceptionStatus.OPEN
    )
    pick_task = models.ForeignKey(
        PickTask, on_delete=models.PROTECT, related_name="exception_cases", db_index=False
    )
    order_line = models.ForeignKey(
        "outbound.ReplenishmentOrderLine",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    item = models.ForeignKey(
        "inventory.Item", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    confirmation = models.ForeignKey(
        PickConfirmation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    qty_expected = models.DecimalField(_("expected"), **QTY)
    qty_picked = models.DecimalField(_("picked"), **QTY)
    qty_missing = models.DecimalField(
        _("missing"), help_text=_("Still reserved for the line until resolved."), **QTY
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reported_by_label = models.CharField(_("reported by"), max_length=150, blank=True)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    resolution = models.CharField(
        _("resolution"), max_length=16, choices=ExceptionResolution.choices, blank=True
    )
    resolution_note = models.CharField(_("resolution note"), max_length=500, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("picking exception")
        verbose_name_plural = _("picking exceptions")
        permissions = [("resolve_exceptioncase", "Can resolve picking exceptions")]
        constraints = [
            models.UniqueConstraint(
                fields=["pick_task"],
                condition=Q(status="OPEN"),
                name="exception_one_open_per_task",
            ),
            models.CheckConstraint(
                condition=Q(status="OPEN") | ~Q(resolution=""),
                name="exception_resolved_has_resolution",
            ),
        ]
        indexes = [
            models.Index(
                fields=["warehouse", "opened_at"],
                condition=Q(status="OPEN"),
                name="exception_open_idx",
            ),
            models.Index(fields=["pick_task"], name="exception_task_idx"),
        ]

    def __str__(self):
        return f"EX-{self.pk} {self.type}"

    @property
    def label(self) -> str:
        return f"EX-{self.pk}"


class CountRequestStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    DONE = "DONE", _("Done")
    CANCELLED = "CANCELLED", _("Cancelled")


class CountRequest(models.Model):
    """A request to count a location (raised by an exception resolution); the counting
    context picks it up."""

    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    item = models.ForeignKey(
        "inventory.Item",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        help_text=_("Empty: count everything at the location."),
    )
    exception_case = models.ForeignKey(
        ExceptionCase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="count_requests",
    )
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=CountRequestStatus.choices,
        default=CountRequestStatus.OPEN,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("count request")
        verbose_name_plural = _("count requests")
        indexes = [
            models.Index(
                fields=["warehouse", "requested_at"],
                condition=Q(status="OPEN"),
                name="count_request_open_idx",
            ),
        ]

    def __str__(self):
        return f"Count {self.location_id} ({self.status})"


class AutomationZone(models.Model):
    """A zone whose picks an automation system does: its released tasks are dispatched
    to that system (``integrations.automation``) instead of the pickers' queue."""

    zone = models.OneToOneField(
        "inventory.Zone", on_delete=models.CASCADE, related_name="automation"
    )
    system = models.ForeignKey(
        "integrations.ExternalSystem",
        on_delete=models.PROTECT,
        related_name="automation_zones",
        limit_choices_to={"type": "automation"},
        verbose_name=_("automation system"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["zone"]
        verbose_name = _("automated zone")
        verbose_name_plural = _("automated zones")

    def __str__(self):
        return f"{self.zone} → {self.system.code}"


class PackTaskStatus(models.TextChoices):
    OPEN = "OPEN", _("Open (to pack)")
    IN_PROGRESS = "IN_PROGRESS", _("Being packed")
    DONE = "DONE", _("Packed")
    CANCELLED = "CANCELLED", _("Cancelled")


class PackTask(models.Model):
    """Pack an order whose picking is over: what is picked and not yet packed.

    Created when the order's last pick task closes (done, short or resolved).
    What is left to pack is per order line, ``qty_picked - qty_packed`` on the
    line (outbound owns those numbers; packing writes them through
    ``outbound.services``); the staged stock stays in the order's staging
    location until the shipment is confirmed.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    order = models.OneToOneField(
        "outbound.ReplenishmentOrder", on_delete=models.PROTECT, related_name="pack_task"
    )
    status = models.CharField(
        _("status"), max_length=12, choices=PackTaskStatus.choices, default=PackTaskStatus.OPEN
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("packer"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("pack task")
        verbose_name_plural = _("pack tasks")
        indexes = [
            models.Index(
                fields=["warehouse", "created_at", "id"],
                condition=Q(status__in=["OPEN", "IN_PROGRESS"]),
                name="pack_task_open_idx",
            ),
        ]

    def __str__(self):
        return f"Pack {self.order_id} ({self.status})"


# Disconnected operations (issue 16) live in their own module; imported here so
# Django registers them with the app.
from .offline_models import (  # noqa: E402, F401
    ConflictStatus,
    HandheldDevice,
    SyncEntry,
    SyncOutcome,
)
