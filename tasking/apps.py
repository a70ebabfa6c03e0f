from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaskingConfig(AppConfig):
    name = "tasking"
    verbose_name = _("Tasks and picking")

    def ready(self):
        # Imported here, not at the top: wms.handheld (auth views) and the services
        # (models) load only once the app registry is ready.
        from outbound.ports import pick_work_register
        from wms.handheld import MenuEntry, register_menu_entry

        from .services.tasks import PickWork

        pick_work_register(PickWork())

        register_menu_entry(
            MenuEntry(
                key="tasking.pick",
                label=_("Pick"),
                hint=_("Take the next pick task"),
                url_name="handheld-pick",
                permissions=("tasking.change_picktask",),
                order=30,
            )
        )
        register_menu_entry(
            MenuEntry(
                key="tasking.pack",
                label=_("Pack"),
                hint=_("Scan an order and pack it"),
                url_name="handheld-pack",
                permissions=("tasking.change_packtask",),
                order=40,
            )
        )
        register_menu_entry(
            MenuEntry(
                key="tasking.dock",
                label=_("Load"),
                hint=_("Scan a dock door, load packed orders, ship"),
                url_name="handheld-dock",
                permissions=("outbound.add_shipment",),
                order=50,
            )
        )
        register_menu_entry(
            MenuEntry(
                key="tasking.offline",
                label=_("Offline work"),
                hint=_("Tasks kept on this device, with or without network"),
                url_name="handheld-offline",
                permissions=("tasking.change_picktask",),
                order=35,
            )
        )
