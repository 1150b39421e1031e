"""The learning side's REST API, mounted under /api/ (labelserver/urls.py): a crop as its labeller
sees it, the queue, jobs, model versions, reports, retraining, and the jobs that move files in
and out of a project (uploads, imports and exports: active_learning/transfers.py)."""

from django.urls import path

from active_learning.api import crops, queue_views, sweeps, transfer_views, views, workers
from labelserver import converters  # noqa: F401  (registers <id:...>, ids within the database's range)

urlpatterns = [
    path("crops/<id:crop_id>/", crops.CropDetailView.as_view(), name="api-crop"),
    path("projects/<id:project_id>/next/", crops.NextCropView.as_view(), name="api-next-crop"),
    path("crops/<id:crop_id>/lease/", crops.LeaseCropView.as_view(), name="api-crop-lease"),
    path("crops/<id:crop_id>/propose/", crops.ProposeView.as_view(), name="api-crop-propose"),
    path("projects/<id:project_id>/queue/", queue_views.QueueView.as_view(), name="api-queue"),
    path("projects/<id:project_id>/queue/crops/", queue_views.QueueActionView.as_view(), name="api-queue-crops"),
    path("projects/<id:project_id>/queue/focus/", queue_views.QueueFocusView.as_view(), name="api-queue-focus"),
    path("projects/<id:project_id>/queue/settings/", queue_views.QueueSettingsView.as_view(),
         name="api-queue-settings"),
    path("projects/<id:project_id>/queue/rank/", queue_views.QueueRankView.as_view(), name="api-queue-rank"),
    path("projects/<id:project_id>/jobs/", views.ProjectJobsView.as_view(), name="project-jobs"),
    path("jobs/<id:job_id>/", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<id:job_id>/cancel/", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<id:job_id>/file/", transfer_views.JobFileView.as_view(), name="job-file"),
    path("projects/<id:project_id>/model-versions/", views.ProjectModelVersionsView.as_view(),
         name="project-model-versions"),
    path("model-versions/<id:version_id>/", views.ModelVersionDetailView.as_view(), name="model-version-detail"),
    path("model-versions/<id:version_id>/promote/", views.ModelVersionPromoteView.as_view(),
         name="model-version-promote"),
    path("model-versions/<id:version_id>/weights/", views.ModelVersionWeightsView.as_view(),
         name="model-version-weights"),
    path("projects/<id:project_id>/report/", views.ProjectReportView.as_view(), name="project-report"),
    path("model-versions/<id:version_id>/report/", views.ModelVersionReportView.as_view(),
         name="model-version-report"),
    path("projects/<id:project_id>/retraining/", views.RetrainingView.as_view(), name="project-retraining"),
    path("workers/", workers.WorkersView.as_view(), name="api-workers"),
    path("projects/<id:project_id>/sweeps/", sweeps.ProjectSweepsView.as_view(), name="project-sweeps"),
    path("projects/<id:project_id>/sweeps/search-space/", sweeps.SearchSpaceView.as_view(),
         name="project-sweep-search-space"),
    path("sweeps/<id:sweep_id>/", sweeps.SweepDetailView.as_view(), name="sweep-detail"),
    path("sweeps/<id:sweep_id>/cancel/", sweeps.SweepCancelView.as_view(), name="sweep-cancel"),
    path("sweeps/<id:sweep_id>/resume/", sweeps.SweepResumeView.as_view(), name="sweep-resume"),
    path("sweeps/<id:sweep_id>/adopt/", sweeps.SweepAdoptView.as_view(), name="sweep-adopt"),
    path("projects/<id:project_id>/images/", transfer_views.ImagesView.as_view(), name="api-images"),
    path("projects/<id:project_id>/export/", transfer_views.ExportView.as_view(), name="api-project-export"),
    path("projects/<id:project_id>/import/", transfer_views.ImportView.as_view(), name="api-project-import"),
]
