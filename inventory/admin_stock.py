"""Admin for balances, ledger and reservations: read-only, no one edits a quantity by hand.

Stock changes only through ``inventory.services`` (receipts, moves, picks,
counts…), so these admins refuse add, change and delete for everyone,
superusers included; they show what is where, the postings that made it so,
and which demand holds which reservation. Rows are limited to the user's
warehouses (``wms.admin_scoping``).

Search is by exact code (SKU, GTIN, location code, posting key, demand
reference) so that it runs on indexes even with millions of rows; the ledger's
changelist counts at most ``LEDGER_COUNT_CAP`` rows.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from wms.admin_scoping import WarehouseScopedAdminMixin

from .models import InventoryBalance, InventoryLedgerEntry, InventoryReservation

LEDGER_COUNT_CAP = 10_000


class _ReadOnlyAdminMixin:
    """Viewable with the view permission; never added, changed or deleted here."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _ExactCodeSearchMixin:
    """Search terms match codes exactly (index lookups), any field in ``exact_search``."""

    exact_search: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q()
        for lookup in self.exact_search:
            condition |= Q(**{lookup: term})
        return queryset.filter(condition), False


class _CappedCountPaginator(Paginator):
    """Counts at most ``LEDGER_COUNT_CAP`` rows: a changelist of ten million
    ledger entries must not start with a ``COUNT(*)`` over all of them."""

    @cached_property
    def count(self):
        return self.object_list[: LEDGER_COUNT_CAP + 1].count()


class ReservationInline(_ReadOnlyAdminMixin, admin.TabularInline):
    model = InventoryReservation
    fk_name = "balance"
    fields = ["state", "qty", "qty_consumed", "qty_released", "demand_ref", "expires_at"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = _("reservations on this balance")

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-id")


@admin.register(InventoryBalance)
class InventoryBalanceAdmin(
    WarehouseScopedAdminMixin, _ExactCodeSearchMixin, _ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = [
        "warehouse_code",
        "sku",
        "location",
        "status",
        "on_hand",
        "reserved",
        "available",
        "updated_at",
    ]
    list_filter = ["status", "warehouse"]
    list_select_related = ["warehouse", "item", "location", "status"]
    search_fields = ["item__sku"]  # shows the search box; matching is exact_search
    search_help_text = _("Exact SKU, GTIN or location code.")
    exact_search = ("item__sku", "item__gtin", "location__code")
    ordering = ["-id"]
    show_full_result_count = False
    fields = [
        "warehouse",
        "item",
        "location",
        "status",
        "on_hand",
        "reserved",
        "available",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [ReservationInline]

    @admin.display(description=_("SKU"), ordering="item__sku")
    def sku(self, obj):
        return obj.item.sku


@admin.register(InventoryLedgerEntry)
class InventoryLedgerEntryAdmin(
    WarehouseScopedAdminMixin, _ExactCodeSearchMixin, _ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = [
        "id",
        "occurred_at",
        "entry_type",
        "sku",
        "location",
        "status",
        "on_hand_delta",
        "reserved_delta",
        "posting_key",
        "source_ref",
        "actor_label",
    ]
    list_filter = ["entry_type", "status", "warehouse"]
    list_select_related = ["item", "location", "status", "posting"]
    search_fields = ["item__sku"]
    search_help_text = _("Exact SKU, location code, posting key or correlation id.")
    exact_search = ("item__sku", "location__code", "posting__posting_key", "correlation_id")
    ordering = ["-id"]
    paginator = _CappedCountPaginator
    show_full_result_count = False
    fields = [
        "posting_key",
        "line_no",
        "entry_type",
        "occurred_at",
        "warehouse",
        "item",
        "location",
        "status",
        "on_hand_delta",
        "reserved_delta",
        "reservation",
        "source_ref",
        "reason_code",
        "actor_label",
        "actor",
        "correlation_id",
    ]
    readonly_fields = fields

    @admin.display(description=_("SKU"), ordering="item__sku")
    def sku(self, obj):
        return obj.item.sku

    @admin.display(description=_("posting key"))
    def posting_key(self, obj):
        return obj.posting.posting_key


@admin.register(InventoryReservation)
class InventoryReservationAdmin(
    WarehouseScopedAdminMixin, _ExactCodeSearchMixin, _ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = [
        "id",
        "state",
        "demand_ref",
        "sku",
        "location",
        "status",
        "qty",
        "qty_consumed",
        "qty_released",
        "held",
        "expires_at",
        "created_at",
    ]
    list_filter = ["state", "warehouse"]
    list_select_related = ["item", "location", "status"]
    search_fields = ["demand_ref"]
    search_help_text = _("Exact demand reference (e.g. ReplenishmentOrderLine:<id>) or SKU.")
    exact_search = ("demand_ref", "item__sku")
    ordering = ["-id"]
    fields = [
        "state",
        "demand_ref",
        "warehouse",
        "item",
        "location",
        "status",
        "balance",
        "qty",
        "qty_consumed",
        "qty_released",
        "held",
        "expires_at",
        "created_at",
        "resolved_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("SKU"), ordering="item__sku")
    def sku(self, obj):
        return obj.item.sku

    @admin.display(description=_("still held"))
    def held(self, obj):
        return obj.qty_open
