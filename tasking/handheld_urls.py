"""``/handheld/picking/``: the pickers' and packers' pages (mounted by ``wms.handheld_urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.pick_queue, name="handheld-pick"),
    path("task/<uuid:pk>/", views.pick_task, name="handheld-pick-task"),
    path("task/<uuid:pk>/problem/", views.pick_problem, name="handheld-pick-problem"),
    path("pack/", views.pack_start, name="handheld-pack"),
    path("pack/<uuid:pk>/", views.pack_order, name="handheld-pack-order"),
]
