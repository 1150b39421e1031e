"""The pages people open in a browser (the REST API lives under /api/)."""

from django.urls import path

from frontend import views
from labelserver import converters  # noqa: F401  (registers <id:...>, ids within the database's range)

urlpatterns = [
    path("", views.project_list, name="projects"),
    path("projects/new/", views.new_project, name="project-new"),
    path("projects/<id:project_id>/label/", views.label, name="label"),
    path("projects/<id:project_id>/overview/", views.overview, name="project-overview"),
    path("projects/<id:project_id>/queue/", views.queue, name="project-queue"),
    path("projects/<id:project_id>/training/", views.training, name="project-training"),
    path("projects/<id:project_id>/sweeps/", views.sweeps, name="project-sweeps-page"),
    path("projects/<id:project_id>/upload/", views.upload, name="project-upload"),
    path("projects/<id:project_id>/export/", views.export, name="project-export"),
    path("projects/<id:project_id>/labellers/", views.labellers, name="project-labellers"),
    path("projects/<id:project_id>/review/", views.review, name="project-review"),
    path("projects/<id:project_id>/settings/", views.project_settings, name="project-settings"),
    path("projects/<id:project_id>/settings/members/", views.add_member, name="project-members"),
    path("projects/<id:project_id>/settings/members/<id:user_id>/", views.change_member, name="project-member"),
    path("projects/<id:project_id>/versions/<id:version_id>/report/", views.version_report, name="version-report"),
    path("projects/<id:project_id>/versions/<id:version_id>/report.pdf", views.version_report_pdf,
         name="version-report-pdf"),
]
