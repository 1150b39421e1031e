"""Crops: list with filters, and annotation history (a crop's detail, with the model's prediction,
is the learning side's: active_learning/api/crops.py)."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import double_labelling, selectors, submissions
from annotations.api.common import load, parse
from annotations.api.parsers import BoundedFormParser, BoundedJSONParser
from annotations.api.serializers import (
    AnnotationInput,
    AnnotationOutput,
    AnnotationSummaryOutput,
    BlindLabelOutput,
    CropFilterInput,
    CropOutput,
)
from annotations.models import BlindLabel
from annotations.permissions import is_project_admin


class CropListView(ListAPIView):
    """A project's crops, filtered by status, split, tag, image or assignee, oldest first."""

    serializer_class = CropOutput

    def get_queryset(self):
        project = load(self, self.request, selectors.project_for, self.kwargs["project_id"])
        filters = parse(CropFilterInput, self.request.query_params)
        return selectors.project_crops(project, image_id=filters.pop("image", None), **filters)

    @extend_schema(parameters=[CropFilterInput])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class CropAnnotationsView(APIView):
    """A crop's annotation versions, newest first; a lease holder submits a new one."""

    parser_classes = [BoundedJSONParser, MultiPartParser, BoundedFormParser]

    @extend_schema(responses=AnnotationOutput(many=True))
    def get(self, request: Request, crop_id: int) -> Response:
        """Empty for a member who may give the crop's second, blind label (project admins excepted)."""
        crop = load(self, request, selectors.crop_for, crop_id)
        user = cast(AbstractBaseUser, request.user)  # the default permission: authenticated
        if double_labelling.is_blind_for(crop, user) and not is_project_admin(user, crop):
            return Response([])
        return Response(AnnotationOutput(selectors.annotation_history(crop), many=True).data)

    @extend_schema(request=AnnotationInput, responses={201: PolymorphicProxySerializer(
        component_name="Submission", serializers=[AnnotationSummaryOutput, BlindLabelOutput],
        resource_type_field_name=None,
    )})
    def post(self, request: Request, crop_id: int) -> Response:
        """Submit a new annotation version; on a crop waiting for its second, blind label, a
        submission by someone who never annotated it is that label (answered with `blind: true`)."""
        crop = load(self, request, selectors.crop_for, crop_id)
        data = parse(AnnotationInput, request.data)
        mask = submissions.submitted_mask(crop, rle=data.pop("mask", None), file=data.pop("mask_file", None))
        saved = submissions.submit_annotation(
            crop=crop, user=request.user, mask=mask, started_from_id=data.pop("started_from"), **data
        )
        output = BlindLabelOutput if isinstance(saved, BlindLabel) else AnnotationSummaryOutput
        return Response(output(saved).data, status=status.HTTP_201_CREATED)
