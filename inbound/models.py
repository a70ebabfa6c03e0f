"""Inbound workflow documents: ASNs, dock appointments, receipts, put-away.

No stock is written here. A receipt posts through ``inventory.services.stock_receive``
and a put-away confirmation through ``inventory.services.stock_move``; these rows
record the work around those postings (what was expected, what arrived, where it
went, which exceptions a supervisor must decide).

Quantities: ``qty_*`` in the unit of measure of the row, ``*_base`` in the item's
base unit (what the ledger counts).
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from inventory.models import (
    DockDoor,
    InventoryStatus,
    Item,
    Location,
    ReasonCode,
    UnitOfMeasure,
    Warehouse,
    Zone,
)
from wms.history import history_user

QTY = {"max_digits": 18, "decimal_places": 3}


class InboundSettings(models.Model):
    """Per-warehouse receiving configuration (tolerances, default locations)."""

    warehouse = models.OneToOneField(
        Warehouse, on_delete=models.CASCADE, related_name="inbound_settings"
    )
    over_receipt_tolerance_pct = models.DecimalField(
        _("over-receipt tolerance (%)"),
        max_digits=6,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1000"))],
        help_text=_("Receiving more than expected by more than this opens an exception."),
    )
    under_receipt_tolerance_pct = models.DecimalField(
        _("under-receipt tolerance (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_(
            "When receiving is completed, a line short by more than this opens an exception."
        ),
    )
    damaged_opens_exception = models.BooleanField(
        _("damaged goods open an exception"), default=True
    )
    receiving_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("receiving location"),
        help_text=_(
            "Where received goods are posted when the dock door has no location. "
            "Empty: the first active RECEIVING location."
        ),
    )
    staging_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("put-away fallback location"),
        help_text=_(
            "Where put-away goes when no strategy rule finds a location (an exception "
            "is opened). Empty: the first active STAGING location."
        ),
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name = _("inbound settings")
        verbose_name_plural = _("inbound settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(over_receipt_tolerance_pct__gte=0)
                & Q(under_receipt_tolerance_pct__gte=0)
                & Q(under_receipt_tolerance_pct__lte=100),
                name="inbound_settings_tolerances_valid",
            ),
        ]

    def __str__(self):
        return f"{self.warehouse.code}"


class InboundType(models.TextChoices):
    SUPPLIER = "SUPPLIER", _("Supplier delivery")
    RETURN = "RETURN", _("Return")


class InboundStatus(models.TextChoices):
    EXPECTED = "EXPECTED", _("Expected")
    ARRIVED = "ARRIVED", _("Arrived")
    RECEIVING = "RECEIVING", _("Receiving")
    RECEIVED = "RECEIVED", _("Received")
    CLOSED = "CLOSED", _("Closed")


class InboundShipment(models.Model):
    """An ASN: what a supplier announced, and how far receiving has come."""

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="inbound_shipments"
    )
    external_ref = models.CharField(_("external reference"), max_length=64)
    supplier = models.CharField(_("supplier"), max_length=200)
    type = models.CharField(
        _("type"), max_length=16, choices=InboundType.choices, default=InboundType.SUPPLIER
    )
    status = models.CharField(
        _("status"), max_length=16, choices=InboundStatus.choices, default=InboundStatus.EXPECTED
    )
    expected_arrival_at = models.DateTimeField(_("expected arrival"))
    arrived_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    received_at = models.DateTimeField(_("receiving completed at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    source = models.CharField(
        _("created by"), max_length=100, blank=True, help_text=_("user:<name> or system:<code>")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["expected_arrival_at", "id"]
        verbose_name = _("inbound shipment (ASN)")
        verbose_name_plural = _("inbound shipments (ASNs)")
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "external_ref"], name="inbound_external_ref_unique_per_wh"
            ),
        ]
        indexes = [models.Index(fields=["warehouse", "status", "expected_arrival_at"])]

    def __str__(self):
        return self.external_ref


class InboundShipmentLine(models.Model):
    """One expected item on an ASN; ``qty_received_base`` sums its receipt lines."""

    shipment = models.ForeignKey(InboundShipment, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveIntegerField(_("line number"))
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    uom = models.ForeignKey(
        UnitOfMeasure, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit")
    )
    qty_expected = models.DecimalField(_("quantity expected"), **QTY)
    qty_expected_base = models.DecimalField(_("expected (base units)"), **QTY)
    qty_received_base = models.DecimalField(_("received (base units)"), default=Decimal("0"), **QTY)

    class Meta:
        ordering = ["shipment", "line_number"]
        verbose_name = _("ASN line")
        verbose_name_plural = _("ASN lines")
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "line_number"], name="inbound_line_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(qty_expected__gt=0)
                & Q(qty_expected_base__gt=0)
                & Q(qty_received_base__gte=0),
                name="inbound_line_quantities_valid",
            ),
        ]

    def __str__(self):
        return f"{self.shipment_id}#{self.line_number} {self.item_id}"

    @property
    def variance_base(self) -> Decimal:
        return self.qty_received_base - self.qty_expected_base


class FlowDirection(models.TextChoices):
    INBOUND = "INBOUND", _("Inbound")
    OUTBOUND = "OUTBOUND", _("Outbound")


class DockAssignmentStatus(models.TextChoices):
    SCHEDULED = "SCHEDULED", _("Scheduled")
    ARRIVED = "ARRIVED", _("Arrived")
    COMPLETED = "COMPLETED", _("Completed")
    CANCELLED = "CANCELLED", _("Cancelled")


class DockAssignment(models.Model):
    """A dock door booked for one flow over ``[starts_at, ends_at)``.

    Two live (not cancelled) assignments of one door never overlap: the service
    checks under a lock on the door, and on PostgreSQL an exclusion constraint
    (``dock_assignment_no_overlap``, migration 0002) makes it impossible.
    Outbound flows reference their shipment by ``outbound_ref`` until the
    outbound app links them.
    """

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="dock_assignments"
    )
    dock_door = models.ForeignKey(
        DockDoor, on_delete=models.PROTECT, related_name="assignments", verbose_name=_("dock door")
    )
    direction = models.CharField(
        _("direction"), max_length=8, choices=FlowDirection.choices, default=FlowDirection.INBOUND
    )
    inbound_shipment = models.ForeignKey(
        InboundShipment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dock_assignments",
        verbose_name=_("inbound shipment"),
    )
    outbound_ref = models.CharField(
        _("outbound reference"),
        max_length=100,
        blank=True,
        help_text=_("For outbound flows, e.g. Shipment:<id>."),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DockAssignmentStatus.choices,
        default=DockAssignmentStatus.SCHEDULED,
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"), auto_now_add=True)
    assigned_by = models.CharField(_("assigned by"), max_length=100, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["starts_at", "dock_door"]
        verbose_name = _("dock appointment")
        verbose_name_plural = _("dock appointments")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="dock_assignment_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(direction="INBOUND") | Q(inbound_shipment__isnull=True),
                name="dock_assignment_outbound_has_no_asn",
            ),
        ]
        indexes = [models.Index(fields=["dock_door", "starts_at"])]

    def __str__(self):
        return f"{self.dock_door} {self.starts_at:%Y-%m-%d %H:%M}"


class ReceiptStatus(models.TextChoices):
    POSTED = "POSTED", _("Posted")


class Receipt(models.Model):
    """Goods registered as received; its lines are posted to stock in the same transaction."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="receipts")
    shipment = models.ForeignKey(
        InboundShipment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="receipts",
        help_text=_("Empty for a blind receipt (no ASN)."),
    )
    dock_door = models.ForeignKey(
        DockDoor, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    receiving_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", verbose_name=_("received into")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ReceiptStatus.choices, default=ReceiptStatus.POSTED
    )
    is_blind = models.BooleanField(_("blind receipt"), default=False)
    completes_receiving = models.BooleanField(_("completes receiving"), default=False)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(_("received by"), max_length=100, blank=True)
    client_key = models.CharField(
        _("submission key"),
        max_length=100,
        blank=True,
        help_text=_("Key of the handheld form that submitted it; a resubmission is a replay."),
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        permissions = [("receive_blind", "Can receive goods without an ASN (blind receiving)")]
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "client_key"],
                condition=~Q(client_key=""),
                name="receipt_client_key_unique_per_wh",
            ),
            models.CheckConstraint(
                condition=Q(is_blind=True, shipment__isnull=True)
                | Q(is_blind=False, shipment__isnull=False),
                name="receipt_blind_iff_no_asn",
            ),
        ]

    def __str__(self):
        return f"R{self.pk}"


