from django.urls import path

from . import api

urlpatterns = [
    path("counts", api.CountListCreateApi.as_view(), name="count-list"),
    path("counts/<int:pk>", api.CountDetailApi.as_view(), name="count-detail"),
    path("counts/<int:pk>/results", api.CountResultsApi.as_view(), name="count-results"),
    path("counts/<int:pk>/close", api.CountCloseApi.as_view(), name="count-close"),
]
