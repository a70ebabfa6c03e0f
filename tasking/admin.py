"""Admin of the tasking context: pick tasks (read-only; they change through services)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from wms.admin_scoping import WarehouseScopedAdminMixin

from .models import PickTask


@admin.register(PickTask)
class PickTaskAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "warehouse_code",
        "wave",
        "sequence",
        "from_location",
        "item",
        "qty_to_pick",
        "qty_picked",
        "status",
        "created_at",
    ]
    list_filter = ["status", "warehouse"]
    list_select_related = ["warehouse", "wave", "from_location", "item"]
    search_fields = ["=id", "=wave__id", "=order__id", "item__sku"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["reservations"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
