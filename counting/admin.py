"""Admin of counting: counts with their progress, the variance review, count settings.

Counts and lines are workflow records: read-only here, changed only through
``counting.services`` by controlled actions (close, cancel, settle a count;
accept a variance or ask for a recount of a line). Recount tolerances per
warehouse are configuration, edited directly. Every list stops at the user's
warehouse grants (``wms.admin_scoping``).
"""

from collections import defaultdict

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from wms.admin_scoping import WarehouseScopedAdminMixin
from wms.exceptions import DomainError

from . import services
from .models import CountLine, CountLineState, CountSettings, InventoryCount


class _ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Shown read-only (view permission); actions declare their own permission.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _qty(value) -> str:
    return format(value.normalize(), "f") if value is not None else "-"


@admin.register(InventoryCount)
class InventoryCountAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    warehouse_lookup = "warehouse"
    list_display = [
        "count_number",
        "warehouse_code",
        "type",
        "blind",
        "status",
        "progress",
        "created_by_label",
        "created_at",
        "completed_at",
    ]
    list_filter = ["status", "type", "warehouse"]
    search_fields = ["count_number", "source_ref"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "count_number",
        "warehouse",
        "type",
        "blind",
        "status",
        "zone",
        "scope",
        "assigned_to",
        "source_ref",
        "created_by_label",
        "created_at",
        "started_at",
        "completed_at",
        "closed_by_label",
        "progress",
        "review_link",
    ]
    fields = readonly_fields
    actions = ["close_counts", "settle_counts", "cancel_counts"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _total=Count("lines"),
                _counted=Count("lines", filter=Q(lines__qty_counted__isnull=False)),
            )
        )

    @admin.display(description=_("lines counted"))
    def progress(self, obj):
        total = getattr(obj, "_total", None)
        counted = getattr(obj, "_counted", None)
        if total is None:
            counted, total = obj.lines.filter(qty_counted__isnull=False).count(), obj.lines.count()
        return f"{counted} / {total}"

    @admin.display(description=_("lines"))
    def review_link(self, obj):
        url = reverse("admin:counting_countline_changelist") + f"?count__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Review the lines and variances"))

    def _each(self, request, queryset, action, done):
        ok = 0
        for count in queryset:
            try:
                action(count)
                ok += 1
            except DomainError as exc:
                self.message_user(request, f"{count}: {exc.detail}", messages.ERROR)
        if ok:
            self.message_user(request, done % {"n": ok}, messages.SUCCESS)

    @admin.action(description=_("Close and reconcile"), permissions=["close"])
    def close_counts(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda count: services.count_close(count=count, actor=request.user),
            _("%(n)d counts closed."),
        )

    @admin.action(description=_("Settle (after approvals)"), permissions=["close"])
    def settle_counts(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda count: services.count_settle(count=count, actor=request.user),
            _("%(n)d counts checked."),
        )

    @admin.action(description=_("Cancel"), permissions=["close"])
    def cancel_counts(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda count: services.count_cancel(count=count, actor=request.user),
            _("%(n)d counts cancelled."),
        )

    def has_close_permission(self, request):
        return request.user.has_perm("counting.change_inventorycount")


class _VarianceFilter(admin.SimpleListFilter):
    title = _("variance")
    parameter_name = "variance"

    def lookups(self, request, model_admin):
        return [("yes", _("With a variance")), ("no", _("Without"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(variance=0).exclude(variance__isnull=True)
        if self.value() == "no":
            return queryset.filter(variance=0)
        return queryset


@admin.register(CountLine)
class CountLineAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, admin.ModelAdmin):
    """The variance review: lines waiting for a recount, and every variance of a count."""

    warehouse_lookup = "count__warehouse"
    list_display = [
        "count",
        "location",
        "item",
        "status",
        "expected",
        "counted",
        "counted_by_label",
        "recounted",
        "recount_by_label",
        "moved",
        "variance_shown",
        "state",
        "adjustment",
    ]
    list_filter = ["state", _VarianceFilter, "count__status", "added_at_scan"]
    search_fields = ["count__count_number", "location__code", "item__sku"]
    list_select_related = ["count", "location", "item", "status", "adjustment"]
    list_per_page = 100
    actions = ["accept_variances", "request_recounts"]

    @admin.display(description=_("expected"))
    def expected(self, obj):
        return _qty(obj.qty_expected)

    @admin.display(description=_("counted"))
    def counted(self, obj):
        return _qty(obj.qty_counted)

    @admin.display(description=_("recounted"))
    def recounted(self, obj):
        return _qty(obj.recount_qty)

    @admin.display(description=_("moved since opening"))
    def moved(self, obj):
        return _qty(obj.qty_moved)

    @admin.display(description=_("variance"))
    def variance_shown(self, obj):
        return _qty(obj.variance)

    def _by_count(self, request, queryset, action, done):
        groups = defaultdict(list)
        for line in queryset.select_related("count"):
            groups[line.count].append(line.pk)
        ok = 0
        for count, line_ids in groups.items():
            try:
                ok += len(action(count, line_ids))
            except DomainError as exc:
                self.message_user(request, f"{count}: {exc.detail}", messages.ERROR)
        if ok:
            self.message_user(request, done % {"n": ok}, messages.SUCCESS)

    @admin.action(description=_("Approve the variance (no recount)"), permissions=["review"])
    def accept_variances(self, request, queryset):
        self._by_count(
            request,
            queryset.filter(state=CountLineState.RECOUNT_REQUIRED),
            lambda count, ids: services.count_lines_variance_accept(
                count=count, line_ids=ids, actor=request.user
            ),
            _("%(n)d variances approved."),
        )

    @admin.action(description=_("Ask for a recount"), permissions=["review"])
    def request_recounts(self, request, queryset):
        self._by_count(
            request,
            queryset.filter(state=CountLineState.COUNTED),
            lambda count, ids: services.count_lines_recount_request(
                count=count, line_ids=ids, actor=request.user
            ),
            _("%(n)d lines sent back for a recount."),
        )

    def has_review_permission(self, request):
        return request.user.has_perm("counting.change_countline") and request.user.has_perm(
            "counting.change_inventorycount"
        )


@admin.register(CountSettings)
class CountSettingsAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    warehouse_lookup = "warehouse"
    list_display = ["warehouse_code", "recount_tolerance_qty", "recount_tolerance_pct"]
