"""Admin of the inbound context.

Configuration (inbound settings per warehouse, put-away strategies with their
ordered rules) is edited here directly. Workflow documents change only through
``inbound.services``: ASNs and their lines, dock appointments (with the
supervisor's day view of the doors), exception decisions; receipts and
put-away tasks are read-only here (they come from the handheld pages and the
API). Every list stops at the user's warehouse grants.
"""

from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from wms.admin_scoping import WarehouseScopedAdminMixin, WarehouseScopedInlineMixin
from wms.exceptions import DomainError
from wms.scoping import warehouses_visible_to

from . import selectors, services
from .models import (
    DockAssignment,
    DockAssignmentStatus,
    InboundSettings,
    InboundShipment,
    InboundShipmentLine,
    InboundStatus,
    PutAwayRule,
    PutAwayStrategy,
    PutAwayTask,
    Receipt,
    ReceiptLine,
    ReceivingException,
    ReceivingExceptionStatus,
)
from .services.common import to_base
from .services.docks import overlapping


def _run(modeladmin, request, queryset, action, done_message):
    """Apply ``action`` to each selected row through a service; report refusals per row."""
    ok = 0
    for obj in queryset:
        try:
            action(obj)
            ok += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, done_message % {"count": ok}, messages.SUCCESS)


def _adopt(obj, created) -> None:
    """Make the admin's unsaved ``obj`` the row a service created (for its redirects/logs)."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))
    obj._state.adding = False
    obj._state.db = created._state.db


# --- configuration ----------------------------------------------------------------


@admin.register(InboundSettings)
class InboundSettingsAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "warehouse_code",
        "over_receipt_tolerance_pct",
        "under_receipt_tolerance_pct",
        "damaged_opens_exception",
        "receiving_location",
        "staging_location",
    ]
    list_select_related = ["warehouse", "receiving_location", "staging_location"]


class PutAwayRuleInline(WarehouseScopedInlineMixin, admin.TabularInline):
    model = PutAwayRule
    extra = 1
    ordering = ["sequence"]
    fields = [
        "sequence",
        "rule_type",
        "item",
        "item_class",
        "zone",
        "location",
        "inventory_status",
        "is_active",
    ]
    autocomplete_fields = []


@admin.register(PutAwayStrategy)
class PutAwayStrategyAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    """A strategy is an ordered list of rules; the first that finds a location wins."""

    list_display = ["name", "warehouse_code", "is_active", "rule_count"]
    list_filter = ["is_active", "warehouse"]
    inlines = [PutAwayRuleInline]

    @admin.display(description=_("rules"))
    def rule_count(self, strategy):
        return strategy.rules.count()


# --- ASNs -----------------------------------------------------------------------


class AsnLineFormSet(forms.BaseInlineFormSet):
    """Lines must be items of the ASN's warehouse, in a unit the item converts from."""

    def clean(self):
        super().clean()
        warehouse_id = self.instance.warehouse_id
        numbers = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            item, uom, qty = data.get("item"), data.get("uom"), data.get("qty_expected")
            if data.get("line_number") in numbers:
                form.add_error("line_number", _("This line number is used twice."))
            numbers.add(data.get("line_number"))
            if item is None or uom is None or qty is None:
                continue
            if item.warehouse_id != warehouse_id:
                form.add_error("item", _("The item belongs to another warehouse."))
                continue
            try:
                to_base(item=item, uom=uom, qty=qty)
            except DomainError as exc:
                form.add_error("uom" if "conversion" in exc.detail else "qty_expected", exc.detail)


