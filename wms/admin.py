"""Admin of the kernel tables: the outbox (with replay) and stored idempotency outcomes.

Both are written by the system, never edited by hand: the pages are read-only
apart from the replay action, which goes through ``integrations.relay``.
Outbox events that name a warehouse in their data (``"warehouse": "MAD1"``)
are shown only to people granted that warehouse; instance-wide events to all.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .admin_scoping import ScopedRowsMixin, WarehouseScopedAdminMixin
from .models import (
    Alert,
    AlertRule,
    AlertStatus,
    IdempotencyRecord,
    OutboxEvent,
    OutboxStatus,
    ReportSubscription,
    StockMinimum,
)
from .outbox import outbox_events_replay
from .reporting import report_choices
from .scoping import warehouses_visible_to


class _ReadOnlyAdmin(ScopedRowsMixin, admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + list(self.readonly_fields)


def _pretty_json(value) -> str:
    return format_html(
        "<pre style='white-space:pre-wrap'>{}</pre>",
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str),
    )


@admin.register(OutboxEvent)
class OutboxEventAdmin(_ReadOnlyAdmin):
    list_display = [
        "id",
        "event_type",
        "aggregate_type",
        "aggregate_id",
        "status",
        "attempts",
        "sink",
        "occurred_at",
        "published_at",
    ]
    list_filter = ["status", "sink", "event_type", "aggregate_type"]
    search_fields = ["=event_id", "aggregate_id", "=correlation_id"]
    date_hierarchy = "occurred_at"
    readonly_fields = ["envelope_data"]
    exclude = ["data"]
    actions = ["replay_events"]
    show_full_result_count = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        codes = list(warehouses_visible_to(request.user).values_list("code", flat=True))
        return queryset.filter(Q(data__warehouse__in=codes) | ~Q(data__has_key="warehouse"))

    @admin.display(description=_("data"))
    def envelope_data(self, obj):
        return _pretty_json(obj.data)

    @admin.action(
        description=_("Replay: publish the selected dead or published events again (same id)"),
        permissions=["change"],
    )
    def replay_events(self, request, queryset):
        eligible = queryset.filter(status__in=[OutboxStatus.DEAD, OutboxStatus.PUBLISHED])
        count = outbox_events_replay(event_ids=eligible.values_list("id", flat=True))
        skipped = queryset.count() - count
        self.message_user(
            request,
            ngettext(
                "%(count)d event queued for publishing again.",
                "%(count)d events queued for publishing again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                _("%(n)d pending events were left alone (they are on their way).") % {"n": skipped},
                messages.WARNING,
            )


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(_ReadOnlyAdmin):
    list_display = ["id", "scope", "key", "method", "path", "response_status", "created_at"]
    list_filter = ["response_status", "method"]
    search_fields = ["=key", "=scope", "=correlation_id", "path"]
    date_hierarchy = "created_at"
    exclude = ["response_body"]
    readonly_fields = ["stored_body"]
    show_full_result_count = False

    def has_module_permission(self, request):
        # Stored responses of every client: administrators only.
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description=_("stored response body"))
    def stored_body(self, obj):
        if obj.response_body is None:
            return "-"
        return _pretty_json(json.loads(obj.response_body))


# --- alerts and scheduled reports (issue 17) --------------------------------------------


@admin.register(AlertRule)
class AlertRuleAdmin(WarehouseScopedAdminMixin, admin.ModelAdmin):
    warehouse_lookup = "warehouse"
    list_display = ["name", "warehouse_code", "kind", "threshold", "is_active", "open_alerts"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]

    @admin.display(description=_("open alerts"))
    def open_alerts(self, obj):
        return obj.alerts.filter(status=AlertStatus.OPEN).count()


@admin.register(StockMinimum)
class StockMinimumAdmin(WarehouseScopedAdminMixin, admin.ModelAdmin):
    warehouse_lookup = "rule__warehouse"
    warehouse_scoped_fields = {"rule": "warehouse"}
    list_display = ["rule", "item", "location", "min_qty"]
    raw_id_fields = ["item", "location"]
    search_fields = ["item__sku", "location__code"]
    list_select_related = ["rule", "item", "location"]


@admin.register(Alert)
class AlertAdmin(WarehouseScopedAdminMixin, _ReadOnlyAdmin):
    """Written by the evaluation only (wms.alerts); read here."""

    warehouse_lookup = "warehouse"
    list_display = ["message", "rule", "status", "opened_at", "closed_at"]
    list_filter = ["status", "rule__kind"]
    search_fields = ["subject", "message"]
    date_hierarchy = "opened_at"
    list_select_related = ["rule"]
    show_full_result_count = False


class ReportSubscriptionForm(forms.ModelForm):
    report = forms.ChoiceField(label=_("report"), choices=report_choices)

    class Meta:
        model = ReportSubscription
        fields = [
            "owner",
            "report",
            "params",
            "file_format",
            "frequency",
            "recipients",
            "is_active",
            "next_run_at",
        ]


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(ScopedRowsMixin, admin.ModelAdmin):
    form = ReportSubscriptionForm
    list_display = ["report", "owner", "frequency", "file_format", "next_run_at", "last_sent_at"]
    list_filter = ["report", "frequency", "is_active"]
    readonly_fields = ["last_sent_at", "last_error"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(owner=request.user)

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, "recipients": request.user.email}
