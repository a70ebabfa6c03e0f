"""Operator view of disconnected operations (issue 16): per handheld, the last sync,
what it still had queued, what it sent, refusals and conflicts; per entry, the
original action, the device's time beside the server's, and the supervisor's
action on a conflict ("resolved"). Read-only: entries change only through
``tasking.offline_sync``. Registered by ``tasking.admin``."""

import json

from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef, Q
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from wms.admin_scoping import ScopedRowsMixin
from wms.scoping import warehouses_visible_to

from .models import ConflictStatus, HandheldDevice, SyncEntry
from .offline_sync import sync_conflict_resolve


class _ReadOnly(ScopedRowsMixin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(HandheldDevice)
class HandheldDeviceAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = [
        "device_key",
        "last_user",
        "last_sync_at",
        "last_pending",
        "entries_received",
        "entries_applied",
        "entries_refused",
        "conflicts",
        "open_conflicts",
    ]
    search_fields = ["device_key", "last_user__username"]
    list_select_related = ["last_user"]

    def get_queryset(self, request):
        qs = (
            super()
            .get_queryset(request)
            .annotate(
                open_conflict_count=Count(
                    "entries", filter=Q(entries__conflict_status=ConflictStatus.OPEN)
                )
            )
        )
        if request.user.is_superuser:
            return qs
        # A device is shown to staff of a warehouse it synced work of (and to its user).
        visible = warehouses_visible_to(request.user).values("pk")
        worked_here = SyncEntry.objects.filter(device=OuterRef("pk"), warehouse__in=visible)
        return qs.filter(Exists(worked_here) | Q(last_user=request.user))

    @admin.display(description=_("open conflicts"), ordering="open_conflict_count")
    def open_conflicts(self, obj):
        return obj.open_conflict_count


@admin.register(SyncEntry)
class SyncEntryAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = [
        "received_at",
        "happened_at",
        "user",
        "device",
        "kind",
        "subject",
        "outcome",
        "reason_code",
        "conflict_status",
        "message",
    ]
    list_filter = ["conflict_status", "outcome", "kind"]
    search_fields = ["key", "subject", "user__username", "device__device_key", "reason_code"]
    list_select_related = ["user", "device"]
    date_hierarchy = "received_at"
    actions = ["resolve_conflicts"]
    exclude = ["payload"]
    readonly_fields = ["entry_as_sent"]

    def get_queryset(self, request):
        # Entries of warehouses not granted stay hidden. An entry without a warehouse
        # named something that does not exist (refused when applied): only its user
        # and superusers see it.
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        visible = warehouses_visible_to(request.user).values("pk")
        return qs.filter(Q(warehouse__in=visible) | Q(warehouse__isnull=True, user=request.user))

    @admin.display(description=_("entry as sent"))
    def entry_as_sent(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    def has_resolve_permission(self, request):
        # The supervisors who resolve picking exceptions resolve these cases too.
        return request.user.has_perm("tasking.resolve_exceptioncase")

    @admin.action(description=_("Mark the selected conflicts resolved"), permissions=["resolve"])
    def resolve_conflicts(self, request, queryset):
        open_rows = queryset.filter(conflict_status=ConflictStatus.OPEN)
        rows = list(open_rows.values_list("pk", flat=True))
        for pk in rows:
            sync_conflict_resolve(entry_id=pk, actor=request.user)
        self.message_user(
            request,
            _("%(count)s conflicts marked resolved.") % {"count": len(rows)},
            messages.SUCCESS,
        )
