"""``/api/v1/automation/…``: the automation integration (CONTRACT.md)."""

from django.urls import path

from . import automation_api as api

urlpatterns = [
    path(
        "automation/pick-tasks",
        api.AutomationPickTaskListApi.as_view(),
        name="automation-pick-task-list",
    ),
    path(
        "automation/pick-tasks/<uuid:task_id>/ack",
        api.AutomationPickTaskAckApi.as_view(),
        name="automation-pick-task-ack",
    ),
    path(
        "automation/pick-confirmations",
        api.AutomationPickConfirmationCreateApi.as_view(),
        name="automation-pick-confirmation-create",
    ),
    path(
        "automation/pack-confirmations",
        api.AutomationPackConfirmationCreateApi.as_view(),
        name="automation-pack-confirmation-create",
    ),
    path(
        "automation/shipment-confirmations",
        api.AutomationShipmentConfirmationCreateApi.as_view(),
        name="automation-shipment-confirmation-create",
    ),
]
