"""Ending a lease: skip a crop the queue served, or give a lease back. (Taking one, with the crop's
detail, is the learning side's: active_learning/api/crops.py.)"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import leases, selectors
from annotations.api.common import load
from annotations.permissions import is_project_admin


class SkipCropView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, crop_id: int) -> Response:
        leases.skip_crop(crop=load(self, request, selectors.crop_for, crop_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReleaseCropView(APIView):
    """Give my lease back (project admins: anyone's)."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, crop_id: int) -> Response:
        crop = load(self, request, selectors.crop_for, crop_id)
        leases.release_crop(crop=crop, user=request.user, as_admin=is_project_admin(request.user, crop))
        return Response(status=status.HTTP_204_NO_CONTENT)