class ReceiptLine(models.Model):
    receipt = models.ForeignKey(Receipt, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveIntegerField(_("line number"))
    shipment_line = models.ForeignKey(
        InboundShipmentLine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="receipt_lines",
    )
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    uom = models.ForeignKey(
        UnitOfMeasure, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit")
    )
    qty_received = models.DecimalField(_("quantity received"), **QTY)
    qty_base = models.DecimalField(_("quantity (base units)"), **QTY)
    inventory_status = models.ForeignKey(
        InventoryStatus, on_delete=models.PROTECT, related_name="+", verbose_name=_("status")
    )

    class Meta:
        ordering = ["receipt", "line_number"]
        verbose_name = _("receipt line")
        verbose_name_plural = _("receipt lines")
        constraints = [
            models.UniqueConstraint(
                fields=["receipt", "line_number"], name="receipt_line_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(qty_received__gt=0) & Q(qty_base__gt=0),
                name="receipt_line_quantities_positive",
            ),
        ]

    def __str__(self):
        return f"R{self.receipt_id}#{self.line_number}"

    @property
    def posting_key(self) -> str:
        return f"ReceiptLine:{self.pk}:receive"


class PutAwayRuleType(models.TextChoices):
    FIXED_LOCATION = "FIXED_LOCATION", _("Fixed location for an item")
    CONSOLIDATE = "CONSOLIDATE", _("Consolidate with the same item")
    NEAREST_EMPTY = "NEAREST_EMPTY", _("Nearest empty location in a zone")
    ITEM_CLASS = "ITEM_CLASS", _("By item class")


class PutAwayStrategy(models.Model):
    """An ordered list of rules; the first rule that finds a location wins."""

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="put_away_strategies"
    )
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["warehouse", "name"]
        verbose_name = _("put-away strategy")
        verbose_name_plural = _("put-away strategies")
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse"],
                condition=Q(is_active=True),
                name="one_active_putaway_strategy_per_wh",
            ),
        ]

    def __str__(self):
        return f"{self.warehouse.code}: {self.name}"


