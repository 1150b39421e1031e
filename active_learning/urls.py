from django.urls import path

from active_learning.api import views

urlpatterns = [
    path("projects/<int:project_id>/jobs/", views.ProjectJobsView.as_view(), name="project-jobs"),
    path("jobs/<int:job_id>/", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", views.JobCancelView.as_view(), name="job-cancel"),
    path("projects/<int:project_id>/model-versions/", views.ProjectModelVersionsView.as_view(),
         name="project-model-versions"),
    path("model-versions/<int:version_id>/", views.ModelVersionDetailView.as_view(), name="model-version-detail"),
    path("model-versions/<int:version_id>/promote/", views.ModelVersionPromoteView.as_view(),
         name="model-version-promote"),
    path("model-versions/<int:version_id>/weights/", views.ModelVersionWeightsView.as_view(),
         name="model-version-weights"),
    path("projects/<int:project_id>/report/", views.ProjectReportView.as_view(), name="project-report"),
    path("model-versions/<int:version_id>/report/", views.ModelVersionReportView.as_view(),
         name="model-version-report"),
    path("projects/<int:project_id>/retraining/", views.RetrainingView.as_view(), name="project-retraining"),
]
