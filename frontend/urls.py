"""The pages people open in a browser (the REST API lives under /api/)."""

from django.urls import path

from frontend import views

urlpatterns = [
    path("", views.project_list, name="projects"),
    path("projects/<int:project_id>/label/", views.label, name="label"),
    path("projects/<int:project_id>/overview/", views.overview, name="project-overview"),
    path("projects/<int:project_id>/queue/", views.queue, name="project-queue"),
    path("projects/<int:project_id>/training/", views.training, name="project-training"),
    path("projects/<int:project_id>/upload/", views.upload, name="project-upload"),
    path("projects/<int:project_id>/labellers/", views.labellers, name="project-labellers"),
    path("projects/<int:project_id>/settings/", views.project_settings, name="project-settings"),
    path("projects/<int:project_id>/settings/members/", views.add_member, name="project-members"),
    path("projects/<int:project_id>/settings/members/<int:user_id>/", views.change_member, name="project-member"),
]
