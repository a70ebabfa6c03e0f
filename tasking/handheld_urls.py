"""``/handheld/picking/``: pick, pack and dock pages (mounted by ``wms.handheld_urls``)."""

from django.urls import path

from . import dock_views, views

urlpatterns = [
    path("", views.pick_queue, name="handheld-pick"),
    path("task/<uuid:pk>/", views.pick_task, name="handheld-pick-task"),
    path("task/<uuid:pk>/problem/", views.pick_problem, name="handheld-pick-problem"),
    path("pack/", views.pack_start, name="handheld-pack"),
    path("pack/<uuid:pk>/", views.pack_order, name="handheld-pack-order"),
    path("dock/", dock_views.dock_start, name="handheld-dock"),
    path("dock/load/", dock_views.dock_load, name="handheld-dock-load"),
    path("dock/shipment/<uuid:pk>/", dock_views.dock_shipment, name="handheld-dock-shipment"),
]
