"""Outbound documents: replenishment orders and their lines, allocations, waves,
planning jobs and the per-warehouse wave policy.

Orders are written by ``outbound.services`` (intake, cancel) and
``outbound.planning`` (allocation, waves); stock itself only ever changes
through ``inventory.services`` — an ``Allocation`` records which reservation
the planner made for which line, it holds no stock of its own.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from wms.history import history_user
from wms.ids import uuid7

QTY_DIGITS = 18
QTY_DECIMALS = 3
ZERO = Decimal("0")


def _qty_field(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name, max_digits=QTY_DIGITS, decimal_places=QTY_DECIMALS, **kwargs
    )


class OrderStatus(models.TextChoices):
    ACCEPTED = "ACCEPTED", _("Accepted")
    PLANNED = "PLANNED", _("Planned")
    BACKORDERED = "BACKORDERED", _("Backordered")
    RELEASED = "RELEASED", _("Released")
    PICKING = "PICKING", _("Picking")
    PACKED = "PACKED", _("Packed")
    SHIPPED = "SHIPPED", _("Shipped")
    CANCELLED = "CANCELLED", _("Cancelled")
    REJECTED = "REJECTED", _("Rejected")


#: Orders in these states may still be (re)planned.
PLANNABLE_STATUSES = (OrderStatus.ACCEPTED, OrderStatus.BACKORDERED)
#: A planning pass ends an order in one of these.
FINAL_PLANNING_STATUSES = (
    OrderStatus.PLANNED,
    OrderStatus.BACKORDERED,
    OrderStatus.REJECTED,
    OrderStatus.RELEASED,
    OrderStatus.CANCELLED,
)
#: Cancel is accepted (and releases the reservations) only before picking.
CANCELLABLE_STATUSES = (
    OrderStatus.ACCEPTED,
    OrderStatus.PLANNED,
    OrderStatus.BACKORDERED,
    OrderStatus.RELEASED,
)


class ReplenishmentOrder(models.Model):
    """Demand of one store for one warehouse (CONTRACT.md, Store integration)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    store_code = models.CharField(_("store"), max_length=64)
    external_order_id = models.CharField(_("external order id"), max_length=64)
    status = models.CharField(
        _("status"), max_length=12, choices=OrderStatus.choices, default=OrderStatus.ACCEPTED
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(9)],
        help_text=_("1 is the most urgent, 9 the least."),
    )
    requested_ship_by = models.DateTimeField(_("requested ship by"), null=True, blank=True)
    planning_group = models.PositiveSmallIntegerField(
        _("planning group"),
        default=0,
        help_text=_("Partition of the planning work (planners of different groups never meet)."),
    )
    needs_planning = models.BooleanField(
        _("awaiting planning"),
        default=True,
        help_text=_("Set on intake and when stock for a backorder appears; cleared by a pass."),
    )
    rejection_reasons = models.JSONField(_("rejection reasons"), default=list, blank=True)
    wave = models.ForeignKey(
        "Wave",
        on_delete=models.PROTECT,
        related_name="orders",
        null=True,
        blank=True,
        db_index=False,
    )
    zone = models.ForeignKey(
        "inventory.Zone",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
        help_text=_("The zone most of the order is picked from (wave grouping)."),
    )
    correlation_id = models.CharField(_("correlation id"), max_length=128, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), default=timezone.now)
    planned_at = models.DateTimeField(_("planned at"), null=True, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    packed_at = models.DateTimeField(_("packed at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    shipment = models.ForeignKey(
        "outbound.Shipment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("shipment"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # History is read by record id only: indexes on its foreign keys would only
    # slow down every write (order intake, planning, picking).
    history = HistoricalRecords(
        get_user=history_user, no_db_index=["warehouse", "wave", "zone", "shipment"]
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = _("replenishment order")
        verbose_name_plural = _("replenishment orders")
        constraints = [
            # The natural duplicate of CONTRACT.md: one externalOrderId per store.
            models.UniqueConstraint(
                fields=["store_code", "external_order_id"], name="order_external_id_per_store"
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=1) & Q(priority__lte=9), name="order_priority_range"
            ),
        ]
        indexes = [
            # The planning queue of one partition, in the order planners take it.
            models.Index(
                fields=["warehouse", "planning_group", "priority", "requested_ship_by", "id"],
                condition=Q(needs_planning=True),
                name="order_planning_queue_idx",
            ),
            # Planned orders not yet in a wave (wave building).
            models.Index(
                fields=["warehouse", "id"],
                condition=Q(status="PLANNED", wave__isnull=True),
                name="order_unwaved_idx",
            ),
            models.Index(fields=["warehouse", "status", "id"], name="order_wh_status_idx"),
            models.Index(fields=["wave"], condition=Q(wave__isnull=False), name="order_wave_idx"),
        ]

    def __str__(self):
        return f"{self.store_code}/{self.external_order_id}"


class LineStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    ALLOCATED = "ALLOCATED", _("Allocated")
    BACKORDERED = "BACKORDERED", _("Backordered")
    CANCELLED = "CANCELLED", _("Cancelled")
    REJECTED = "REJECTED", _("Rejected")


class ReplenishmentOrderLine(models.Model):
    """One SKU of an order. ``qty_requested`` is in ``uom`` as the store sent it;
    every other quantity is in the item's base unit (the unit of stock)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    order = models.ForeignKey(
        ReplenishmentOrder, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    line_number = models.PositiveIntegerField(_("line number"))
    item = models.ForeignKey(
        "inventory.Item", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    uom = models.ForeignKey(
        "inventory.UnitOfMeasure", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    qty_requested = _qty_field(_("quantity requested (order unit)"))
    base_units_per_uom = models.DecimalField(
        _("base units per order unit"), max_digits=14, decimal_places=4, default=Decimal("1")
    )
    qty_requested_base = _qty_field(_("quantity requested (base unit)"))
    qty_allocated = _qty_field(_("allocated (base unit)"), default=ZERO)
    qty_picked = _qty_field(_("picked (base unit)"), default=ZERO)
    qty_packed = _qty_field(_("packed (base unit)"), default=ZERO)
    qty_shipped = _qty_field(_("shipped (base unit)"), default=ZERO)
    status = models.CharField(
        _("status"), max_length=12, choices=LineStatus.choices, default=LineStatus.OPEN
    )
    plan_round = models.PositiveIntegerField(
        _("planning round"),
        default=0,
        help_text=_("Counts passes that allocated to this line; part of its posting keys."),
    )
    # History is read by record id only: indexes on its foreign keys would only
    # slow down every write (order intake, planning, picking).
    history = HistoricalRecords(get_user=history_user, no_db_index=["order", "item", "uom"])

    class Meta:
        ordering = ["order", "line_number"]
        verbose_name = _("replenishment order line")
        verbose_name_plural = _("replenishment order lines")
        constraints = [
            models.UniqueConstraint(fields=["order", "line_number"], name="order_line_number_uniq"),
            models.CheckConstraint(
                condition=Q(qty_requested__gt=0) & Q(qty_requested_base__gt=0),
                name="order_line_qty_positive",
            ),
            models.CheckConstraint(
                condition=Q(qty_allocated__gte=0) & Q(qty_allocated__lte=F("qty_requested_base")),
                name="order_line_allocated_within_requested",
            ),
            models.CheckConstraint(
                condition=Q(qty_picked__gte=0) & Q(qty_shipped__gte=0),
                name="order_line_progress_non_negative",
            ),
            # Nothing is packed that was not picked, nothing shipped that was not packed.
            models.CheckConstraint(
                condition=Q(qty_packed__gte=0)
                & Q(qty_packed__lte=F("qty_picked"))
                & Q(qty_shipped__lte=F("qty_packed")),
                name="order_line_packed_within_picked",
            ),
        ]

    def __str__(self):
        return f"{self.order_id}#{self.line_number}"

    @property
    def qty_open(self) -> Decimal:
        """Base units still to allocate."""
        return self.qty_requested_base - self.qty_allocated


class AllocationStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active")
    RELEASED = "RELEASED", _("Released")
    CONSUMED = "CONSUMED", _("Consumed (picked)")


class Allocation(models.Model):
    """The planner's decision: this much of this line comes from this balance,
    held by this reservation. One row per line x location x status x round."""

    order = models.ForeignKey(
        ReplenishmentOrder, on_delete=models.PROTECT, related_name="allocations", db_index=False
    )
    line = models.ForeignKey(
        ReplenishmentOrderLine, on_delete=models.PROTECT, related_name="allocations"
    )
    item = models.ForeignKey(
        "inventory.Item", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    inventory_status = models.ForeignKey(
        "inventory.InventoryStatus", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reservation = models.OneToOneField(
        "inventory.InventoryReservation",
        on_delete=models.PROTECT,
        related_name="allocation",
    )
    qty = _qty_field(_("quantity (base unit)"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=AllocationStatus.choices,
        default=AllocationStatus.ACTIVE,
    )
    posting_key = models.CharField(_("posting key"), max_length=255)
    plan_round = models.PositiveIntegerField(_("planning round"), default=1)
    created_at = models.DateTimeField(_("allocated at"), db_default=Now())

    class Meta:
        ordering = ["id"]
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        constraints = [
            models.CheckConstraint(condition=Q(qty__gt=0), name="allocation_qty_positive"),
            # Not unique=True on the field: that adds a LIKE index no query uses.
            models.UniqueConstraint(fields=["posting_key"], name="allocation_posting_key_uniq"),
        ]
        indexes = [models.Index(fields=["order", "status"], name="allocation_order_idx")]

    def __str__(self):
        return f"{self.qty} of line {self.line_id} @ {self.location_id}"


class WaveStatus(models.TextChoices):
    OPEN = "OPEN", _("Open (collecting orders)")
    RELEASED = "RELEASED", _("Released")
    CANCELLED = "CANCELLED", _("Cancelled")


class WaveReleaseReason(models.TextChoices):
    FULL = "FULL", _("A limit was reached")
    DUE = "DUE", _("Ship-by window is due")
    AGE = "AGE", _("Open for the longest allowed time")
    MANUAL = "MANUAL", _("Released by a supervisor")


class Wave(models.Model):
    """Planned orders grouped for picking: same warehouse, ship-by window,
    priority and zone, within the policy's limits."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    zone = models.ForeignKey(
        "inventory.Zone", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    priority = models.PositiveSmallIntegerField(_("priority"))
    window_start = models.DateTimeField(_("ship-by window from"))
    window_end = models.DateTimeField(_("ship-by window until"))
    status = models.CharField(
        _("status"), max_length=10, choices=WaveStatus.choices, default=WaveStatus.OPEN
    )
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    unit_count = _qty_field(_("units"), default=ZERO)
    is_full = models.BooleanField(
        _("full"), default=False, help_text=_("The next order of its group did not fit.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    release_reason = models.CharField(
        _("release reason"), max_length=8, choices=WaveReleaseReason.choices, blank=True
    )
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("wave")
        verbose_name_plural = _("waves")
        indexes = [
            models.Index(
                fields=["warehouse", "priority", "window_start"],
                condition=Q(status="OPEN"),
                name="wave_open_idx",
            ),
            models.Index(fields=["warehouse", "status", "created_at"], name="wave_wh_status_idx"),
        ]

    def __str__(self):
        return f"Wave {str(self.id)[-8:]} P{self.priority} {self.window_start:%Y-%m-%d %H:%M}"


class WaveReleaseMode(models.TextChoices):
    AUTOMATIC = "AUTOMATIC", _("Automatic (when full, due or old enough)")
    MANUAL = "MANUAL", _("Manual (a supervisor releases)")


class WavePolicy(models.Model):
    """How one warehouse groups planned orders into waves and releases them.

    A warehouse without a row uses the defaults from settings
    (``WMS_WAVE_*``); see ``outbound.selectors.wave_policy_for``.
    """

    warehouse = models.OneToOneField(
        "inventory.Warehouse", on_delete=models.CASCADE, related_name="wave_policy"
    )
    max_orders = models.PositiveIntegerField(_("max orders per wave"), default=50)
    max_lines = models.PositiveIntegerField(_("max lines per wave"), default=500)
    max_units = _qty_field(_("max units per wave"), default=Decimal("10000"))
    window_minutes = models.PositiveIntegerField(
        _("ship-by window (minutes)"),
        default=120,
        validators=[MinValueValidator(1)],
        help_text=_("Orders whose ship-by falls in the same window may share a wave."),
    )
    release_mode = models.CharField(
        _("release"),
        max_length=10,
        choices=WaveReleaseMode.choices,
        default=WaveReleaseMode.AUTOMATIC,
    )
    release_lead_minutes = models.PositiveIntegerField(
        _("release lead (minutes)"),
        default=240,
        help_text=_("Automatic: release once the window starts within this many minutes."),
    )
    max_open_minutes = models.PositiveIntegerField(
        _("max open (minutes)"),
        default=15,
        help_text=_("Automatic: release a wave that has collected orders this long (0: at once)."),
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name = _("wave policy")
        verbose_name_plural = _("wave policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_orders__gt=0) & Q(max_lines__gt=0) & Q(max_units__gt=0),
                name="wave_policy_limits_positive",
            ),
        ]

    def __str__(self):
        return f"Wave policy of {self.warehouse_id}"


class PlanningTrigger(models.TextChoices):
    ACCEPTED = "ACCEPTED", _("Order accepted")
    SWEEP = "SWEEP", _("Sweep")
    STOCK = "STOCK", _("Stock became available")
    MANUAL = "MANUAL", _("Manual")


class PlanningJobStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    RUNNING = "RUNNING", _("Running")
    DONE = "DONE", _("Done")
    FAILED = "FAILED", _("Failed")
    ABANDONED = "ABANDONED", _("Abandoned (worker lost)")


class PlanningJob(models.Model):
    """One run of the planner over one partition (warehouse x planning group).

    ``task_id`` is the Celery task id: a redelivered task (its worker died)
    resumes the same job and counts another attempt.
    """

    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    planning_group = models.PositiveSmallIntegerField(_("planning group"))
    trigger = models.CharField(_("trigger"), max_length=10, choices=PlanningTrigger.choices)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=PlanningJobStatus.choices,
        default=PlanningJobStatus.PENDING,
    )
    task_id = models.CharField(_("task id"), max_length=64, unique=True, null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=200, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    orders_planned = models.PositiveIntegerField(_("orders planned"), default=0)
    orders_backordered = models.PositiveIntegerField(_("orders backordered"), default=0)
    orders_rejected = models.PositiveIntegerField(_("orders rejected"), default=0)
    lines_allocated = models.PositiveIntegerField(_("lines allocated"), default=0)
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("planning job")
        verbose_name_plural = _("planning jobs")
        indexes = [
            models.Index(
                fields=["status", "heartbeat_at"],
                condition=Q(status="RUNNING"),
                name="planning_job_running_idx",
            ),
            models.Index(fields=["warehouse", "-id"], name="planning_job_wh_idx"),
        ]

    def __str__(self):
        return f"Planning job #{self.pk} ({self.warehouse_id}/{self.planning_group})"


# --- packing and shipping -----------------------------------------------------------------


class PackageKind(models.TextChoices):
    CARTON = "CARTON", _("Carton")
    PALLET = "PALLET", _("Pallet")
    TOTE = "TOTE", _("Tote")


class PackageType(models.Model):
    """Master data: a kind of handling unit with its tare weight and dimensions."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=PackageKind.choices)
    tare_weight_kg = models.DecimalField(
        _("tare weight (kg)"), max_digits=10, decimal_places=3, default=ZERO
    )
    length_cm = models.DecimalField(_("length (cm)"), max_digits=8, decimal_places=1)
    width_cm = models.DecimalField(_("width (cm)"), max_digits=8, decimal_places=1)
    height_cm = models.DecimalField(_("height (cm)"), max_digits=8, decimal_places=1)
    max_weight_kg = models.DecimalField(
        _("maximum gross weight (kg)"), max_digits=10, decimal_places=3, null=True, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = _("package type")
        verbose_name_plural = _("package types")
        constraints = [
            models.CheckConstraint(
                condition=Q(tare_weight_kg__gte=0)
                & Q(length_cm__gt=0)
                & Q(width_cm__gt=0)
                & Q(height_cm__gt=0),
                name="package_type_dimensions_positive",
            ),
        ]

    def __str__(self):
        return self.code


class PackageStatus(models.TextChoices):
    OPEN = "OPEN", _("Open (packing)")
    CLOSED = "CLOSED", _("Closed (labelled)")
    SHIPPED = "SHIPPED", _("Shipped")


class Package(models.Model):
    """A handling unit of one order, identified by its GS1 SSCC-18."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    order = models.ForeignKey(
        ReplenishmentOrder, on_delete=models.PROTECT, related_name="packages", db_index=False
    )
    package_type = models.ForeignKey(
        PackageType, on_delete=models.PROTECT, related_name="+", verbose_name=_("package type")
    )
    sscc = models.CharField(_("SSCC"), max_length=18, unique=True)
    status = models.CharField(
        _("status"), max_length=8, choices=PackageStatus.choices, default=PackageStatus.OPEN
    )
    weight_kg = models.DecimalField(
        _("gross weight (kg)"), max_digits=10, decimal_places=3, null=True, blank=True
    )
    shipment = models.ForeignKey(
        "outbound.Shipment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="packages",
    )
    created_at = models.DateTimeField(_("opened at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    packed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("packed by"),
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["order", "created_at"]
        verbose_name = _("package")
        verbose_name_plural = _("packages")
        constraints = [
            models.CheckConstraint(
                condition=Q(sscc__regex=r"^[0-9]{18}$"), name="package_sscc_18_digits"
            ),
            models.CheckConstraint(
                condition=Q(status="OPEN") | Q(weight_kg__gt=0),
                name="package_closed_has_weight",
            ),
            # At most one open package per order: scans go into it.
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="OPEN"), name="package_one_open_per_order"
            ),
        ]
        indexes = [models.Index(fields=["order", "status"], name="package_order_idx")]

    def __str__(self):
        return self.sscc


class PackageLine(models.Model):
    """One packing step: ``qty`` (base unit) of an order line put into a package.

    A row per scan, never updated: ``entry_key`` (the handheld form's key, or
    one derived from the API's idempotency key) makes a retried scan a replay.
    The package's contents are the sum of its rows per order line.
    """

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        ReplenishmentOrderLine, on_delete=models.PROTECT, related_name="package_lines"
    )
    qty = _qty_field(_("quantity (base unit)"))
    entry_key = models.CharField(_("entry key"), max_length=255, unique=True)
    created_at = models.DateTimeField(_("packed at"), default=timezone.now)

    class Meta:
        ordering = ["package", "id"]
        verbose_name = _("package line")
        verbose_name_plural = _("package lines")
        constraints = [
            models.CheckConstraint(condition=Q(qty__gt=0), name="package_line_qty_positive"),
        ]
        indexes = [models.Index(fields=["package", "order_line"], name="package_line_idx")]

    def __str__(self):
        return f"{self.package_id}: {self.qty} of {self.order_line_id}"


class ShipmentStatus(models.TextChoices):
    SHIPPED = "SHIPPED", _("Shipped")


class Shipment(models.Model):
    """Packed orders of one store that left through a dock door, confirmed once."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    shipment_number = models.CharField(_("shipment number"), max_length=32, unique=True)
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    store_code = models.CharField(_("store"), max_length=64)
    status = models.CharField(
        _("status"), max_length=8, choices=ShipmentStatus.choices, default=ShipmentStatus.SHIPPED
    )
    dock_door = models.ForeignKey(
        "inventory.DockDoor",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("dock door"),
    )
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_ref = models.CharField(_("tracking reference"), max_length=100, blank=True)
    departed_at = models.DateTimeField(_("departed at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), default=timezone.now)
    shipped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("shipped by"),
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-shipped_at"]
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        indexes = [
            models.Index(fields=["store_code", "shipped_at", "id"], name="shipment_store_idx"),
        ]

    def __str__(self):
        return self.shipment_number


class ShipmentLine(models.Model):
    """Shipped quantity of one order line (base unit): what the store is invoiced for."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        ReplenishmentOrderLine, on_delete=models.PROTECT, related_name="shipment_lines"
    )
    item = models.ForeignKey("inventory.Item", on_delete=models.PROTECT, related_name="+")
    qty = _qty_field(_("quantity shipped (base unit)"))

    class Meta:
        ordering = ["shipment", "order_line"]
        verbose_name = _("shipment line")
        verbose_name_plural = _("shipment lines")
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "order_line"], name="shipment_line_once_per_shipment"
            ),
            models.CheckConstraint(condition=Q(qty__gt=0), name="shipment_line_qty_positive"),
        ]

    def __str__(self):
        return f"{self.shipment_id}: {self.qty} of {self.order_line_id}"
