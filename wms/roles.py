"""Roles of the warehouse floor as Django groups with the model permissions they need.

Permissions are named by ``app_label.codename`` patterns so models added by
later migrations join the right roles when ``roles_sync`` runs again (it runs
from the data migration that creates the groups and after every ``migrate``).
Access to a warehouse's data is granted separately, per user and warehouse,
with django-guardian (``wms.scoping``).
"""

from fnmatch import fnmatch

PICKER = "picker"
RECEIVER = "receiver"
SUPERVISOR = "supervisor"
INVENTORY_CONTROLLER = "inventory_controller"
COUNTER = "counter"
FINANCE = "finance"
ADMINISTRATOR = "administrator"

_MASTER_DATA_VIEW = ["inventory.view_*"]
_MASTER_DATA_MODELS = [
    "warehouse",
    "zone",
    "location",
    "dockdoor",
    "unitofmeasure",
    "item",
    "itemunitconversion",
    "inventorystatus",
    "reasoncode",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    PICKER: [
        "inventory.view_item",
        "inventory.view_location",
        "inventory.view_inventorybalance",
        "tasking.view_picktask",
        "tasking.change_picktask",
        "tasking.add_pickconfirmation",
        "tasking.add_exceptioncase",
        "tasking.view_packtask",
        "tasking.change_packtask",
        "outbound.view_package",
        # Floor staff who pick and pack also load the trucks (the handheld dock page).
        "outbound.add_shipment",
        "outbound.view_shipment",
    ],
    RECEIVER: [
        "inventory.view_item",
        "inventory.view_location",
        "inventory.view_inventorybalance",
        "inbound.view_*",
        "inbound.add_receipt*",
        "inbound.change_putawaytask",
        "tasking.add_exceptioncase",
    ],
    SUPERVISOR: [
        *_MASTER_DATA_VIEW,
        *[
            f"inventory.{action}_{model}"
            for model in _MASTER_DATA_MODELS
            for action in ("add", "change")
        ],
        "inbound.*",
        "outbound.*",
        "tasking.*",
        "counting.view_*",
        "counting.add_*",
        # Approvers: the second pair of eyes on adjustments above the thresholds
        # (inventory.services.adjustments); they set the thresholds (the admin asks for
        # the approve permission too); inventory.view_* shows them the audit trail.
        "inventory.approve_inventoryadjustment",
        "inventory.add_adjustmentthreshold",
        "inventory.change_adjustmentthreshold",
        "integrations.view_*",
        "integrations.change_webhookdelivery",
        "integrations.change_integrationmessage",
        "wms.view_*",
        "wms.change_outboxevent",
    ],
    INVENTORY_CONTROLLER: [
        *_MASTER_DATA_VIEW,
        "inventory.add_*",
        "inventory.change_*",
        "counting.*",
        "tasking.view_*",
        "tasking.change_exceptioncase",
    ],
    # Counters record what they find (handheld count pages, the results API); they
    # see no balances: counts are blind unless a controller opened one that is not.
    COUNTER: [
        "inventory.view_item",
        "inventory.view_location",
        "counting.view_inventorycount",
        "counting.view_countline",
        "counting.change_countline",
    ],
    FINANCE: [
        "inventory.view_item",
        "inventory.view_warehouse",
        "inventory.view_inventoryledgerentry",
        "inventory.view_financeevent",
        "inventory.view_inventoryadjustment",
        "inventory.view_auditevent",
        "outbound.view_*",
        "counting.view_*",
        "wms.view_outboxevent",
    ],
    ADMINISTRATOR: ["*.*"],
}


def roles_sync(*, group_model, permission_model) -> None:
    """Create the role groups and give each exactly the permissions its patterns match.

    Idempotent; takes the models so a data migration can pass historical ones.
    """
    permissions = list(
        permission_model.objects.select_related("content_type").only(
            "id", "codename", "content_type__app_label"
        )
    )
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _created = group_model.objects.get_or_create(name=role)
        wanted = {
            perm.id
            for perm in permissions
            if any(
                fnmatch(f"{perm.content_type.app_label}.{perm.codename}", pattern)
                for pattern in patterns
            )
        }
        group.permissions.set(wanted)


def roles_sync_after_migrate(sender=None, **kwargs) -> None:
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    # post_migrate fires once per app; permissions of every app exist only
    # once the last one has been handled.
    if sender is not None and sender.label != list(apps.get_app_configs())[-1].label:
        return
    roles_sync(group_model=Group, permission_model=Permission)
