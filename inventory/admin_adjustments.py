"""Admin of inventory control: adjustments, the approvals queue, thresholds, the audit trail.

Every write goes through ``inventory.services.adjustments``: the add form of an
adjustment calls ``adjustment_request`` (source ``admin``), the queue's actions
call ``adjustment_approve`` / ``adjustment_reject`` and show the service's
refusal (one's own adjustment, one already decided) as a message. Nothing is
edited or deleted by hand. Rows are limited to the user's warehouses
(``wms.admin_scoping``). Auditors filter the audit trail and export it as CSV.
"""

import csv
import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.http import StreamingHttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from wms.admin_scoping import WarehouseScopedAdminMixin
from wms.exceptions import DomainError

from . import services
from .admin_stock import _ReadOnlyAdminMixin  # views only: never added, changed, deleted
from .models import (
    AdjustmentApproval,
    AdjustmentSource,
    AdjustmentState,
    AdjustmentThreshold,
    AuditEvent,
    InventoryAdjustment,
    PendingAdjustment,
)

# --- adjustments ------------------------------------------------------------------------


class AdjustmentRequestForm(forms.ModelForm):
    """The fields of a request; ``clean`` hands them to ``adjustment_request``.

    ``request_key`` is drawn when the form is shown, so submitting the same form
    twice (a double click, a reload) requests one adjustment.
    """

    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    class Meta:
        model = InventoryAdjustment
        fields = ["warehouse", "item", "location", "status", "qty_delta", "reason_code", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["request_key"].initial = uuid.uuid4().hex
        self.fields["reason_code"].queryset = self.fields["reason_code"].queryset.filter(
            use="ADJUSTMENT"
        )
        self.actor = None  # set by the admin
        self.adjustment = None

    def _post_clean(self):
        # No model validation of a half-built instance: the service checks the request.
        if self.errors:
            return
        data = self.cleaned_data
        try:
            self.adjustment = services.adjustment_request(
                warehouse=data["warehouse"],
                item=data["item"],
                location=data["location"],
                status=data["status"],
                qty_delta=data["qty_delta"],
                reason_code=data["reason_code"].code,
                note=data.get("note", ""),
                actor=self.actor,
                source=AdjustmentSource.ADMIN,
                request_key=f"admin:{data['request_key']}",
            )
        except DomainError as exc:
            self.add_error(None, exc.detail)


class ApprovalInline(_ReadOnlyAdminMixin, admin.StackedInline):
    model = AdjustmentApproval
    fields = ["decision", "decided_by", "decided_at", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(InventoryAdjustment)
class InventoryAdjustmentAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "adjustment_number",
        "warehouse_code",
        "item",
        "location",
        "status",
        "qty_delta",
        "reason_code",
        "value",
        "state",
        "requested_by_label",
        "source",
        "created_at",
    ]
    list_filter = ["state", "reason_code", "warehouse", "source"]
    list_select_related = ["warehouse", "item", "location", "status", "reason_code"]
    search_fields = ["=adjustment_number", "=item__sku", "=source_ref"]
    readonly_fields = [
        "adjustment_number",
        "warehouse",
        "item",
        "location",
        "status",
        "qty_delta",
        "reason_code",
        "note",
        "state",
        "requested_by_label",
        "source",
        "source_ref",
        "unit_cost",
        "value",
        "posting",
        "correlation_id",
        "created_at",
        "applied_at",
    ]
    inlines = [ApprovalInline]
    form = AdjustmentRequestForm
    actions = None

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*AdjustmentRequestForm.Meta.fields, "request_key"]
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            actor = request.user

            class BoundRequestForm(form_class):
                def __init__(self, *args, **inner):
                    super().__init__(*args, **inner)
                    self.actor = actor

            return BoundRequestForm
        return form_class

    def save_form(self, request, form, change):
        return form.adjustment  # made by the service in the form's validation

    def save_model(self, request, obj, form, change):
        """Nothing to save: the service wrote it (refusals stayed on the form)."""

    def save_related(self, request, form, formsets, change):
        """No related rows are edited here."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- the approvals queue ------------------------------------------------------------------


class DecisionActionForm(ActionForm):
    note = forms.CharField(label=_("Note (required to reject)"), required=False, max_length=2000)


@admin.register(PendingAdjustment)
class ApprovalQueueAdmin(WarehouseScopedAdminMixin, _ReadOnlyAdminMixin, admin.ModelAdmin):
    """Pending adjustments for the approvers: approve or reject the selected ones.

    The service refuses one's own and those already decided; each refusal is
    shown as a message and the others go on.
    """

    list_display = [
        "adjustment_number",
        "warehouse_code",
        "item",
        "location",
        "status",
        "qty_delta",
        "value",
        "reason_code",
        "note",
        "requested_by_label",
        "created_at",
    ]
    list_filter = ["reason_code", "warehouse"]
    list_select_related = ["warehouse", "item", "location", "status", "reason_code"]
    action_form = DecisionActionForm
    actions = ["approve_selected", "reject_selected"]
    ordering = ["id"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(state=AdjustmentState.PENDING_APPROVAL)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(services.APPROVE_PERMISSION)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def get_actions(self, request):
        # Django offers actions only to users with a permission they name; here the
        # approve permission is the one that counts (checked again by the service).
        actions = super().get_actions(request)
        return actions if self.has_view_permission(request) else {}

    def _decide(self, request, queryset, service, **kwargs) -> None:
        decided = 0
        for adjustment in queryset.order_by("pk"):
            try:
                service(adjustment_id=adjustment.pk, approver=request.user, **kwargs)
            except DomainError as exc:
                self.message_user(
                    request, f"{adjustment.adjustment_number}: {exc.detail}", messages.ERROR
                )
            else:
                decided += 1
        if decided:
            self.message_user(
                request,
                gettext("%(count)d adjustment(s) decided.") % {"count": decided},
                messages.SUCCESS,
            )

    @admin.action(description=_("Approve selected adjustments (post them)"))
    def approve_selected(self, request, queryset):
        self._decide(
            request, queryset, services.adjustment_approve, note=request.POST.get("note", "")
        )

    @admin.action(description=_("Reject selected adjustments (post nothing)"))
    def reject_selected(self, request, queryset):
        self._decide(
            request, queryset, services.adjustment_reject, note=request.POST.get("note", "")
        )


# --- thresholds ---------------------------------------------------------------------------


@admin.register(AdjustmentThreshold)
class AdjustmentThresholdAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    """Who may approve sets the limits: changing them needs the approve permission too,
    so a controller cannot raise the limit above their own adjustment."""

    list_display = ["warehouse_code", "max_abs_qty", "max_abs_value"]

    def _approver(self, request) -> bool:
        return request.user.has_perm(services.APPROVE_PERMISSION)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self._approver(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._approver(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._approver(request)


# --- the audit trail ----------------------------------------------------------------------

AUDIT_CSV_COLUMNS = (
    "id",
    "occurred_at",
    "event_type",
    "actor",
    "warehouse",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "correlation_id",
)


class _Echo:
    def write(self, value):
        return value


def audit_csv_rows(queryset):
    """A header, then one row per event (JSON snapshots as text), read in chunks."""
    writer = csv.writer(_Echo())
    yield writer.writerow(AUDIT_CSV_COLUMNS)
    rows = queryset.order_by("id").values_list(
        "id",
        "occurred_at",
        "event_type",
        "actor_label",
        "warehouse__code",
        "entity_type",
        "entity_id",
        "before",
        "after",
        "correlation_id",
    )
    for row in rows.iterator(chunk_size=2000):
        values = list(row)
        values[1] = values[1].isoformat()
        values[7] = "" if values[7] is None else _json(values[7])
        values[8] = "" if values[8] is None else _json(values[8])
        yield writer.writerow(values)


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@admin.register(AuditEvent)
class AuditEventAdmin(WarehouseScopedAdminMixin, _ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the database refuses changes anyway. Export what the filters show as CSV."""

    list_display = [
        "occurred_at",
        "event_type",
        "actor_label",
        "warehouse_code",
        "entity_type",
        "entity_id",
        "correlation_id",
    ]
    list_filter = ["event_type", "entity_type", "warehouse", "occurred_at"]
    list_select_related = ["warehouse"]
    search_fields = ["=entity_id", "=correlation_id", "=actor_label"]
    date_hierarchy = "occurred_at"
    readonly_fields = [
        "event_type",
        "occurred_at",
        "actor",
        "actor_label",
        "warehouse",
        "entity_type",
        "entity_id",
        "before",
        "after",
        "correlation_id",
    ]
    actions = ["export_csv"]

    @admin.action(description=_("Export selected audit events as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        response = StreamingHttpResponse(audit_csv_rows(queryset), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
        return response
