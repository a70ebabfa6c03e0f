"""Admin of counting: counts with their progress, the variance review, count settings.

Counts and lines are workflow records: read-only here, changed only through
``counting.services`` by controlled actions (close, cancel, settle a count;
accept a variance or ask for a recount of a line; retry the refused adjustment
of a blocked line, or close it without one, with a note). Recount tolerances per
warehouse are configuration, edited directly. Every list stops at the user's
warehouse grants (``wms.admin_scoping``).
"""

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from inventory.selectors import zone_for_code
from wms.admin_scoping import WarehouseScopedAdminMixin
from wms.exceptions import BusinessValidationError, DomainError
from wms.scoping import warehouses_visible_to

from . import services
from .models import CountLine, CountLineState, CountSettings, CountType, InventoryCount


class CountOpenForm(forms.Form):
    """What ``count_open`` needs; codes as typed (one per line or comma separated)."""

    warehouse = forms.ModelChoiceField(label=_("Warehouse"), queryset=None)
    type = forms.ChoiceField(label=_("Type"), choices=CountType.choices)
    blind = forms.BooleanField(label=_("Blind"), required=False, initial=True)
    zone = forms.CharField(label=_("Zone"), required=False, max_length=32)
    locations = forms.CharField(label=_("Locations"), required=False, widget=forms.Textarea)
    skus = forms.CharField(label=_("SKUs"), required=False, widget=forms.Textarea)
    abc_class = forms.CharField(label=_("ABC class"), required=False, max_length=32)
    not_counted_days = forms.IntegerField(
        label=_("Not counted for (days)"), required=False, min_value=0
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["warehouse"].queryset = warehouses_visible_to(actor).order_by("code")

    @staticmethod
    def codes(text: str) -> list[str] | None:
        codes = [code.strip() for code in text.replace(",", "\n").splitlines() if code.strip()]
        return codes or None


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

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("counting.add_inventorycount")

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "add/",
                self.admin_site.admin_view(self.open_view),
                name=f"{opts.app_label}_{opts.model_name}_add",
            ),
            *super().get_urls(),
        ]

    def open_view(self, request):
        """The add page opens a count through ``count_open`` (its refusals as form errors)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CountOpenForm(request.POST or None, actor=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                count = self._open(form.cleaned_data, request.user)
            except DomainError as exc:
                form.add_error(None, exc.detail)
                for error in getattr(exc, "errors", []):
                    form.add_error(None, f"{error['field']}: {error['message']}")
            else:
                self.message_user(
                    request,
                    _("Count %(count)s opened with %(n)d lines.")
                    % {"count": count.count_number, "n": count.line_total},
                    messages.SUCCESS,
                )
                return redirect("admin:counting_inventorycount_change", count.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Open a count"),
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "counting/admin/open_count.html", context)

    @staticmethod
    def _open(data: dict, actor) -> InventoryCount:
        warehouse, zone = data["warehouse"], None
        if data["zone"]:
            zone = zone_for_code(warehouse=warehouse, code=data["zone"])
            if zone is None:
                raise BusinessValidationError(_("Unknown zone %(code)s.") % {"code": data["zone"]})
        return services.count_open(
            warehouse=warehouse,
            type=data["type"],
            blind=data["blind"],
            zone=zone,
            locations=CountOpenForm.codes(data["locations"]),
            skus=CountOpenForm.codes(data["skus"]),
            abc_class=data["abc_class"],
            not_counted_days=data["not_counted_days"],
            actor=actor,
        )

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


class CountLineActionForm(ActionForm):
    note = forms.CharField(
        label=_("Note (required to close a blocked line without an adjustment)"),
        required=False,
        max_length=400,
    )


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
    action_form = CountLineActionForm
    actions = [
        "accept_variances",
        "request_recounts",
        "retry_blocked_adjustments",
        "resolve_blocked_lines",
    ]

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

    @admin.action(
        description=_("Blocked lines: request the refused adjustment again"),
        permissions=["review"],
    )
    def retry_blocked_adjustments(self, request, queryset):
        still_blocked = []

        def retry(count, ids):
            retried = services.count_lines_blocked_retry(
                count=count, line_ids=ids, actor=request.user
            )
            still_blocked.extend(retried.blocked)
            return retried.adjustments

        self._by_count(
            request,
            queryset.filter(state=CountLineState.BLOCKED),
            retry,
            _("%(n)d adjustments requested for blocked lines."),
        )
        for line in still_blocked:
            self.message_user(
                request,
                _("%(line)s is still blocked: %(reason)s") % {"line": line, "reason": line.note},
                messages.WARNING,
            )

    @admin.action(
        description=_("Blocked lines: close without an adjustment (note required)"),
        permissions=["review"],
    )
    def resolve_blocked_lines(self, request, queryset):
        self._by_count(
            request,
            queryset.filter(state=CountLineState.BLOCKED),
            lambda count, ids: services.count_lines_blocked_resolve(
                count=count, line_ids=ids, actor=request.user, note=request.POST.get("note", "")
            ),
            _("%(n)d blocked lines closed without an adjustment."),
        )

    def has_review_permission(self, request):
        return request.user.has_perm("counting.change_countline") and request.user.has_perm(
            "counting.change_inventorycount"
        )


@admin.register(CountSettings)
class CountSettingsAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    warehouse_lookup = "warehouse"
    list_display = ["warehouse_code", "recount_tolerance_qty", "recount_tolerance_pct"]
