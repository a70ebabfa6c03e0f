from django.urls import path

from . import adjustments_api, api, finance_api

urlpatterns = [
    path("warehouses", api.WarehouseListApi.as_view(), name="warehouse-list"),
    path("items", api.ItemListApi.as_view(), name="item-list"),
    path("locations", api.LocationListApi.as_view(), name="location-list"),
    path("inventory/balances", api.BalanceListApi.as_view(), name="inventory-balance-list"),
    path("inventory/ledger", api.LedgerListApi.as_view(), name="inventory-ledger-list"),
    path("inventory/moves", api.MoveCreateApi.as_view(), name="inventory-move-create"),
    path(
        "inventory/status-transfers",
        api.StatusTransferCreateApi.as_view(),
        name="inventory-status-transfer-create",
    ),
    path(
        "inventory/adjustments",
        adjustments_api.AdjustmentListCreateApi.as_view(),
        name="inventory-adjustment-list",
    ),
    path(
        "inventory/adjustments/<int:adjustment_id>",
        adjustments_api.AdjustmentDetailApi.as_view(),
        name="inventory-adjustment-detail",
    ),
    path(
        "inventory/adjustments/<int:adjustment_id>/approve",
        adjustments_api.AdjustmentApproveApi.as_view(),
        name="inventory-adjustment-approve",
    ),
    path(
        "inventory/adjustments/<int:adjustment_id>/reject",
        adjustments_api.AdjustmentRejectApi.as_view(),
        name="inventory-adjustment-reject",
    ),
    path("finance/events", finance_api.FinanceEventListApi.as_view(), name="finance-event-list"),
]