class AsnLineInline(WarehouseScopedInlineMixin, admin.TabularInline):
    model = InboundShipmentLine
    formset = AsnLineFormSet
    extra = 1
    fields = [
        "line_number",
        "item",
        "uom",
        "qty_expected",
        "qty_expected_base",
        "qty_received_base",
    ]
    readonly_fields = ["qty_expected_base", "qty_received_base"]

    def _editable(self, obj):
        return obj is None or obj.status == InboundStatus.EXPECTED

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class ReceiptLinkInline(WarehouseScopedInlineMixin, admin.TabularInline):
    model = Receipt
    fk_name = "shipment"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["received_at", "receiving_location", "source", "completes_receiving"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(InboundShipment)
class InboundShipmentAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "external_ref",
        "supplier",
        "warehouse_code",
        "status",
        "expected_arrival_at",
        "open_exceptions",
    ]
    list_filter = ["status", "type", "warehouse"]
    search_fields = ["external_ref", "supplier"]
    date_hierarchy = "expected_arrival_at"
    list_select_related = ["warehouse"]
    inlines = [AsnLineInline, ReceiptLinkInline]
    actions = ["mark_arrived", "complete_receiving", "close_shipments"]
    _header = ["warehouse", "external_ref", "supplier", "type", "expected_arrival_at"]
    _state = ["status", "arrived_at", "received_at", "closed_at", "source", "created_at"]

    def get_fields(self, request, obj=None):
        return self._header + (self._state if obj else [])

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status != InboundStatus.EXPECTED:
            return self._header + self._state
        return ["warehouse", "external_ref", *self._state]

    @admin.display(description=_("open exceptions"))
    def open_exceptions(self, shipment):
        count = shipment.exceptions.filter(status=ReceivingExceptionStatus.OPEN).count()
        if not count:
            return "—"
        url = reverse("admin:inbound_receivingexception_changelist")
        return format_html(
            '<a href="{}?shipment__id__exact={}&status__exact=OPEN">{}</a>', url, shipment.pk, count
        )

    def save_model(self, request, obj, form, change):
        if not self.warehouse_allowed(request, obj):
            raise PermissionDenied(_("You have no access to this warehouse."))
        if change and obj.status == InboundStatus.EXPECTED:
            services.inbound_shipment_update(
                shipment=obj,
                supplier=obj.supplier,
                expected_arrival_at=obj.expected_arrival_at,
                type=obj.type,
                actor=request.user,
            )
        # A new ASN is created with its lines in save_related (one service call).

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        for formset in formsets:
            # The services wrote the lines; the admin's change message reads these.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        line_forms = [
            f
            for formset in formsets
            if isinstance(formset, AsnLineFormSet)
            for f in formset.forms
            if getattr(f, "cleaned_data", None)
        ]
        if not change:
            created = services.inbound_shipment_create(
                warehouse=obj.warehouse,
                external_ref=obj.external_ref,
                supplier=obj.supplier,
                expected_arrival_at=obj.expected_arrival_at,
                type=obj.type,
                lines=[
                    services.AsnLineSpec(
                        line_number=f.cleaned_data["line_number"],
                        sku=f.cleaned_data["item"].sku,
                        qty_expected=f.cleaned_data["qty_expected"],
                        uom=f.cleaned_data["uom"].code,
                    )
                    for f in line_forms
                    if not f.cleaned_data.get("DELETE")
                ],
                actor=request.user,
            )
            _adopt(obj, created)
            return
        for f in line_forms:
            line = f.instance if f.instance.pk else None
            if f.cleaned_data.get("DELETE"):
                if line is not None:
                    services.inbound_shipment_line_delete(line=line)
            elif f.has_changed():
                services.inbound_shipment_line_save(
                    shipment=obj,
                    line=line,
                    line_number=f.cleaned_data["line_number"],
                    item=f.cleaned_data["item"],
                    uom=f.cleaned_data["uom"],
                    qty_expected=f.cleaned_data["qty_expected"],
                )

    @admin.action(description=_("Mark selected ASNs arrived"), permissions=["change"])
    def mark_arrived(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda s: services.inbound_shipment_mark_arrived(shipment=s, actor=request.user),
            _("%(count)d ASN(s) marked arrived."),
        )

    @admin.action(
        description=_("Complete receiving (short lines open exceptions)"), permissions=["change"]
    )
    def complete_receiving(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda s: services.inbound_shipment_complete_receiving(shipment=s, actor=request.user),
            _("Receiving completed for %(count)d ASN(s)."),
        )

    @admin.action(description=_("Close selected ASNs"), permissions=["change"])
    def close_shipments(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda s: services.inbound_shipment_close(shipment=s, actor=request.user),
            _("%(count)d ASN(s) closed."),
        )


# --- dock appointments ----------------------------------------------------------------


