"""Crops: list with filters, and annotation history (a crop's detail, with the model's prediction,
is the learning side's: active_learning/api/crops.py)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import selectors, submissions
from annotations.api.common import load, parse
from annotations.api.parsers import BoundedFormParser, BoundedJSONParser
from annotations.api.serializers import (
    AnnotationInput,
    AnnotationOutput,
    AnnotationSummaryOutput,
    CropFilterInput,
    CropOutput,
)


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
        crop = load(self, request, selectors.crop_for, crop_id)
        return Response(AnnotationOutput(selectors.annotation_history(crop), many=True).data)

    @extend_schema(request=AnnotationInput, responses={201: AnnotationSummaryOutput})
    def post(self, request: Request, crop_id: int) -> Response:
        crop = load(self, request, selectors.crop_for, crop_id)
        data = parse(AnnotationInput, request.data)
        mask = submissions.submitted_mask(crop, rle=data.pop("mask", None), file=data.pop("mask_file", None))
        annotation = submissions.submit_annotation(
            crop=crop, user=request.user, mask=mask, started_from_id=data.pop("started_from"), **data
        )
        return Response(AnnotationSummaryOutput(annotation).data, status=status.HTTP_201_CREATED)
