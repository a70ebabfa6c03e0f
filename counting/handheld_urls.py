"""``/handheld/counting/``: the counters' pages (mounted by ``wms.handheld_urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.count_list, name="handheld-count"),
    path("<int:pk>/", views.count_scan, name="handheld-count-scan"),
    path(
        "<int:pk>/location/<int:location_id>/",
        views.count_location,
        name="handheld-count-location",
    ),
]
