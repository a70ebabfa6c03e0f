"""Admin for warehouse layout, items, units, statuses and reason codes.

Supervisors maintain master data here. Every model keeps its history
(django-simple-history), translated descriptions are edited per language
(django-modeltranslation), rows are limited to the warehouses the user was
granted (``wms.admin_scoping``), and items and locations can be exported and
imported as CSV by natural keys (warehouse code, SKU, location code, UoM
code). An import is validated row by row first and writes nothing unless every
row is valid.

Base classes go scoping mixin first, then import-export, then
``SimpleHistoryAdmin``, then ``TranslationAdmin``: each calls ``super()`` so
the scoping wraps the others, history views and translated form fields both
work, and ``ModelAdmin`` comes last.
"""

from decimal import Decimal, InvalidOperation

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import assign_perm
from import_export import fields as ie_fields
from import_export import widgets as ie_widgets
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from modeltranslation.admin import TranslationAdmin
from simple_history.admin import SimpleHistoryAdmin

from wms.admin_scoping import (
    WarehouseCodeWidget,
    WarehouseScopedAdminMixin,
    WarehouseScopedForeignKeyWidget,
    WarehouseScopedInlineMixin,
    WarehouseScopedResource,
)
from wms.scoping import WAREHOUSE_PERMISSION

from .models import (
    DockDoor,
    InventoryStatus,
    Item,
    ItemUnitConversion,
    Location,
    ReasonCode,
    UnitOfMeasure,
    Warehouse,
    Zone,
)

admin.site.site_header = _("WMS administration")
admin.site.site_title = _("WMS administration")
admin.site.index_title = _("Warehouse master data and operations")


class CsvImportExportMixin(ImportExportMixin):
    """CSV only: the format every spreadsheet and store system can write."""

    formats = [base_formats.CSV]
    import_error_display = ("message", "row")


# --- CSV resources ------------------------------------------------------------


