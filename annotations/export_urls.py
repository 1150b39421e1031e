"""Export and import endpoints; included under /api/ by labelserver/urls.py."""

from django.urls import path

from annotations.api.export_views import ExportView, ImportView

urlpatterns = [
    path("projects/<int:project_id>/export/", ExportView.as_view(), name="api-project-export"),
    path("projects/<int:project_id>/import/", ImportView.as_view(), name="api-project-import"),
]
