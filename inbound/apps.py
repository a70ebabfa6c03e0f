from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboundConfig(AppConfig):
    name = "inbound"
    verbose_name = _("Inbound")

    def ready(self):
        # Imported here: wms.handheld loads auth views, which need a ready app registry.
        from wms.handheld import MenuEntry, register_menu_entry

        register_menu_entry(
            MenuEntry(
                key="inbound.receive",
                label=_("Receive"),
                hint=_("Scan an ASN or a dock door"),
                url_name="handheld-receive",
                permissions=("inbound.add_receipt",),
                order=10,
            )
        )
        register_menu_entry(
            MenuEntry(
                key="inbound.receive_blind",
                label=_("Receive without ASN"),
                hint=_("Blind receiving"),
                url_name="handheld-receive-blind",
                permissions=("inbound.receive_blind",),
                order=15,
            )
        )
        register_menu_entry(
            MenuEntry(
                key="inbound.putaway",
                label=_("Put away"),
                hint=_("Take received goods to their location"),
                url_name="handheld-putaway",
                permissions=("inbound.change_putawaytask",),
                order=20,
            )
        )
