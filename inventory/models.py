"""Inventory master data: the warehouse layout, items, units, statuses, reasons.

Natural keys (codes, SKUs, barcodes) are unique per warehouse and enforced by
the database. Ledger, balances and reservations live beside these models and
are written only by ``inventory.services``.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from wms.history import history_user


class Warehouse(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    currency = models.CharField(
        _("currency"),
        max_length=3,
        default="EUR",
        help_text=_("ISO 4217 code of the amounts in finance events (unit costs are in it)."),
    )
    gs1_company_prefix = models.CharField(
        _("GS1 company prefix"),
        max_length=12,
        blank=True,
        default="",
        help_text=_("6 to 12 digits; the first part of every package's SSCC."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        permissions = [("access_warehouse", "Can work with this warehouse's data")]
        constraints = [
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="warehouse_currency_iso4217"
            ),
            models.CheckConstraint(
                condition=Q(gs1_company_prefix__regex=r"^([0-9]{6,12})?$"),
                name="warehouse_gs1_prefix_digits",
            ),
        ]

    def __str__(self):
        return f"{self.code} — {self.name}"


class Zone(models.Model):
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="zones", verbose_name=_("warehouse")
    )
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=200)
    history = HistoricalRecords()

    class Meta:
        ordering = ["warehouse", "code"]
        verbose_name = _("zone")
        verbose_name_plural = _("zones")
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "code"], name="zone_code_unique_per_wh"),
        ]

    def __str__(self):
        return f"{self.warehouse.code}/{self.code}"


class LocationType(models.TextChoices):
    RECEIVING = "RECEIVING", _("Receiving")
    RESERVE = "RESERVE", _("Reserve")
    PICK_FACE = "PICK_FACE", _("Pick face")
    STAGING = "STAGING", _("Staging")
    DOCK = "DOCK", _("Dock")
    QUARANTINE = "QUARANTINE", _("Quarantine")


class Location(models.Model):
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="locations", verbose_name=_("warehouse")
    )
    zone = models.ForeignKey(
        Zone,
        on_delete=models.PROTECT,
        related_name="locations",
        null=True,
        blank=True,
        verbose_name=_("zone"),
    )
    code = models.CharField(_("code"), max_length=64)
    barcode = models.CharField(_("barcode"), max_length=128)
    type = models.CharField(_("type"), max_length=16, choices=LocationType.choices)
    capacity = models.DecimalField(
        _("capacity (base units)"),
        max_digits=18,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Empty means unlimited."),
    )
    pick_sequence = models.PositiveIntegerField(_("pick sequence"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["warehouse", "pick_sequence", "code"]
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "code"], name="location_code_unique_per_wh"
            ),
            models.UniqueConstraint(
                fields=["warehouse", "barcode"], name="location_barcode_unique_per_wh"
            ),
            models.CheckConstraint(
                condition=Q(capacity__isnull=True) | Q(capacity__gte=0),
                name="location_capacity_non_negative",
            ),
        ]
        indexes = [models.Index(fields=["warehouse", "type", "pick_sequence"])]

    def __str__(self):
        return self.code


class DockDirection(models.TextChoices):
    INBOUND = "INBOUND", _("Inbound")
    OUTBOUND = "OUTBOUND", _("Outbound")
    BOTH = "BOTH", _("Inbound and outbound")


class DockDoor(models.Model):
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="dock_doors", verbose_name=_("warehouse")
    )
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=200, blank=True)
    direction = models.CharField(
        _("direction"), max_length=8, choices=DockDirection.choices, default=DockDirection.BOTH
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dock_doors",
        help_text=_("The dock location goods pass through."),
        verbose_name=_("location"),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["warehouse", "code"]
        verbose_name = _("dock door")
        verbose_name_plural = _("dock doors")
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "code"], name="dockdoor_code_unique_per_wh"
            ),
        ]

    def __str__(self):
        return f"{self.warehouse.code}/{self.code}"


class UnitOfMeasure(models.Model):
    code = models.CharField(_("code"), max_length=16, unique=True)
    description = models.CharField(_("description"), max_length=200)

    class Meta:
        ordering = ["code"]
        verbose_name = _("unit of measure")
        verbose_name_plural = _("units of measure")

    def __str__(self):
        return self.code


class Item(models.Model):
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="items", verbose_name=_("warehouse")
    )
    sku = models.CharField(_("SKU"), max_length=64)
    gtin = models.CharField(_("barcode / GTIN"), max_length=64, blank=True)
    description = models.CharField(_("description"), max_length=255)
    item_class = models.CharField(_("item class"), max_length=32, blank=True)
    base_uom = models.ForeignKey(
        UnitOfMeasure,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("base unit of measure"),
    )
    unit_cost = models.DecimalField(
        _("unit cost"),
        max_digits=14,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
    )
    unit_price = models.DecimalField(
        _("unit price"),
        max_digits=14,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["warehouse", "sku"]
        verbose_name = _("item")
        verbose_name_plural = _("items")
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "sku"], name="item_sku_unique_per_wh"),
            models.UniqueConstraint(
                fields=["warehouse", "gtin"], condition=~Q(gtin=""), name="item_gtin_unique_per_wh"
            ),
            models.CheckConstraint(
                condition=Q(unit_cost__gte=0) & Q(unit_price__gte=0),
                name="item_amounts_non_negative",
            ),
        ]

    def __str__(self):
        return self.sku


class ItemUnitConversion(models.Model):
    """How many base units one ``uom`` of this item holds (a case of 12)."""

    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="unit_conversions", verbose_name=_("item")
    )
    uom = models.ForeignKey(
        UnitOfMeasure, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit of measure")
    )
    base_units = models.DecimalField(_("base units per unit"), max_digits=14, decimal_places=4)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("unit conversion")
        verbose_name_plural = _("unit conversions")
        constraints = [
            models.UniqueConstraint(fields=["item", "uom"], name="conversion_unique_per_item"),
            models.CheckConstraint(condition=Q(base_units__gt=0), name="conversion_positive"),
        ]

    def __str__(self):
        return f"{self.item.sku}: 1 {self.uom.code} = {self.base_units} {self.item.base_uom.code}"


class InventoryStatus(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    description = models.CharField(_("description"), max_length=200)
    allocatable = models.BooleanField(
        _("allocatable"),
        default=False,
        help_text=_("Stock in this status may be reserved for orders."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("inventory status")
        verbose_name_plural = _("inventory statuses")

    def __str__(self):
        return self.code


class ReasonCodeUse(models.TextChoices):
    ADJUSTMENT = "ADJUSTMENT", _("Inventory adjustment")
    EXCEPTION = "EXCEPTION", _("Exception")
    OVERRIDE = "OVERRIDE", _("Override")
    STATUS_CHANGE = "STATUS_CHANGE", _("Status change")


class ReasonCode(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    description = models.CharField(_("description"), max_length=200)
    use = models.CharField(_("used for"), max_length=16, choices=ReasonCodeUse.choices)
    requires_approval = models.BooleanField(_("requires approval"), default=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("reason code")
        verbose_name_plural = _("reason codes")

    def __str__(self):
        return self.code


# --- Stock: postings, ledger, balances, reservations -------------------------
#
# Written only by ``inventory.services`` (the one posting service). The ledger
# is the truth; balances are its projection, kept in the same transaction.

QTY_DIGITS = 18
QTY_DECIMALS = 3


def _qty_field(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name, max_digits=QTY_DIGITS, decimal_places=QTY_DECIMALS, **kwargs
    )


class PostingKind(models.TextChoices):
    RECEIVE = "RECEIVE", _("Receipt")
    MOVE = "MOVE", _("Move")
    STATUS_TRANSFER = "STATUS_TRANSFER", _("Status transfer")
    RESERVE = "RESERVE", _("Reservation")
    RELEASE = "RELEASE", _("Reservation release")
    EXPIRE = "EXPIRE", _("Reservation expiry")
    CONSUME = "CONSUME", _("Pick (reservation consumed)")
    ISSUE = "ISSUE", _("Issue (shipped)")
    ADJUST = "ADJUST", _("Adjustment")


class InventoryPosting(models.Model):
    """One intended stock change, identified by its caller-chosen ``posting_key``.

    The unique key is what makes every posting idempotent: a second call with
    the same key finds this row and returns its entries instead of posting
    again; ``fingerprint`` tells a faithful replay from a reused key.
    """

    posting_key = models.CharField(_("posting key"), max_length=255)
    kind = models.CharField(_("kind"), max_length=16, choices=PostingKind.choices)
    fingerprint = models.CharField(
        _("content fingerprint"), max_length=64, help_text=_("SHA-256 of the posting content.")
    )
    source_ref = models.CharField(_("source document"), max_length=128, blank=True)
    created_at = models.DateTimeField(_("posted at"), db_default=Now())

    class Meta:
        ordering = ["-id"]
        verbose_name = _("inventory posting")
        verbose_name_plural = _("inventory postings")
        constraints = [
            # A constraint, not unique=True: that adds a second (LIKE) index that every
            # posting would pay for and no query uses.
            models.UniqueConstraint(fields=["posting_key"], name="posting_key_uniq"),
        ]

    def __str__(self):
        return f"{self.kind} {self.posting_key}"


class InventoryBalance(models.Model):
    """On hand and reserved of one item, location and status (a projection of the ledger).

    ``warehouse`` repeats the location's warehouse so that scoped searches
    need no join. ``available`` is computed by the database.
    """

    warehouse = models.ForeignKey(
        Warehouse,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("warehouse"),
    )
    item = models.ForeignKey(
        Item,
        on_delete=models.PROTECT,
        related_name="balances",
        db_index=False,
        verbose_name=_("item"),
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="balances",
        db_index=False,
        verbose_name=_("location"),
    )
    status = models.ForeignKey(
        InventoryStatus,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("inventory status"),
    )
    on_hand = _qty_field(_("on hand"), default=Decimal("0"))
    reserved = _qty_field(_("reserved"), default=Decimal("0"))
    available = models.GeneratedField(
        expression=F("on_hand") - F("reserved"),
        output_field=models.DecimalField(max_digits=QTY_DIGITS, decimal_places=QTY_DECIMALS),
        db_persist=True,
        verbose_name=_("available"),
    )
    updated_at = models.DateTimeField(_("updated at"), db_default=Now())

    class Meta:
        ordering = ["id"]
        verbose_name = _("inventory balance")
        verbose_name_plural = _("inventory balances")
        constraints = [
            models.UniqueConstraint(
                fields=["item", "location", "status"], name="balance_item_location_status_uniq"
            ),
            models.CheckConstraint(
                condition=Q(on_hand__gte=0), name="balance_on_hand_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0) & Q(reserved__lte=F("on_hand")),
                name="balance_reserved_within_on_hand",
            ),
        ]
        indexes = [
            # item lookups use the unique constraint above (item first).
            models.Index(fields=["location", "item", "status"], name="balance_location_idx"),
            models.Index(fields=["warehouse", "status", "id"], name="balance_wh_status_idx"),
            models.Index(fields=["warehouse", "id"], name="balance_wh_idx"),
        ]

    def __str__(self):
        return f"{self.item_id}@{self.location_id}/{self.status_id}"


class LedgerEntryType(models.TextChoices):
    RECEIPT = "RECEIPT", _("Receipt")
    MOVE_OUT = "MOVE_OUT", _("Move out")
    MOVE_IN = "MOVE_IN", _("Move in")
    STATUS_OUT = "STATUS_OUT", _("Status transfer out")
    STATUS_IN = "STATUS_IN", _("Status transfer in")
    RESERVE = "RESERVE", _("Reserve")
    RELEASE = "RELEASE", _("Release")
    EXPIRE = "EXPIRE", _("Reservation expired")
    PICK_OUT = "PICK_OUT", _("Pick out (reservation consumed)")
    PICK_IN = "PICK_IN", _("Pick in (to staging)")
    ISSUE = "ISSUE", _("Issue (shipped)")
    ADJUSTMENT = "ADJUSTMENT", _("Adjustment")


class InventoryLedgerEntry(models.Model):
    """An append-only line of a posting: the change of one balance.

    The database refuses UPDATE and DELETE on this table (a trigger, see the
    migration). Summing the deltas per item, location and status gives every
    balance (``verify_inventory``).
    """

    posting = models.ForeignKey(
        InventoryPosting, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    line_no = models.PositiveSmallIntegerField(_("line"))
    entry_type = models.CharField(_("entry type"), max_length=16, choices=LedgerEntryType.choices)
    warehouse = models.ForeignKey(
        Warehouse,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("warehouse"),
    )
    item = models.ForeignKey(
        Item, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("item")
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("location"),
    )
    status = models.ForeignKey(
        InventoryStatus,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("inventory status"),
    )
    on_hand_delta = _qty_field(_("on hand change"))
    reserved_delta = _qty_field(_("reserved change"))
    reservation = models.ForeignKey(
        "InventoryReservation",
        on_delete=models.PROTECT,
        related_name="entries",
        null=True,
        blank=True,
        db_index=False,
    )
    source_ref = models.CharField(_("source document"), max_length=128, blank=True)
    reason_code = models.CharField(_("reason code"), max_length=32, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    actor_label = models.CharField(
        _("actor"), max_length=150, blank=True, help_text=_("User name or external system.")
    )
    correlation_id = models.CharField(_("correlation id"), max_length=128, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), db_default=Now())

    class Meta:
        ordering = ["id"]
        verbose_name = _("inventory ledger entry")
        verbose_name_plural = _("inventory ledger entries")
        constraints = [
            models.UniqueConstraint(fields=["posting", "line_no"], name="ledger_posting_line_uniq"),
            models.CheckConstraint(
                condition=~Q(on_hand_delta=0) | ~Q(reserved_delta=0), name="ledger_entry_not_empty"
            ),
        ]
        indexes = [
            models.Index(fields=["item", "location", "status", "id"], name="ledger_balance_idx"),
            models.Index(fields=["location", "id"], name="ledger_location_idx"),
            # The ledger API lists by (occurred_at, id): this serves ``since`` and the order.
            # The included columns make the stock-on-hand report "as of" an index-only scan
            # of the ledger after the date (``inventory.queries.stock_on_hand_report``).
            models.Index(
                fields=["warehouse", "occurred_at", "id"],
                include=["item", "location", "status", "on_hand_delta"],
                name="ledger_wh_time_cover_idx",
            ),
            models.Index(
                fields=["reservation"],
                condition=Q(reservation__isnull=False),
                name="ledger_reservation_idx",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.entry_type}"

    @property
    def posting_key(self) -> str:
        return self.posting.posting_key


class ReservationState(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    COMMITTED = "COMMITTED", _("Committed")
    CONSUMED = "CONSUMED", _("Consumed")
    RELEASED = "RELEASED", _("Released")
    EXPIRED = "EXPIRED", _("Expired")


OPEN_RESERVATION_STATES = (ReservationState.PENDING, ReservationState.COMMITTED)


class InventoryReservation(models.Model):
    """Stock of one balance held for a demand (usually a replenishment order line).

    Pending → Committed → Consumed / Released / Expired. Both open states hold
    ``qty - qty_consumed - qty_released`` of the balance's ``reserved``; a
    reservation resolves once: a closed one refuses every further change.
    """

    warehouse = models.ForeignKey(
        Warehouse,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("warehouse"),
    )
    balance = models.ForeignKey(
        InventoryBalance, on_delete=models.PROTECT, related_name="reservations", db_index=False
    )
    item = models.ForeignKey(
        Item, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("item")
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("location"),
    )
    status = models.ForeignKey(
        InventoryStatus,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("inventory status"),
    )
    state = models.CharField(
        _("state"),
        max_length=10,
        choices=ReservationState.choices,
        default=ReservationState.COMMITTED,
    )
    qty = _qty_field(_("reserved quantity"))
    qty_consumed = _qty_field(_("consumed"), default=Decimal("0"))
    qty_released = _qty_field(_("released"), default=Decimal("0"))
    demand_ref = models.CharField(_("demand"), max_length=128)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("inventory reservation")
        verbose_name_plural = _("inventory reservations")
        constraints = [
            models.CheckConstraint(condition=Q(qty__gt=0), name="reservation_qty_positive"),
            models.CheckConstraint(
                condition=Q(qty_consumed__gte=0)
                & Q(qty_released__gte=0)
                & Q(qty__gte=F("qty_consumed") + F("qty_released")),
                name="reservation_resolved_within_qty",
            ),
            # Open ⇔ something is still held; closed ⇔ everything resolved.
            models.CheckConstraint(
                condition=(
                    Q(state__in=OPEN_RESERVATION_STATES)
                    & Q(qty__gt=F("qty_consumed") + F("qty_released"))
                )
                | (
                    ~Q(state__in=OPEN_RESERVATION_STATES)
                    & Q(qty=F("qty_consumed") + F("qty_released"))
                ),
                name="reservation_state_matches_qty",
            ),
        ]
        indexes = [
            models.Index(fields=["balance", "state"], name="reservation_balance_idx"),
            models.Index(fields=["demand_ref"], name="reservation_demand_idx"),
            models.Index(
                fields=["expires_at", "id"],
                condition=Q(state__in=OPEN_RESERVATION_STATES) & Q(expires_at__isnull=False),
                name="reservation_expiry_idx",
            ),
            models.Index(fields=["warehouse", "state", "id"], name="reservation_wh_state_idx"),
        ]

    def __str__(self):
        return f"Reservation #{self.pk} {self.state} {self.qty} for {self.demand_ref}"

    @property
    def qty_open(self) -> Decimal:
        return self.qty - self.qty_consumed - self.qty_released

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_RESERVATION_STATES


# --- finance ---------------------------------------------------------------------------


class FinanceEventType(models.TextChoices):
    SHIPMENT_CONFIRMED = "shipment.confirmed", _("Shipment confirmed")
    INVENTORY_ADJUSTED = "inventory.adjusted", _("Inventory adjusted")


class FinanceEvent(models.Model):
    """One financially relevant stock fact, valued at the item's unit cost.

    ``sequence`` is the finance feed's cursor: strictly increasing and gap-free
    *in commit order*, so a reader paging with ``after=`` never skips an event
    that commits later with a smaller number (see ``inventory.finance``).
    Written only by ``inventory.finance.finance_event_record``; append-only.
    """

    sequence = models.BigIntegerField(_("sequence"), unique=True)
    event_id = models.UUIDField(_("event id"), unique=True, editable=False)
    event_type = models.CharField(_("type"), max_length=40, choices=FinanceEventType.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    currency = models.CharField(_("currency"), max_length=3)
    reference_type = models.CharField(_("reference type"), max_length=40)
    reference_id = models.CharField(_("reference id"), max_length=64)
    reference_number = models.CharField(_("reference number"), max_length=64, blank=True)
    store_code = models.CharField(_("store"), max_length=64, blank=True)
    reason_code = models.CharField(_("reason code"), max_length=32, blank=True)
    #: [{sku, qty, uom, unitCost, amount}] with decimal strings, as the feed shows them.
    lines = models.JSONField(_("lines"))
    total_amount = models.DecimalField(_("total amount"), max_digits=20, decimal_places=4)
    #: One event per business fact (e.g. ``shipment:<id>``): a retry records nothing new.
    source_key = models.CharField(_("source key"), max_length=255, unique=True)
    correlation_id = models.CharField(_("correlation id"), max_length=128, blank=True)

    class Meta:
        ordering = ["sequence"]
        verbose_name = _("finance event")
        verbose_name_plural = _("finance events")
        constraints = [
            models.CheckConstraint(condition=Q(sequence__gt=0), name="finance_sequence_positive"),
        ]

    def __str__(self):
        return f"#{self.sequence} {self.event_type} {self.reference_number or self.reference_id}"


class FinanceSequence(models.Model):
    """The one counter row behind ``FinanceEvent.sequence`` (id 1).

    Incremented under its row lock by the transaction that records the event
    and held until that transaction ends: numbers are handed out in commit
    order and a rolled-back number is handed out again, so the feed has no
    gap and no late-committing smaller number.
    """

    last = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("finance sequence")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="finance_sequence_single")]

    def __str__(self):
        return f"finance sequence at {self.last}"


# --- inventory control: adjustments, approvals, thresholds, audit ---------------------
#
# Written only by ``inventory.services.adjustments`` (and ``audit_record``). An applied
# adjustment's stock change is an ADJUST posting of the one posting service; these rows
# say who asked, why, who decided and what it was worth.


class AdjustmentState(models.TextChoices):
    PENDING_APPROVAL = "PENDING_APPROVAL", _("Pending approval")
    APPLIED = "APPLIED", _("Applied")
    REJECTED = "REJECTED", _("Rejected")


class AdjustmentSource(models.TextChoices):
    API = "api", _("API")
    ADMIN = "admin", _("Admin")
    COUNT = "count", _("Count")


class InventoryAdjustment(models.Model):
    """A requested correction of one balance, with its reason, and what became of it.

    Below the warehouse's thresholds it is applied at once (an ADJUST posting);
    above them it waits as ``PENDING_APPROVAL`` and posts nothing until a second
    person approves it (``AdjustmentApproval``). The request columns never change
    after the insert (a trigger refuses it, see the migration); only ``state``,
    ``posting`` and ``applied_at`` move on.
    """

    adjustment_number = models.CharField(_("adjustment number"), max_length=32)
    warehouse = models.ForeignKey(
        Warehouse,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # adjustment_wh_state_idx starts with it
        verbose_name=_("warehouse"),
    )
    item = models.ForeignKey(
        Item, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("item")
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("location"),
    )
    status = models.ForeignKey(
        InventoryStatus,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("inventory status"),
    )
    qty_delta = _qty_field(_("quantity change"))
    reason_code = models.ForeignKey(
        ReasonCode,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("reason code"),
    )
    note = models.TextField(_("note"), blank=True)
    state = models.CharField(_("state"), max_length=16, choices=AdjustmentState.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("requested by"),
    )
    requested_by_label = models.CharField(
        _("requested by (name)"), max_length=150, help_text=_("User name or external system.")
    )
    source = models.CharField(_("source"), max_length=8, choices=AdjustmentSource.choices)
    source_ref = models.CharField(_("source document"), max_length=128, blank=True)
    unit_cost = models.DecimalField(_("unit cost"), max_digits=14, decimal_places=4)
    value = models.DecimalField(
        _("value"),
        max_digits=20,
        decimal_places=4,
        help_text=_("Quantity change times unit cost, in the warehouse's currency."),
    )
    posting = models.OneToOneField(
        InventoryPosting,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adjustment",
        verbose_name=_("posting"),
    )
    request_key = models.CharField(_("request key"), max_length=255)
    correlation_id = models.CharField(_("correlation id"), max_length=128, blank=True)
    created_at = models.DateTimeField(_("requested at"), db_default=Now())
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    # Every applied adjustment writes a history row: no index on its copies of the
    # foreign keys (nothing looks history up by them; a90a426 did the same elsewhere).
    history = HistoricalRecords(
        get_user=history_user,
        no_db_index=[
            "adjustment_number",
            "warehouse",
            "item",
            "location",
            "status",
            "reason_code",
            "requested_by",
            "posting",
        ],
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = _("inventory adjustment")
        verbose_name_plural = _("inventory adjustments")
        permissions = [
            ("approve_inventoryadjustment", "Can approve or reject inventory adjustments"),
        ]
        constraints = [
            # Constraints, not unique=True: that adds a LIKE twin index no query uses.
            models.UniqueConstraint(fields=["adjustment_number"], name="adjustment_number_uniq"),
            models.UniqueConstraint(fields=["request_key"], name="adjustment_request_key_uniq"),
            models.CheckConstraint(condition=~Q(qty_delta=0), name="adjustment_qty_not_zero"),
            # Applied ⇔ posted: nothing pending or rejected has touched stock.
            models.CheckConstraint(
                condition=(Q(state=AdjustmentState.APPLIED) & Q(posting__isnull=False))
                | (~Q(state=AdjustmentState.APPLIED) & Q(posting__isnull=True)),
                name="adjustment_applied_iff_posted",
            ),
        ]
        indexes = [
            models.Index(fields=["warehouse", "state", "id"], name="adjustment_wh_state_idx"),
        ]

    def __str__(self):
        return self.adjustment_number

    def ledger_entry_id_list(self) -> list[int]:
        """The ids of the ledger entries of its posting (none while not applied)."""
        if self.posting_id is None:
            return []
        return list(
            InventoryLedgerEntry.objects.filter(posting_id=self.posting_id)
            .order_by("line_no")
            .values_list("pk", flat=True)
        )


class PendingAdjustment(InventoryAdjustment):
    """The approvals queue in the admin: the pending adjustments, for approvers."""

    class Meta:
        proxy = True
        verbose_name = _("adjustment awaiting approval")
        verbose_name_plural = _("approvals queue")


class ApprovalDecision(models.TextChoices):
    APPROVED = "APPROVED", _("Approved")
    REJECTED = "REJECTED", _("Rejected")


class AdjustmentApproval(models.Model):
    """The one decision on a pending adjustment: who, when, why. Append-only.

    Four eyes in the database: ``requested_by`` is set by a trigger from the
    adjustment (whatever the writer sends), and a check constraint refuses a
    decision by that same user; the one-to-one allows a single decision.
    """

    adjustment = models.OneToOneField(
        InventoryAdjustment,
        on_delete=models.PROTECT,
        related_name="approval",
        verbose_name=_("adjustment"),
    )
    decision = models.CharField(_("decision"), max_length=8, choices=ApprovalDecision.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("decided by"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("requested by"),
        help_text=_("Copied from the adjustment by the database."),
    )
    decided_at = models.DateTimeField(_("decided at"), db_default=Now())
    note = models.TextField(_("note"), blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("adjustment approval")
        verbose_name_plural = _("adjustment approvals")
        constraints = [
            models.CheckConstraint(
                condition=Q(requested_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="approval_four_eyes",
            ),
        ]

    def __str__(self):
        return f"{self.decision} {self.adjustment_id}"


class AdjustmentThreshold(models.Model):
    """Above either limit an adjustment of this warehouse waits for a second person.

    Empty means no limit. A warehouse without a row has no limits: only reason
    codes that require approval send adjustments to the approvals queue.
    """

    warehouse = models.OneToOneField(
        Warehouse,
        on_delete=models.PROTECT,
        related_name="adjustment_threshold",
        verbose_name=_("warehouse"),
    )
    max_abs_qty = _qty_field(
        _("max. quantity without approval"),
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Absolute quantity change, base units. Empty: no limit."),
    )
    max_abs_value = models.DecimalField(
        _("max. value without approval"),
        max_digits=20,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Absolute value in the warehouse's currency. Empty: no limit."),
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name = _("adjustment threshold")
        verbose_name_plural = _("adjustment thresholds")
        constraints = [
            models.CheckConstraint(
                condition=(Q(max_abs_qty__isnull=True) | Q(max_abs_qty__gte=0))
                & (Q(max_abs_value__isnull=True) | Q(max_abs_value__gte=0)),
                name="threshold_limits_non_negative",
            ),
        ]

    def __str__(self):
        return f"{self.warehouse.code}: ≤ {self.max_abs_qty} / ≤ {self.max_abs_value}"


class AuditEvent(models.Model):
    """One inventory-affecting decision or action: who, when, what before and after.

    Append-only (a trigger refuses UPDATE and DELETE). Stock movements are not
    repeated here: the ledger is their audit trail (actor, correlation id).
    Written by ``inventory.audit.audit_record``.
    """

    event_type = models.CharField(_("event"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred at"), db_default=Now())
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(
        _("actor (name)"), max_length=150, blank=True, help_text=_("User name or external system.")
    )
    warehouse = models.ForeignKey(
        Warehouse,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("warehouse"),
    )
    entity_type = models.CharField(_("entity type"), max_length=64)
    entity_id = models.CharField(_("entity id"), max_length=64)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    correlation_id = models.CharField(_("correlation id"), max_length=128, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["warehouse", "occurred_at", "id"], name="audit_wh_time_idx"),
            models.Index(fields=["entity_type", "entity_id", "id"], name="audit_entity_idx"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.entity_type}:{self.entity_id}"
