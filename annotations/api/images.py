"""Images: list, upload (tiled into crops by annotations.ingest), detail, split."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import ingest, selectors
from annotations.api.common import load, parse
from annotations.api.parsers import BoundedFormParser, BoundedJSONParser
from annotations.api.serializers import ImageOutput, ImageSplitInput, ImageUploadInput, ImageUploadOutput
from annotations.permissions import IsProjectAdminOrReadOnly


class ImageListView(ListAPIView):
    """A project's images; its admins upload more (multipart `file`, optional `mask`)."""

    serializer_class = ImageOutput
    permission_classes = [IsAuthenticated, IsProjectAdminOrReadOnly]
    parser_classes = [MultiPartParser, BoundedFormParser]

    def get_queryset(self):
        project = load(self, self.request, selectors.project_for, self.kwargs["project_id"])
        return selectors.project_images(project)

    @extend_schema(request=ImageUploadInput, responses={201: ImageUploadOutput, 200: ImageUploadOutput})
    def post(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        data = parse(ImageUploadInput, request.data)
        file = data["file"]
        result = ingest.ingest_image(project, file, original_name=file.name, mask_source=data.get("mask"),
                                     user=request.user)
        image = selectors.image_with_counts(result.image.pk)
        body = {"image": image, "crops": image.n_crops, "created": result.created}
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(ImageUploadOutput(body).data, status=code)


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
