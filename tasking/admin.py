"""Admin of the tasking context: the supervisor's desk for picking.

Pick tasks, confirmations, exceptions and count requests are workflow records:
read-only here, they change only through ``tasking.services`` by controlled
actions (reassign a task to a picker, put it back in the queue, resolve an
exception by re-allocating, shorting or quarantining, close a count request).
Which zones automation works (``AutomationZone``) is configuration, edited
directly. Every list stops at the user's warehouse grants.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import get_users_with_perms
from simple_history.admin import SimpleHistoryAdmin

from outbound.admin import ReadOnlyInline, WaveAdmin
from wms.admin_scoping import WarehouseScopedAdminMixin
from wms.exceptions import DomainError
from wms.scoping import WAREHOUSE_PERMISSION

from . import services
from .models import (
    OPEN_STATUSES,
    AutomationZone,
    CountRequest,
    ExceptionCase,
    ExceptionStatus,
    PackTask,
    PickConfirmation,
    PickTask,
)


class PickTaskInline(ReadOnlyInline):
    model = PickTask
    fk_name = "wave"
    fields = ["sequence", "from_location", "item", "qty_to_pick", "qty_picked", "status"]
    readonly_fields = fields
    ordering = ["sequence"]


# The wave page shows its pick tasks; outbound cannot name PickTask, so it is added here.
WaveAdmin.inlines = [*WaveAdmin.inlines, PickTaskInline]


def _run(modeladmin, request, queryset, action, done_message, **params):
    """Apply ``action`` to each selected row through a service; report refusals per row."""
    ok = 0
    for obj in queryset:
        try:
            action(obj)
            ok += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, done_message % {"count": ok, **params}, messages.SUCCESS)


class _ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Shown read-only (view permission); actions declare their own permission.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def pickers_for(warehouse):
    """Active people who may pick in ``warehouse`` (its grant and the picking permission)."""
    perm = Permission.objects.get(codename="change_picktask", content_type__app_label="tasking")
    granted = get_users_with_perms(
        warehouse, only_with_perms_in=[WAREHOUSE_PERMISSION.split(".")[1]], with_superusers=False
    )
    return (
        get_user_model()
        .objects.filter(pk__in=granted.values("pk"), is_active=True)
        .filter(Q(user_permissions=perm) | Q(groups__permissions=perm))
        .distinct()
        .order_by("username")
    )


class ReassignForm(forms.Form):
    picker = forms.ModelChoiceField(label=_("Picker"), queryset=get_user_model().objects.none())

    def __init__(self, *args, pickers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["picker"].queryset = pickers


@admin.register(PickTask)
class PickTaskAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "label",
        "warehouse_code",
        "status",
        "work_mode",
        "priority",
        "zone",
        "from_location",
        "item",
        "qty_to_pick",
        "qty_picked",
        "assigned_to",
        "dispatch_target",
        "created_at",
    ]
    list_filter = ["status", "work_mode", "warehouse", "zone"]
    list_select_related = ["warehouse", "zone", "from_location", "item", "assigned_to"]
    search_fields = ["=id", "=wave__id", "=order__id", "item__sku", "from_location__code"]
    show_full_result_count = False
    ordering = ["-id"]
    actions = ["reassign", "return_to_queue"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["reservations"]

    @admin.display(description=_("task"), ordering="id")
    def label(self, task):
        return task.label

    def has_reassign_permission(self, request):
        return request.user.has_perm("tasking.change_picktask") and request.user.is_staff

    @admin.action(description=_("Reassign to a picker…"), permissions=["reassign"])
    def reassign(self, request, queryset):
        tasks = list(queryset.filter(status__in=OPEN_STATUSES).select_related("warehouse"))
        warehouses = {t.warehouse_id for t in tasks}
        if not tasks or len(warehouses) != 1:
            self.message_user(
                request,
                _("Select open tasks of one warehouse to reassign."),
                messages.ERROR,
            )
            return None
        pickers = pickers_for(tasks[0].warehouse)
        form = ReassignForm(request.POST if "picker" in request.POST else None, pickers=pickers)
        if form.is_valid():
            picker = form.cleaned_data["picker"]
            _run(
                self,
                request,
                tasks,
                lambda task: services.pick_task_reassign(
                    task_id=task.pk, picker=picker, actor=request.user
                ),
                _("%(count)d task(s) reassigned to %(picker)s."),
                picker=picker.get_username(),
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reassign pick tasks"),
            "opts": self.model._meta,
            "tasks": tasks,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "tasking/admin/reassign.html", context)

    @admin.action(description=_("Return to the picking queue"), permissions=["reassign"])
    def return_to_queue(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda task: services.pick_task_return_to_queue(task_id=task.pk, actor=request.user),
            _("%(count)d task(s) returned to the picking queue."),
        )


@admin.register(PickConfirmation)
class PickConfirmationAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "recorded_at",
        "pick_task",
        "source",
        "qty_picked",
        "from_location",
        "to_location",
        "task_status",
        "actor_label",
        "external_correlation_id",
    ]
    list_filter = ["source", "task_status", "warehouse"]
    list_select_related = ["pick_task", "from_location", "to_location"]
    search_fields = ["=pick_task__id", "external_correlation_id", "correlation_id"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


class CountRequestInline(admin.TabularInline):
    model = CountRequest
    extra = 0
    fields = ["location", "item", "reason", "status", "requested_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ExceptionCase)
class ExceptionCaseAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "label",
        "warehouse_code",
        "type",
        "status",
        "location",
        "item",
        "qty_expected",
        "qty_picked",
        "qty_missing",
        "reported_by_label",
        "opened_at",
        "resolution",
    ]
    list_filter = ["status", "type", "resolution", "warehouse"]
    list_select_related = ["warehouse", "location", "item"]
    search_fields = ["=id", "=pick_task__id", "item__sku", "location__code", "note"]
    date_hierarchy = "opened_at"
    inlines = [CountRequestInline]
    actions = ["resolve_reallocate", "resolve_short", "resolve_quarantine"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.display(description=_("case"), ordering="id")
    def label(self, case):
        return case.label

    def has_resolve_permission(self, request):
        return request.user.has_perm("tasking.resolve_exceptioncase")

    def _resolve(self, request, queryset, action, done):
        _run(
            self,
            request,
            queryset.filter(status=ExceptionStatus.OPEN),
            lambda case: services.exception_case_resolve(
                case_id=case.pk, action=action, actor=request.user
            ),
            done,
        )

    @admin.action(description=_("Re-allocate from another location"), permissions=["resolve"])
    def resolve_reallocate(self, request, queryset):
        self._resolve(
            request,
            queryset,
            services.ACTION_REALLOCATE,
            _("%(count)d exception(s) resolved: re-allocated."),
        )

    @admin.action(description=_("Short the line (release the rest)"), permissions=["resolve"])
    def resolve_short(self, request, queryset):
        self._resolve(
            request,
            queryset,
            services.ACTION_SHORT,
            _("%(count)d exception(s) resolved: line shorted."),
        )

    @admin.action(
        description=_("Quarantine the location's stock and request a count"),
        permissions=["resolve"],
    )
    def resolve_quarantine(self, request, queryset):
        self._resolve(
            request,
            queryset,
            services.ACTION_QUARANTINE,
            _("%(count)d exception(s) resolved: location quarantined, count requested."),
        )


@admin.register(CountRequest)
class CountRequestAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "requested_at",
        "warehouse_code",
        "location",
        "item",
        "reason",
        "status",
        "exception_case",
        "requested_by",
    ]
    list_filter = ["status", "warehouse"]
    list_select_related = ["warehouse", "location", "item", "exception_case", "requested_by"]
    actions = ["mark_done"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_close_permission(self, request):
        return request.user.has_perm("tasking.change_countrequest")

    @admin.action(description=_("Mark as counted"), permissions=["close"])
    def mark_done(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda row: services.count_request_close(request_id=row.pk, actor=request.user),
            _("%(count)d count request(s) closed."),
        )


@admin.register(AutomationZone)
class AutomationZoneAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    warehouse_lookup = "zone__warehouse"
    list_display = ["zone", "system", "is_active", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["zone__warehouse", "system"]
    fields = ["zone", "system", "is_active"]


@admin.register(PackTask)
class PackTaskAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    """Orders to pack and being packed: the packers' work, done on the pack pages."""

    list_display = [
        "order_link",
        "store_code",
        "warehouse_code",
        "status",
        "assigned_to",
        "created_at",
        "started_at",
        "finished_at",
        "packages_link",
    ]
    list_filter = ["status", "warehouse", "assigned_to"]
    list_select_related = ["warehouse", "order", "assigned_to"]
    search_fields = ["=id", "=order__id", "order__external_order_id", "order__store_code"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ["-created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["packages_link"]

    @admin.display(description=_("order"), ordering="order__external_order_id")
    def order_link(self, task):
        url = reverse("admin:outbound_replenishmentorder_change", args=[task.order_id])
        return format_html('<a href="{}">{}</a>', url, task.order.external_order_id)

    @admin.display(description=_("store"), ordering="order__store_code")
    def store_code(self, task):
        return task.order.store_code

    @admin.display(description=_("packages"))
    def packages_link(self, task):
        url = reverse("admin:outbound_package_changelist")
        return format_html(
            '<a href="{}?order__id__exact={}">{}</a>', url, task.order_id, _("packages")
        )


# Disconnected operations: handhelds and their sync entries (own module).
from . import offline_admin  # noqa: E402, F401
