"""The labelling side's stored files: a crop's display PNG and an image's original, for members of
the project only (an outsider or a removed member gets 404, an anonymous client 401/403), sent
by labelserver.files once the membership check has passed."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import AbstractBaseUser
from django.http.response import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from annotations import selectors
from labelserver.files import send_stored_file

# A crop's display PNG never changes (rendered once at ingest), and the editor shows it each time
# a crop opens: the user's browser may reuse its copy for an hour.
DISPLAY_MAX_AGE = 3600


def signed_in(request: Request) -> AbstractBaseUser:
    """The request's user, whom the default permission (IsAuthenticated) has let in."""
    return cast(AbstractBaseUser, request.user)


def crop_display_url(crop_id: int) -> str:
    """Where a crop's display PNG is read (the `display_url` of the API, the pages' thumbnails)."""
    return reverse("api-crop-display", args=[crop_id])


def image_file_url(image_id: int) -> str:
    return reverse("api-image-file", args=[image_id])


class CropDisplayView(APIView):
    """A crop's display PNG (8-bit, the project's display channels), for members of its project."""

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, crop_id: int) -> HttpResponseBase:
        name = selectors.crop_display_for(signed_in(request), crop_id)
        return send_stored_file(request, name, max_age=DISPLAY_MAX_AGE)


class ImageFileView(APIView):
    """An image's original file as uploaded, for members of its project (a download)."""

    # The stored file's type, from its extension: ingest names it after the detected format.
    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY, (200, "image/jpeg"): OpenApiTypes.BINARY,
                              (200, "image/tiff"): OpenApiTypes.BINARY})
    def get(self, request: Request, image_id: int) -> HttpResponseBase:
        image = selectors.image_file_for(signed_in(request), image_id)
        return send_stored_file(request, image.file.name, download_name=image.original_name)
