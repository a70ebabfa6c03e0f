from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CountingConfig(AppConfig):
    name = "counting"
    verbose_name = _("Counting")

    def ready(self):
        # Imported here, not at the top: wms.handheld (auth views) and the receivers
        # (services, models) load only once the app registry is ready.
        from inventory.signals import adjustment_decided, adjustment_deciding
        from wms.handheld import MenuEntry, register_menu_entry

        from . import receivers

        adjustment_deciding.connect(
            receivers.adjustment_deciding, dispatch_uid="counting.adjustment_deciding"
        )
        adjustment_decided.connect(
            receivers.adjustment_decided, dispatch_uid="counting.adjustment_decided"
        )

        register_menu_entry(
            MenuEntry(
                key="counting.count",
                label=_("Count"),
                hint=_("Count locations of an open count"),
                url_name="handheld-count",
                permissions=("counting.change_countline",),
                order=50,
            )
        )