class DockAssignmentForm(forms.ModelForm):
    class Meta:
        model = DockAssignment
        fields = [
            "dock_door",
            "direction",
            "inbound_shipment",
            "outbound_ref",
            "starts_at",
            "ends_at",
            "note",
        ]

    def clean(self):
        data = super().clean()
        door, starts_at, ends_at = data.get("dock_door"), data.get("starts_at"), data.get("ends_at")
        if door and starts_at and ends_at and ends_at > starts_at:
            clash = overlapping(
                dock_door_id=door.pk,
                starts_at=starts_at,
                ends_at=ends_at,
                exclude_pk=self.instance.pk,
            ).first()
            if clash is not None:
                raise ValidationError(
                    _("Door %(door)s is already booked from %(start)s to %(end)s."),
                    code="dock_door_overlap",
                    params={
                        "door": door.code,
                        "start": timezone.localtime(clash.starts_at).strftime("%Y-%m-%d %H:%M"),
                        "end": timezone.localtime(clash.ends_at).strftime("%H:%M"),
                    },
                )
        shipment = data.get("inbound_shipment")
        if door and shipment and shipment.warehouse_id != door.warehouse_id:
            self.add_error("inbound_shipment", _("The ASN belongs to another warehouse."))
        return data


@admin.register(DockAssignment)
class DockAssignmentAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    form = DockAssignmentForm
    change_list_template = "inbound/admin/dockassignment_change_list.html"
    list_display = [
        "dock_door",
        "warehouse_code",
        "starts_at",
        "ends_at",
        "direction",
        "inbound_shipment",
        "outbound_ref",
        "status",
    ]
    list_filter = ["status", "direction", "warehouse", "dock_door"]
    date_hierarchy = "starts_at"
    search_fields = ["inbound_shipment__external_ref", "outbound_ref", "dock_door__code"]
    list_select_related = ["dock_door__warehouse", "inbound_shipment", "warehouse"]
    actions = ["check_in", "complete", "cancel"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status == DockAssignmentStatus.CANCELLED:
            return [*self.form.Meta.fields, "status"]
        if obj is not None:
            return ["direction", "inbound_shipment", "status", "assigned_by", "assigned_at"]
        return []

    def save_model(self, request, obj, form, change):
        door = form.cleaned_data.get("dock_door") or obj.dock_door
        if not warehouses_visible_to(request.user).filter(pk=door.warehouse_id).exists():
            raise PermissionDenied(_("You have no access to this warehouse."))
        if change:
            services.dock_assignment_reschedule(
                assignment=DockAssignment.objects.get(pk=obj.pk),
                starts_at=obj.starts_at,
                ends_at=obj.ends_at,
                dock_door=door,
                actor=request.user,
            )
            DockAssignment.objects.filter(pk=obj.pk).update(
                note=obj.note, outbound_ref=obj.outbound_ref
            )
            return
        created = services.dock_assignment_create(
            dock_door=door,
            starts_at=obj.starts_at,
            ends_at=obj.ends_at,
            direction=obj.direction,
            inbound_shipment=obj.inbound_shipment,
            outbound_ref=obj.outbound_ref,
            note=obj.note,
            actor=request.user,
        )
        _adopt(obj, created)

    def get_urls(self):
        day = path(
            "day/",
            self.admin_site.admin_view(self.day_view),
            name="inbound_dockassignment_day",
        )
        return [day, *super().get_urls()]

    def day_view(self, request):
        """The supervisor's view of one day: every door with its appointments on a timeline."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        warehouses = list(warehouses_visible_to(request.user).order_by("code"))
        code = request.GET.get("warehouse") or (warehouses[0].code if warehouses else None)
        warehouse = next((w for w in warehouses if w.code == code), None)
        try:
            day = date.fromisoformat(request.GET.get("date", ""))
        except ValueError:
            day = timezone.localdate()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Dock doors on %(day)s") % {"day": day.isoformat()},
            "warehouses": warehouses,
            "warehouse": warehouse,
            "day": day,
            "previous_day": (day - timedelta(days=1)).isoformat(),
            "next_day": (day + timedelta(days=1)).isoformat(),
            "hours": list(range(0, 24, 2)),
        }
        if warehouse is not None:
            schedule = selectors.dock_day_view(actor=request.user, warehouse=warehouse, day=day)
            span = (schedule.ends_at - schedule.starts_at).total_seconds()
            rows = []
            for row in schedule.doors:
                bars = []
                for appointment in row.appointments:
                    start = max(appointment.starts_at, schedule.starts_at)
                    end = min(appointment.ends_at, schedule.ends_at)
                    bars.append(
                        {
                            "appointment": appointment,
                            "left": round(
                                (start - schedule.starts_at).total_seconds() / span * 100, 2
                            ),
                            "width": max(round((end - start).total_seconds() / span * 100, 2), 0.5),
                            "url": reverse(
                                "admin:inbound_dockassignment_change", args=[appointment.pk]
                            ),
                        }
                    )
                rows.append({"door": row.door, "bars": bars})
            context["rows"] = rows
        return TemplateResponse(request, "inbound/admin/dock_day.html", context)

    @admin.action(description=_("Check in (truck at the door)"), permissions=["change"])
    def check_in(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda a: services.dock_assignment_check_in(assignment=a, actor=request.user),
            _("%(count)d appointment(s) checked in."),
        )

    @admin.action(description=_("Mark completed"), permissions=["change"])
    def complete(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda a: services.dock_assignment_complete(assignment=a, actor=request.user),
            _("%(count)d appointment(s) completed."),
        )

    @admin.action(description=_("Cancel selected appointments"), permissions=["change"])
    def cancel(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda a: services.dock_assignment_cancel(assignment=a, actor=request.user),
            _("%(count)d appointment(s) cancelled."),
        )


# --- receipts, put-away, exceptions (read-only documents) -------------------------------


class _ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReceiptLineInline(_ReadOnlyMixin, WarehouseScopedInlineMixin, admin.TabularInline):
    model = ReceiptLine
    extra = 0
    fields = ["line_number", "shipment_line", "item", "qty_received", "uom", "qty_base"]
    readonly_fields = fields


@admin.register(Receipt)
class ReceiptAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "shipment",
        "warehouse_code",
        "received_at",
        "receiving_location",
        "is_blind",
        "source",
    ]
    list_filter = ["is_blind", "warehouse"]
    search_fields = ["shipment__external_ref", "source"]
    date_hierarchy = "received_at"
    list_select_related = ["shipment", "warehouse", "receiving_location"]
    inlines = [ReceiptLineInline]


@admin.register(PutAwayTask)
class PutAwayTaskAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "item",
        "qty",
        "inventory_status",
        "from_location",
        "to_location",
        "status",
        "confirmed_location",
        "override_reason",
        "rule",
    ]
    list_filter = ["status", "warehouse", "inventory_status"]
    search_fields = ["item__sku", "=id"]
    list_select_related = [
        "item",
        "inventory_status",
        "from_location",
        "to_location",
        "confirmed_location",
        "override_reason",
        "rule",
    ]


@admin.register(ReceivingException)
class ReceivingExceptionAdmin(_ReadOnlyMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "type",
        "status",
        "shipment",
        "item",
        "qty_expected_base",
        "qty_received_base",
        "opened_at",
        "resolved_by",
    ]
    list_filter = ["status", "type", "warehouse"]
    search_fields = ["shipment__external_ref", "item__sku", "detail"]
    date_hierarchy = "opened_at"
    list_select_related = ["shipment", "item", "resolved_by"]
    actions = ["approve", "reject"]

    def has_approve_permission(self, request):
        return request.user.has_perm("inbound.approve_receivingexception")

    def _decide(self, request, queryset, approve: bool, done):
        note = _("Approved in the admin") if approve else _("Rejected in the admin")
        _run(
            self,
            request,
            queryset,
            lambda case: services.receiving_exception_resolve(
                exception=case, approve=approve, note=str(note), actor=request.user
            ),
            done,
        )

    @admin.action(description=_("Approve (accept the variance)"), permissions=["approve"])
    def approve(self, request, queryset):
        self._decide(request, queryset, True, _("%(count)d exception(s) approved."))

    @admin.action(description=_("Reject"), permissions=["approve"])
    def reject(self, request, queryset):
        self._decide(request, queryset, False, _("%(count)d exception(s) rejected."))
