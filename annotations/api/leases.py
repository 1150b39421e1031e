"""The labeller's queue: next crop, lease a chosen crop, skip, release."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import selectors, services
from annotations.api.common import load, parse
from annotations.api.serializers import CropDetailOutput, NextCropInput
from annotations.permissions import is_project_admin

EMPTY = OpenApiResponse(description="The queue is empty: no crop is left for you to label.")


def _crop(crop_id: int) -> Response:
    return Response(CropDetailOutput(selectors.crop_detail(crop_id)).data)


class NextCropView(APIView):
    """Lease my next crop (or the one I already hold, lease renewed)."""

    @extend_schema(request=NextCropInput, responses={200: CropDetailOutput, 204: EMPTY})
    def post(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        as_admin = is_project_admin(request.user, project)
        split = parse(NextCropInput, request.data)["split"]
        crop_id = services.lease_next_crop(project=project, user=request.user, split=split, as_admin=as_admin)
        return Response(status=status.HTTP_204_NO_CONTENT) if crop_id is None else _crop(crop_id)


class LeaseCropView(APIView):
    """Lease this crop (to label or correct it), or renew my lease on it."""

    @extend_schema(request=None, responses=CropDetailOutput)
    def post(self, request: Request, crop_id: int) -> Response:
        crop = load(self, request, selectors.crop_for, crop_id)
        services.lease_crop(crop=crop, user=request.user, as_admin=is_project_admin(request.user, crop))
        return _crop(crop.pk)


class SkipCropView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, crop_id: int) -> Response:
        services.skip_crop(crop=load(self, request, selectors.crop_for, crop_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReleaseCropView(APIView):
    """Give my lease back (project admins: anyone's)."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, crop_id: int) -> Response:
        crop = load(self, request, selectors.crop_for, crop_id)
        services.release_crop(crop=crop, user=request.user, as_admin=is_project_admin(request.user, crop))
        return Response(status=status.HTTP_204_NO_CONTENT)
