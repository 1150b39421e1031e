"""The labelling REST API under /api/ (see annotations/api/); a crop's detail, the next crop,
leasing a chosen crop and a project's image list (whose uploads queue jobs) are the learning
side's (active_learning/urls.py)."""

from django.urls import path

from annotations.api import auth, crops, files, images, leases, projects, reviews
from labelserver import converters  # noqa: F401  (registers <id:...>, ids within the database's range)

urlpatterns = [
    path("auth/token/", auth.TokenView.as_view(), name="api-token"),
    path("me/", auth.MeView.as_view(), name="api-me"),
    path("projects/", projects.ProjectListView.as_view(), name="api-projects"),
    path("projects/<id:project_id>/", projects.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<id:project_id>/members/", projects.MemberListView.as_view(), name="api-members"),
    path("projects/<id:project_id>/members/<id:user_id>/", projects.MemberDetailView.as_view(), name="api-member"),
    path("projects/<id:project_id>/crops/", crops.CropListView.as_view(), name="api-crops"),
    path("projects/<id:project_id>/reviews/", reviews.ReviewQueueView.as_view(), name="api-reviews"),
    path("annotations/<id:annotation_id>/review/", reviews.ReviewAnnotationView.as_view(), name="api-review"),
    path("images/<id:image_id>/", images.ImageDetailView.as_view(), name="api-image"),
    path("images/<id:image_id>/file/", files.ImageFileView.as_view(), name="api-image-file"),
    path("crops/<id:crop_id>/display/", files.CropDisplayView.as_view(), name="api-crop-display"),
    path("crops/<id:crop_id>/annotations/", crops.CropAnnotationsView.as_view(), name="api-crop-annotations"),
    path("crops/<id:crop_id>/skip/", leases.SkipCropView.as_view(), name="api-crop-skip"),
    path("crops/<id:crop_id>/release/", leases.ReleaseCropView.as_view(), name="api-crop-release"),
]
