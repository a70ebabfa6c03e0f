"""Admin of the outbound context: orders (with lines, allocations, history), waves
(release / cancel), planning jobs, wave policies and the planning backlog;
package types (master data), packages (with their labels) and shipments (with
the packing list, contents and events).

Orders arrive through the store API and change only through services: the
admin shows them read-only and acts through ``outbound.services`` (packed
orders of one store are shipped by an action that asks for the dock door,
carrier and tracking reference and calls ``shipment_confirm``). Every list
stops at the user's warehouse grants (``WarehouseScopedAdminMixin``).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from wms.admin_scoping import WarehouseScopedAdminMixin, WarehouseScopedInlineMixin
from wms.exceptions import DomainError
from wms.models import OutboxEvent
from wms.scoping import warehouses_visible_to

from . import dock_selectors, selectors, services
from .models import (
    Allocation,
    Package,
    PackageLine,
    PackageStatus,
    PackageType,
    PlanningJob,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
    Shipment,
    ShipmentLine,
    Wave,
    WavePolicy,
    WaveStatus,
)
from .services.shipping import SHIPMENT_AGGREGATE, shipment_confirm


class ReadOnlyInline(WarehouseScopedInlineMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = ReplenishmentOrderLine
    fields = [
        "line_number",
        "item",
        "uom",
        "qty_requested",
        "qty_requested_base",
        "qty_allocated",
        "qty_picked",
        "qty_packed",
        "qty_shipped",
        "status",
    ]
    readonly_fields = fields


class AllocationInline(ReadOnlyInline):
    model = Allocation
    fk_name = "order"
    fields = ["line", "item", "location", "inventory_status", "qty", "status", "reservation"]
    readonly_fields = fields


class _ReadOnlyAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _run(modeladmin, request, queryset, action, done_message):
    ok = 0
    for obj in queryset:
        try:
            action(obj)
            ok += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, done_message % {"count": ok}, messages.SUCCESS)


@admin.register(ReplenishmentOrder)
class ReplenishmentOrderAdmin(_ReadOnlyAdmin):
    list_display = [
        "external_order_id",
        "store_code",
        "warehouse_code",
        "status",
        "priority",
        "requested_ship_by",
        "wave_link",
        "accepted_at",
    ]
    list_filter = ["status", "warehouse", "priority"]
    search_fields = ["external_order_id", "store_code", "=id"]
    date_hierarchy = "accepted_at"
    list_select_related = ["warehouse"]
    show_full_result_count = False
    readonly_fields = [
        "id",
        "warehouse",
        "store_code",
        "external_order_id",
        "status",
        "priority",
        "requested_ship_by",
        "planning_group",
        "needs_planning",
        "rejection_reasons",
        "wave",
        "zone",
        "correlation_id",
        "accepted_at",
        "planned_at",
        "released_at",
        "cancelled_at",
        "updated_at",
    ]
    inlines = [OrderLineInline, AllocationInline]
    actions = ["cancel_orders", "plan_now", "ship_orders"]

    def has_change_permission(self, request, obj=None):
        # The change view is a read-only detail page; actions check their own perms.
        return super().has_view_permission(request, obj)

    @admin.display(description=_("wave"), ordering="wave")
    def wave_link(self, order):
        if order.wave_id is None:
            return "—"
        url = reverse("admin:outbound_wave_change", args=[order.wave_id])
        return format_html('<a href="{}">{}</a>', url, str(order.wave_id)[-8:])

    @admin.action(description=_("Cancel selected orders (releases reservations)"))
    def cancel_orders(self, request, queryset):
        if not request.user.has_perm("outbound.change_replenishmentorder"):
            raise PermissionDenied
        _run(
            self,
            request,
            queryset,
            lambda o: services.order_cancel(order_id=o.pk, actor=request.user, reason="admin"),
            _("%(count)d order(s) cancelled."),
        )

    @admin.action(description=_("Plan selected orders now"))
    def plan_now(self, request, queryset):
        if not request.user.has_perm("outbound.change_replenishmentorder"):
            raise PermissionDenied
        _run(
            self,
            request,
            queryset.filter(needs_planning=True),
            lambda o: services.order_plan(order_id=o.pk),
            _("%(count)d order(s) planned."),
        )

    @admin.action(description=_("Ship selected packed orders at a dock door…"))
    def ship_orders(self, request, queryset):
        """Packed orders of one store leave together: choose the door, the carrier and
        the tracking reference, then ``shipment_confirm`` posts it. Refusals (not packed,
        several stores, unknown door) are messages, and nothing is posted."""
        if not request.user.has_perm("outbound.add_shipment"):
            raise PermissionDenied
        closed = Count("packages", filter=Q(packages__status=PackageStatus.CLOSED))
        orders = list(
            queryset.select_related("warehouse")
            .annotate(package_count=closed)
            .order_by("external_order_id")
        )
        try:
            dock_selectors.orders_check_shippable(orders=orders)
        except DomainError as exc:
            self.message_user(request, _refusal(exc), messages.ERROR)
            return None
        doors = dock_selectors.outbound_dock_doors(warehouse_id=orders[0].warehouse_id)
        form = ShipOrdersForm(
            request.POST if "dock_door" in request.POST else None,
            doors=[door.code for door in doors],
        )
        if form.is_valid():
            return self._ship(request, orders, form.cleaned_data)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Ship packed orders"),
            "opts": self.model._meta,
            "orders": orders,
            "store_code": orders[0].store_code,
            "warehouse": orders[0].warehouse,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/outbound/ship_orders.html", context)

    def _ship(self, request, orders, data):
        try:
            shipment, replayed = shipment_confirm(
                order_ids=[order.pk for order in orders],
                dock_door_code=data["dock_door"],
                carrier=data["carrier"],
                tracking_ref=data["tracking_ref"],
                actor=request.user,
            )
        except DomainError as exc:
            self.message_user(request, _refusal(exc), messages.ERROR)
            return None
        url = reverse("admin:outbound_shipment_change", args=[shipment.pk])
        if replayed:
            message = _("These orders already left in shipment %(number)s; nothing changed.")
            level = messages.INFO
        else:
            message = _("Shipment %(number)s confirmed: %(count)d order(s) shipped.")
            level = messages.SUCCESS
        self.message_user(
            request, message % {"number": shipment.shipment_number, "count": len(orders)}, level
        )
        return HttpResponseRedirect(url)


def _refusal(exc: DomainError) -> str:
    """An admin message for a refused shipment: the reason and its stable code."""
    return f"{exc.detail} ({exc.code})"


class ShipOrdersForm(forms.Form):
    """Where and how the selected orders leave (the admin's ship action)."""

    dock_door = forms.CharField(label=_("Dock door"), max_length=32)
    carrier = forms.CharField(label=_("Carrier"), max_length=100)
    tracking_ref = forms.CharField(label=_("Tracking reference"), max_length=100, required=False)

    def __init__(self, *args, doors=(), **kwargs):
        super().__init__(*args, **kwargs)
        # A select of the outbound doors; a code that is not one of them (a door
        # deleted meanwhile, a crafted post) is refused by the shipping service.
        self.fields["dock_door"].widget = forms.Select(choices=[(code, code) for code in doors])


class WaveOrderInline(ReadOnlyInline):
    model = ReplenishmentOrder
    fk_name = "wave"
    fields = ["external_order_id", "store_code", "status", "priority", "requested_ship_by"]
    readonly_fields = fields


@admin.register(Wave)
class WaveAdmin(_ReadOnlyAdmin):
    list_display = [
        "__str__",
        "warehouse_code",
        "status",
        "priority",
        "zone",
        "window_start",
        "order_count",
        "line_count",
        "unit_count",
        "is_full",
        "created_at",
        "released_at",
    ]
    list_filter = ["status", "warehouse", "priority", "is_full"]
    list_select_related = ["warehouse", "zone"]
    readonly_fields = [
        "id",
        "warehouse",
        "zone",
        "priority",
        "window_start",
        "window_end",
        "status",
        "order_count",
        "line_count",
        "unit_count",
        "is_full",
        "created_at",
        "released_at",
        "release_reason",
        "released_by",
        "cancelled_at",
    ]
    actions = ["release_waves", "cancel_waves"]
    # tasking.admin appends the wave's pick tasks (tasking sits above outbound).
    inlines = [WaveOrderInline]

    def has_change_permission(self, request, obj=None):
        return super().has_view_permission(request, obj)

    @admin.action(description=_("Release selected waves (creates pick tasks)"))
    def release_waves(self, request, queryset):
        if not request.user.has_perm("outbound.change_wave"):
            raise PermissionDenied
        _run(
            self,
            request,
            queryset.filter(status=WaveStatus.OPEN),
            lambda w: services.wave_release(wave_id=w.pk, actor=request.user),
            _("%(count)d wave(s) released."),
        )

    @admin.action(description=_("Cancel selected waves (orders go back to planned)"))
    def cancel_waves(self, request, queryset):
        if not request.user.has_perm("outbound.change_wave"):
            raise PermissionDenied
        _run(
            self,
            request,
            queryset.exclude(status=WaveStatus.CANCELLED),
            lambda w: services.wave_cancel(wave_id=w.pk, actor=request.user),
            _("%(count)d wave(s) cancelled."),
        )


@admin.register(PlanningJob)
class PlanningJobAdmin(WarehouseScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "warehouse_code",
        "planning_group",
        "trigger",
        "status",
        "attempts",
        "orders_planned",
        "orders_backordered",
        "orders_rejected",
        "lines_allocated",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger", "warehouse"]
    list_select_related = ["warehouse"]
    show_full_result_count = False
    change_list_template = "admin/outbound/planningjob/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "backlog/",
                self.admin_site.admin_view(self.backlog_view),
                name="outbound_planning_backlog",
            ),
            *super().get_urls(),
        ]

    def backlog_view(self, request):
        """Orders waiting for planning, backordered and not yet in a wave, per partition."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        visible = set(warehouses_visible_to(request.user).values_list("code", flat=True))
        rows = [r for r in selectors.planning_backlog_overview() if r["warehouse__code"] in visible]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Planning backlog"),
            "rows": rows,
            "totals": {
                key: sum(r[key] for r in rows) for key in ("waiting", "backordered", "unwaved")
            },
            "running_jobs": self.get_queryset(request).filter(status="RUNNING").count(),
            "open_waves": Wave.objects.filter(
                status=WaveStatus.OPEN, warehouse__code__in=visible
            ).count(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/outbound/backlog.html", context)


@admin.register(WavePolicy)
class WavePolicyAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "warehouse_code",
        "release_mode",
        "max_orders",
        "max_lines",
        "max_units",
        "window_minutes",
        "release_lead_minutes",
        "max_open_minutes",
    ]


# --- packing and shipping -----------------------------------------------------------


@admin.register(PackageType)
class PackageTypeAdmin(SimpleHistoryAdmin):
    """Cartons, pallets, totes: master data of the whole instance (no warehouse)."""

    list_display = [
        "code",
        "name",
        "kind",
        "tare_weight_kg",
        "length_cm",
        "width_cm",
        "height_cm",
        "max_weight_kg",
        "is_active",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "name"]

    def has_delete_permission(self, request, obj=None):
        # Packages keep their type forever (PROTECT): retire a type with "active".
        return False


def _label_links(package) -> str:
    url = reverse("package-label", args=[package.pk])
    return format_html(
        '<a href="{}" target="_blank">PDF</a> · <a href="{}?format=zpl" target="_blank">ZPL</a>',
        url,
        url,
    )


class PackageLineInline(ReadOnlyInline):
    """One row per scan, as packed (base unit)."""

    model = PackageLine
    fields = ["line_number", "sku", "qty", "created_at", "entry_key"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line__item")

    @admin.display(description=_("line"))
    def line_number(self, row):
        return row.order_line.line_number

    @admin.display(description=_("SKU"))
    def sku(self, row):
        return row.order_line.item.sku


@admin.register(Package)
class PackageAdmin(_ReadOnlyAdmin):
    """Packages change only on the pack pages and the automation API: read-only here."""

    warehouse_lookup = "order__warehouse"
    list_display = [
        "sscc",
        "order_link",
        "store_code",
        "warehouse_code",
        "package_type",
        "status",
        "weight_kg",
        "shipment_link",
        "created_at",
        "closed_at",
        "label_links",
    ]
    list_filter = ["status", "package_type", "order__warehouse"]
    search_fields = ["=sscc", "=id", "order__external_order_id", "=order__id"]
    date_hierarchy = "created_at"
    list_select_related = ["order__warehouse", "package_type", "shipment"]
    show_full_result_count = False
    ordering = ["-created_at"]
    readonly_fields = [
        "id",
        "sscc",
        "label_links",
        "order_link",
        "package_type",
        "status",
        "weight_kg",
        "shipment_link",
        "created_at",
        "closed_at",
        "packed_by",
    ]
    fields = readonly_fields
    inlines = [PackageLineInline]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("label"))
    def label_links(self, package):
        return _label_links(package)

    @admin.display(description=_("order"), ordering="order__external_order_id")
    def order_link(self, package):
        url = reverse("admin:outbound_replenishmentorder_change", args=[package.order_id])
        return format_html('<a href="{}">{}</a>', url, package.order.external_order_id)

    @admin.display(description=_("store"), ordering="order__store_code")
    def store_code(self, package):
        return package.order.store_code

    @admin.display(description=_("shipment"), ordering="shipment__shipment_number")
    def shipment_link(self, package):
        if package.shipment_id is None:
            return "—"
        url = reverse("admin:outbound_shipment_change", args=[package.shipment_id])
        return format_html('<a href="{}">{}</a>', url, package.shipment.shipment_number)


class ShipmentLineInline(ReadOnlyInline):
    model = ShipmentLine
    fields = ["order", "line_number", "item", "qty"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line__order", "item")

    @admin.display(description=_("order"))
    def order(self, row):
        return row.order_line.order.external_order_id

    @admin.display(description=_("line"))
    def line_number(self, row):
        return row.order_line.line_number


class ShipmentPackageInline(ReadOnlyInline):
    model = Package
    fk_name = "shipment"
    fields = ["package_link", "order", "package_type", "weight_kg", "label"]
    readonly_fields = fields
    ordering = ["created_at", "sscc"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order", "package_type")

    @admin.display(description=_("SSCC"))
    def package_link(self, package):
        url = reverse("admin:outbound_package_change", args=[package.pk])
        return format_html('<a href="{}">{}</a>', url, package.sscc)

    @admin.display(description=_("order"))
    def order(self, package):
        return package.order.external_order_id

    @admin.display(description=_("label"))
    def label(self, package):
        return _label_links(package)


class ShipmentOrderInline(ReadOnlyInline):
    model = ReplenishmentOrder
    fk_name = "shipment"
    fields = ["external_order_id", "store_code", "status", "packed_at", "shipped_at"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Shipment)
class ShipmentAdmin(_ReadOnlyAdmin):
    """Confirmed shipments, read-only: they are written once, by ``shipment_confirm``
    (from the orders' ship action, the handheld dock page or the automation API)."""

    list_display = [
        "shipment_number",
        "warehouse_code",
        "store_code",
        "dock_door",
        "carrier",
        "tracking_ref",
        "shipped_at",
        "packing_list_link",
    ]
    list_filter = ["warehouse", "store_code", "carrier", "dock_door"]
    search_fields = ["=shipment_number", "=id", "store_code", "tracking_ref"]
    date_hierarchy = "shipped_at"
    list_select_related = ["warehouse", "dock_door"]
    show_full_result_count = False
    readonly_fields = [
        "id",
        "shipment_number",
        "packing_list_link",
        "warehouse",
        "store_code",
        "status",
        "dock_door",
        "carrier",
        "tracking_ref",
        "departed_at",
        "shipped_at",
        "shipped_by",
        "events",
    ]
    fields = readonly_fields
    inlines = [ShipmentOrderInline, ShipmentPackageInline, ShipmentLineInline]
    # "Ship packed orders" leads to the packed orders and their ship action.
    change_list_template = "admin/outbound/shipment/change_list.html"

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        can_ship = request.user.has_perm("outbound.add_shipment")
        return super().changelist_view(request, {**(extra_context or {}), "can_ship": can_ship})

    @admin.display(description=_("packing list"))
    def packing_list_link(self, shipment):
        url = reverse("shipment-packing-list", args=[shipment.pk])
        return format_html('<a href="{}" target="_blank">PDF</a>', url)

    @admin.display(description=_("events"))
    def events(self, shipment):
        """The shipment's outbox events (``shipment.confirmed``) and whether they left."""
        rows = OutboxEvent.objects.filter(
            aggregate_type=SHIPMENT_AGGREGATE, aggregate_id=str(shipment.pk)
        ).order_by("id")
        return (
            format_html_join(
                mark_safe("<br>"),  # a constant separator  # nosec B308
                '<a href="{}">{}</a> ({}, {})',
                (
                    (
                        reverse("admin:wms_outboxevent_change", args=[event.pk]),
                        event.event_type,
                        event.get_status_display(),
                        localize(timezone.localtime(event.published_at or event.occurred_at)),
                    )
                    for event in rows
                ),
            )
            or "—"
        )
