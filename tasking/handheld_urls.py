"""``/handheld/picking/``: the pickers' pages (mounted by ``wms.handheld_urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.pick_queue, name="handheld-pick"),
    path("task/<uuid:pk>/", views.pick_task, name="handheld-pick-task"),
    path("task/<uuid:pk>/problem/", views.pick_problem, name="handheld-pick-problem"),
]