class ItemResource(WarehouseScopedResource):
    """Items by ``(warehouse, sku)``; ``conversions`` lists the packs, "CS=12|PL=480".

    When the ``conversions`` column is present it is the item's complete list
    of conversions (an empty cell removes them).
    """

    warehouse = ie_fields.Field(
        attribute="warehouse", column_name="warehouse", widget=WarehouseCodeWidget()
    )
    base_uom = ie_fields.Field(
        attribute="base_uom",
        column_name="base_uom",
        widget=ie_widgets.ForeignKeyWidget(UnitOfMeasure, "code"),
    )
    conversions = ie_fields.Field(column_name="conversions", readonly=False)

    class Meta:
        model = Item
        fields = (
            "warehouse",
            "sku",
            "gtin",
            "description_en",
            "description_es",
            "item_class",
            "base_uom",
            "unit_cost",
            "unit_price",
            "is_active",
            "conversions",
        )
        export_order = fields
        import_id_fields = ("warehouse", "sku")
        clean_model_instances = True
        skip_unchanged = False
        report_skipped = True

    def get_queryset(self):
        return super().get_queryset().select_related("warehouse", "base_uom")

    def dehydrate_conversions(self, item):
        if item.pk is None:
            return ""
        return "|".join(
            f"{c.uom.code}={c.base_units.normalize():f}"
            for c in item.unit_conversions.select_related("uom").order_by("uom__code")
        )

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        if field.column_name == "conversions":
            return  # parsed in import_instance, written after the item is saved
        if field.column_name == "base_uom" and row.get("base_uom"):
            code = str(row["base_uom"]).strip()
            if not UnitOfMeasure.objects.filter(code=code).exists():
                raise ValueError(gettext("Unknown unit of measure “%(code)s”.") % {"code": code})
        return super().import_field(field, instance, row, is_m2m=is_m2m, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if not (row.get("description_en") or "").strip() and not instance.description_en:
            errors["description_en"] = [gettext("An English description is required.")]
        if "conversions" in row:
            try:
                instance._wms_conversions = self._parse_conversions(row["conversions"])
            except ValueError as exc:
                errors["conversions"] = [str(exc)]
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def _parse_conversions(text) -> list[tuple[UnitOfMeasure, Decimal]]:
        parsed = []
        for part in filter(None, (p.strip() for p in str(text or "").split("|"))):
            code, sep, qty = part.partition("=")
            code = code.strip()
            uom = UnitOfMeasure.objects.filter(code=code).first() if sep else None
            if uom is None:
                raise ValueError(
                    gettext("Bad conversion “%(part)s”: write UOM=QTY, e.g. CS=12.")
                    % {"part": part}
                )
            try:
                base_units = Decimal(qty.strip())
            except InvalidOperation:
                base_units = Decimal("0")
            if not base_units.is_finite() or base_units <= 0:
                raise ValueError(
                    gettext("Bad conversion “%(part)s”: the quantity must be above zero.")
                    % {"part": part}
                )
            parsed.append((uom, base_units))
        return parsed

    def after_save_instance(self, instance, row, **kwargs):
        super().after_save_instance(instance, row, **kwargs)
        wanted = getattr(instance, "_wms_conversions", None)
        if wanted is None:
            return
        keep = []
        for uom, base_units in wanted:
            conversion, _created = ItemUnitConversion.objects.update_or_create(
                item=instance, uom=uom, defaults={"base_units": base_units}
            )
            keep.append(conversion.pk)
        for stale in instance.unit_conversions.exclude(pk__in=keep):
            stale.delete()  # one by one, so each removal is in the history


class LocationResource(WarehouseScopedResource):
    """Locations by ``(warehouse, code)``; ``zone`` is a zone code of the same warehouse."""

    warehouse = ie_fields.Field(
        attribute="warehouse", column_name="warehouse", widget=WarehouseCodeWidget()
    )
    zone = ie_fields.Field(
        attribute="zone",
        column_name="zone",
        widget=WarehouseScopedForeignKeyWidget(Zone, "code"),
    )

    class Meta:
        model = Location
        fields = (
            "warehouse",
            "code",
            "barcode",
            "type",
            "zone",
            "capacity",
            "pick_sequence",
            "is_active",
        )
        export_order = fields
        import_id_fields = ("warehouse", "code")
        clean_model_instances = True
        skip_unchanged = False
        report_skipped = True

    def get_queryset(self):
        return super().get_queryset().select_related("warehouse", "zone")


# --- Layout ------------------------------------------------------------------


@admin.register(Warehouse)
class WarehouseAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    warehouse_lookup = "pk"
    list_display = ["code", "name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]
    readonly_fields = ["created_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            # Whoever creates a warehouse may work in it (otherwise it would
            # vanish from their own list the moment it is saved).
            assign_perm(WAREHOUSE_PERMISSION, request.user, obj)


@admin.register(Zone)
class ZoneAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ["code", "name", "warehouse_code", "location_count"]
    list_filter = ["warehouse"]
    search_fields = ["code", "name"]
    list_select_related = ["warehouse"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_location_count=Count("locations"))

    @admin.display(description=_("locations"), ordering="_location_count")
    def location_count(self, zone):
        return zone._location_count


@admin.register(Location)
class LocationAdmin(WarehouseScopedAdminMixin, CsvImportExportMixin, SimpleHistoryAdmin):
    resource_classes = [LocationResource]
    list_display = [
        "code",
        "type",
        "zone",
        "barcode",
        "pick_sequence",
        "capacity",
        "is_active",
        "warehouse_code",
    ]
    list_filter = ["warehouse", "type", "zone", "is_active"]
    search_fields = ["code", "barcode"]
    list_select_related = ["warehouse", "zone"]
    ordering = ["warehouse", "pick_sequence", "code"]
    fieldsets = [
        (None, {"fields": ["warehouse", "zone", "code", "barcode", "type"]}),
        (_("Picking and capacity"), {"fields": ["pick_sequence", "capacity", "is_active"]}),
    ]


@admin.register(DockDoor)
class DockDoorAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ["code", "name", "direction", "location", "warehouse_code"]
    list_filter = ["warehouse", "direction"]
    search_fields = ["code", "name"]
    list_select_related = ["warehouse", "location"]


# --- Items and units ---------------------------------------------------------


@admin.register(UnitOfMeasure)
class UnitOfMeasureAdmin(SimpleHistoryAdmin, TranslationAdmin):
    list_display = ["code", "description"]
    search_fields = ["code", "description_en", "description_es"]


class ItemUnitConversionInline(WarehouseScopedInlineMixin, admin.TabularInline):
    model = ItemUnitConversion
    extra = 1
    fields = ["uom", "base_units"]
    verbose_name = _("unit conversion")
    verbose_name_plural = _("unit conversions (how many base units one pack holds)")


@admin.register(Item)
class ItemAdmin(
    WarehouseScopedAdminMixin, CsvImportExportMixin, SimpleHistoryAdmin, TranslationAdmin
):
    resource_classes = [ItemResource]
    inlines = [ItemUnitConversionInline]
    list_display = [
        "sku",
        "description",
        "gtin",
        "base_uom",
        "item_class",
        "unit_cost",
        "unit_price",
        "is_active",
        "warehouse_code",
    ]
    list_filter = ["warehouse", "is_active", "item_class", "base_uom"]
    search_fields = ["sku", "gtin", "description_en", "description_es"]
    list_select_related = ["warehouse", "base_uom"]
    fieldsets = [
        (None, {"fields": ["warehouse", "sku", "gtin", "description", "item_class"]}),
        (_("Units and amounts"), {"fields": ["base_uom", "unit_cost", "unit_price", "is_active"]}),
    ]


# --- Statuses and reasons ----------------------------------------------------


@admin.register(InventoryStatus)
class InventoryStatusAdmin(SimpleHistoryAdmin, TranslationAdmin):
    list_display = ["code", "description", "allocatable"]
    list_filter = ["allocatable"]
    search_fields = ["code", "description_en", "description_es"]


@admin.register(ReasonCode)
class ReasonCodeAdmin(SimpleHistoryAdmin, TranslationAdmin):
    list_display = ["code", "description", "use", "requires_approval"]
    list_filter = ["use", "requires_approval"]
    search_fields = ["code", "description_en", "description_es"]