class PutAwayRule(models.Model):
    """One step of a strategy. Which fields matter depends on ``rule_type``:

    - FIXED_LOCATION: ``item`` goes to ``location``.
    - CONSOLIDATE: a location (in ``zone`` if given) already holding the item.
    - NEAREST_EMPTY: the empty location of ``zone`` first in travel order (pick sequence).
    - ITEM_CLASS: items of ``item_class`` go to ``location``, or into ``zone`` (same
      item first, then the nearest empty one).

    ``item`` / ``inventory_status`` optionally narrow any rule. Every candidate must
    have room for the whole quantity (location capacity minus stock and open put-away).
    Without a zone, rules choose among RESERVE and PICK_FACE locations; with a zone,
    among its locations except RECEIVING, STAGING and DOCK (so a quarantine zone works).
    """

    strategy = models.ForeignKey(PutAwayStrategy, on_delete=models.CASCADE, related_name="rules")
    sequence = models.PositiveIntegerField(_("order"))
    rule_type = models.CharField(_("rule"), max_length=16, choices=PutAwayRuleType.choices)
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    item_class = models.CharField(_("item class"), max_length=32, blank=True)
    zone = models.ForeignKey(
        Zone, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    inventory_status = models.ForeignKey(
        InventoryStatus,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("only for status"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["strategy", "sequence"]
        verbose_name = _("put-away rule")
        verbose_name_plural = _("put-away rules")
        constraints = [
            models.UniqueConstraint(
                fields=["strategy", "sequence"], name="putaway_rule_sequence_unique"
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        rule_type="FIXED_LOCATION",
                        item__isnull=False,
                        location__isnull=False,
                    )
                    | Q(rule_type="CONSOLIDATE")
                    | Q(rule_type="NEAREST_EMPTY", zone__isnull=False)
                    | (
                        Q(rule_type="ITEM_CLASS")
                        & ~Q(item_class="")
                        & (Q(zone__isnull=False) | Q(location__isnull=False))
                    )
                ),
                name="putaway_rule_fields_match_type",
            ),
        ]

    def __str__(self):
        return f"{self.sequence}. {self.get_rule_type_display()}"

    def clean(self):
        from django.core.exceptions import ValidationError

        errors = {}
        if self.rule_type == PutAwayRuleType.FIXED_LOCATION:
            if not self.item_id:
                errors["item"] = _("A fixed-location rule needs an item.")
            if not self.location_id:
                errors["location"] = _("A fixed-location rule needs a location.")
        elif self.rule_type == PutAwayRuleType.NEAREST_EMPTY and not self.zone_id:
            errors["zone"] = _("A nearest-empty rule needs a zone.")
        elif self.rule_type == PutAwayRuleType.ITEM_CLASS:
            if not self.item_class:
                errors["item_class"] = _("An item-class rule needs an item class.")
            if not self.zone_id and not self.location_id:
                errors["zone"] = _("An item-class rule needs a zone or a location.")
        if errors:
            raise ValidationError(errors)


class PutAwayTaskStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    DONE = "DONE", _("Done")
    CANCELLED = "CANCELLED", _("Cancelled")


class PutAwayTask(models.Model):
    """Move received goods from the receiving location to ``to_location``.

    Confirmation posts one ``stock_move`` with the posting key ``posting_key``,
    so a repeated confirmation (double tap, retry) has one effect.
    """

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="put_away_tasks"
    )
    receipt_line = models.ForeignKey(
        ReceiptLine, on_delete=models.PROTECT, related_name="put_away_tasks"
    )
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    inventory_status = models.ForeignKey(
        InventoryStatus, on_delete=models.PROTECT, related_name="+", verbose_name=_("status")
    )
    qty = models.DecimalField(_("quantity (base units)"), **QTY)
    from_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", verbose_name=_("from")
    )
    to_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("suggested destination"),
    )
    strategy = models.ForeignKey(
        PutAwayStrategy, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    rule = models.ForeignKey(
        PutAwayRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=PutAwayTaskStatus.choices,
        default=PutAwayTaskStatus.OPEN,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    confirmed_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("put away to"),
    )
    override_reason = models.ForeignKey(
        ReasonCode, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("put-away task")
        verbose_name_plural = _("put-away tasks")
        constraints = [
            models.CheckConstraint(condition=Q(qty__gt=0), name="putaway_task_qty_positive"),
            models.CheckConstraint(
                condition=~Q(status="DONE") | Q(confirmed_location__isnull=False),
                name="putaway_done_has_location",
            ),
        ]
        indexes = [models.Index(fields=["warehouse", "status", "created_at"])]

    def __str__(self):
        return f"PA{self.pk}"

    @property
    def posting_key(self) -> str:
        return f"PutAwayTask:{self.pk}:move"


class ReceivingExceptionType(models.TextChoices):
    OVER_RECEIPT = "OVER_RECEIPT", _("Over-receipt beyond tolerance")
    UNDER_RECEIPT = "UNDER_RECEIPT", _("Under-receipt beyond tolerance")
    DAMAGED = "DAMAGED", _("Damaged goods received")
    NO_PUTAWAY_LOCATION = "NO_PUTAWAY_LOCATION", _("No put-away location found")


class ReceivingExceptionStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    APPROVED = "APPROVED", _("Approved")
    REJECTED = "REJECTED", _("Rejected")


class ReceivingException(models.Model):
    """A receiving problem a supervisor must decide (approve or reject).

    The goods are already posted (they are physically here); the exception keeps
    the ASN from being closed until a supervisor has decided.
    """

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="receiving_exceptions"
    )
    type = models.CharField(_("type"), max_length=24, choices=ReceivingExceptionType.choices)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ReceivingExceptionStatus.choices,
        default=ReceivingExceptionStatus.OPEN,
    )
    shipment = models.ForeignKey(
        InboundShipment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exceptions",
    )
    shipment_line = models.ForeignKey(
        InboundShipmentLine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exceptions",
    )
    receipt = models.ForeignKey(
        Receipt, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions"
    )
    put_away_task = models.ForeignKey(
        PutAwayTask, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions"
    )
    item = models.ForeignKey(
        Item, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    qty_expected_base = models.DecimalField(
        _("expected (base units)"), null=True, blank=True, **QTY
    )
    qty_received_base = models.DecimalField(
        _("received (base units)"), null=True, blank=True, **QTY
    )
    detail = models.TextField(_("detail"), blank=True)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution_note = models.CharField(_("resolution note"), max_length=500, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("receiving exception")
        verbose_name_plural = _("receiving exceptions")
        permissions = [("approve_receivingexception", "Can approve or reject receiving exceptions")]
        constraints = [
            # One open variance case per ASN line: later receipts update it.
            models.UniqueConstraint(
                fields=["shipment_line", "type"],
                condition=Q(status="OPEN", type__in=["OVER_RECEIPT", "UNDER_RECEIPT"]),
                name="one_open_variance_exception_per_line",
            ),
            models.CheckConstraint(
                condition=Q(status="OPEN", resolved_at__isnull=True)
                | (~Q(status="OPEN") & Q(resolved_at__isnull=False)),
                name="receiving_exception_resolved_iff_closed",
            ),
        ]
        indexes = [models.Index(fields=["warehouse", "status", "opened_at"])]

    def __str__(self):
        return f"{self.get_type_display()} #{self.pk}"
