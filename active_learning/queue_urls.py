"""The admin queue API, mounted under /api/ (labelserver/urls.py)."""

from django.urls import path

from active_learning.api import queue_views

urlpatterns = [
    path("projects/<int:project_id>/queue/", queue_views.QueueView.as_view(), name="api-queue"),
    path("projects/<int:project_id>/queue/crops/", queue_views.QueueActionView.as_view(), name="api-queue-crops"),
    path("projects/<int:project_id>/queue/focus/", queue_views.QueueFocusView.as_view(), name="api-queue-focus"),
    path("projects/<int:project_id>/queue/settings/", queue_views.QueueSettingsView.as_view(),
         name="api-queue-settings"),
    path("projects/<int:project_id>/queue/rank/", queue_views.QueueRankView.as_view(), name="api-queue-rank"),
]
