"""Images: list, detail, split (an upload is ingested by a background job: active_learning.transfers)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import ingest, selectors
from annotations.api.common import load, parse
from annotations.api.parsers import BoundedFormParser, BoundedJSONParser
from annotations.api.serializers import ImageOutput, ImageSplitInput
from annotations.permissions import IsProjectAdminOrReadOnly


class ImageListView(ListAPIView):
    """A project's images. Uploading one queues its ingestion, so POST is the learning side's
    (active_learning.api.transfer_views.ImagesView), which adds it to this view."""

    serializer_class = ImageOutput
    permission_classes = [IsAuthenticated, IsProjectAdminOrReadOnly]

    def get_queryset(self):
        project = load(self, self.request, selectors.project_for, self.kwargs["project_id"])
        return selectors.project_images(project)


class ImageDetailView(APIView):
    permission_classes = [IsAuthenticated, IsProjectAdminOrReadOnly]
    parser_classes = [BoundedJSONParser, BoundedFormParser, MultiPartParser]

    @extend_schema(responses=ImageOutput)
    def get(self, request: Request, image_id: int) -> Response:
        return Response(ImageOutput(load(self, request, selectors.image_for, image_id)).data)

    @extend_schema(request=ImageSplitInput, responses=ImageOutput)
    def patch(self, request: Request, image_id: int) -> Response:
        image = load(self, request, selectors.image_for, image_id)
        ingest.set_image_split(image, parse(ImageSplitInput, request.data)["split"])
        return Response(ImageOutput(selectors.image_with_counts(image.pk)).data)
