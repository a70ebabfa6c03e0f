"""Inventory master data: the warehouse layout, items, units, statuses, reasons.

Natural keys (codes, SKUs, barcodes) are unique per warehouse and enforced by
the database. Ledger, balances and reservations live beside these models and
are written only by ``inventory.services``.
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Warehouse(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        permissions = [("access_warehouse", "Can work with this warehouse's data")]

    def __str__(self):
        return f"{self.code} — {self.name}"


class Zone(models.Model):
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="zones")
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
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="locations")
    zone = models.ForeignKey(
        Zone, on_delete=models.PROTECT, related_name="locations", null=True, blank=True
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
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="dock_doors")
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
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="items")
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

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="unit_conversions")
    uom = models.ForeignKey(UnitOfMeasure, on_delete=models.PROTECT, related_name="+")
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
