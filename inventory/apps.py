from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = _("Inventory")

    def ready(self):
        from wms.metrics import warehouse_codes_from

        from .models import Warehouse

        # Metric labels name warehouses by code (wms.metrics, which cannot read them).
        warehouse_codes_from(lambda: dict(Warehouse.objects.values_list("pk", "code")))
