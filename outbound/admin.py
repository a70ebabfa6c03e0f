"""Admin of the outbound context: orders (with lines, allocations, history), waves
(release / cancel), planning jobs, wave policies and the planning backlog.

Orders arrive through the store API and change only through services: the
admin shows them read-only and acts through ``outbound.services``. Every list
stops at the user's warehouse grants (``WarehouseScopedAdminMixin``).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from wms.admin_scoping import WarehouseScopedAdminMixin, WarehouseScopedInlineMixin
from wms.exceptions import DomainError
from wms.scoping import warehouses_visible_to

from . import selectors, services
from .models import (
    Allocation,
    PlanningJob,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
    Wave,
    WavePolicy,
    WaveStatus,
)


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
    actions = ["cancel_orders", "plan_now"]

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
