from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaskingConfig(AppConfig):
    name = "tasking"
    verbose_name = _("Tasks and picking")

    def ready(self):
        from wms.handheld import MenuEntry, register_menu_entry

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
