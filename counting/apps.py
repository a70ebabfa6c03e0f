from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CountingConfig(AppConfig):
    name = "counting"
    verbose_name = _("Counting")

    def ready(self):
        # Imported here, not at the top: wms.handheld (auth views) loads only once the
        # app registry is ready.
        from wms.handheld import MenuEntry, register_menu_entry

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
