"""``/handheld/offline/``: the service worker, the app manifest, the device's words,
work downloaded ahead, the sync endpoint, the event stream (``tasking.push``) and
the offline work page (mounted by
``wms.handheld_urls``)."""

from django.urls import path

from . import offline_views, push

urlpatterns = [
    path("", offline_views.offline_page, name="handheld-offline"),
    path("sw.js", offline_views.service_worker, name="handheld-offline-sw"),
    path("manifest.webmanifest", offline_views.manifest, name="handheld-offline-manifest"),
    path("i18n.js", offline_views.words, name="handheld-offline-words"),
    path("work.json", offline_views.work, name="handheld-offline-work"),
    path("sync/", offline_views.sync, name="handheld-offline-sync"),
    path("events/", push.events, name="handheld-offline-events"),
]
