"""The labelling REST API under /api/ (see annotations/api/); a crop's detail, the next crop and
leasing a chosen crop are the learning side's (active_learning/urls.py)."""

from django.urls import path

from annotations.api import auth, crops, images, leases, projects

urlpatterns = [
    path("auth/token/", auth.TokenView.as_view(), name="api-token"),
    path("me/", auth.MeView.as_view(), name="api-me"),
    path("projects/", projects.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", projects.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", projects.MemberListView.as_view(), name="api-members"),
    path("projects/<int:project_id>/members/<int:user_id>/", projects.MemberDetailView.as_view(), name="api-member"),
    path("projects/<int:project_id>/images/", images.ImageListView.as_view(), name="api-images"),
    path("projects/<int:project_id>/crops/", crops.CropListView.as_view(), name="api-crops"),
    path("images/<int:image_id>/", images.ImageDetailView.as_view(), name="api-image"),
    path("crops/<int:crop_id>/annotations/", crops.CropAnnotationsView.as_view(), name="api-crop-annotations"),
    path("crops/<int:crop_id>/skip/", leases.SkipCropView.as_view(), name="api-crop-skip"),
    path("crops/<int:crop_id>/release/", leases.ReleaseCropView.as_view(), name="api-crop-release"),
]
