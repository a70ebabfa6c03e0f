"""``/handheld/inbound/``: receiving and put-away pages (mounted by ``wms.handheld_urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("receive/", views.receive_start, name="handheld-receive"),
    path("receive/blind/", views.receive_blind, name="handheld-receive-blind"),
    path("receive/<int:pk>/", views.receive_asn, name="handheld-receive-asn"),
    path("putaway/", views.putaway_list, name="handheld-putaway"),
    path("putaway/<int:pk>/", views.putaway_task, name="handheld-putaway-task"),
]
