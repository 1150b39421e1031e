"""Export a project as a zip download, and import annotations from an uploaded bundle (admins only)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import selectors
from annotations.api.common import load, parse
from annotations.exports import build_export, parse_export_options, slug
from annotations.formats.instances import OverlapRule
from annotations.imports import IMPORT_FORMATS, ImportMode, ImportOptions, import_annotations
from annotations.models import Project
from annotations.permissions import IsProjectAdmin


class FormatIsAnOption(DefaultContentNegotiation):
    """`?format=coco` names an export format here, not a renderer (DRF's default reading)."""

    def select_renderer(self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
                        ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


EXPORT_PARAMETERS = [
    OpenApiParameter("format", str, description="comma-separated: cellpose, tiff, coco, geojson"),
    OpenApiParameter("model", str, description="'active' or a version number: add its weights and model card"),
    OpenApiParameter("split", str, description="train or validation"),
    OpenApiParameter("tag", str, description="only crops with this tag"),
    OpenApiParameter("since", str, description="annotations saved on or after (date or date-time)"),
    OpenApiParameter("until", str, description="annotations saved on or before (a date means the whole day)"),
    OpenApiParameter("current_only", bool, description="current versions only (default); false: newest in range"),
    OpenApiParameter("reviewed", bool, description="only annotations saved in the labelling tool"),
    OpenApiParameter("source", str, description="comma-separated annotation sources: editor, import, simulation"),
    OpenApiParameter("whole_images", str, description="complete (default) or any: also partly labelled images"),
    OpenApiParameter("images", bool, description="copy the original images into the zip (default true)"),
    OpenApiParameter("image_format", str, description="Cellpose pairs as tif (default) or png"),
    OpenApiParameter("object_type", str, description="GeoJSON objectType: detection (default) or annotation"),
    OpenApiParameter("tolerance", float, description="GeoJSON outline simplification in pixels (default 0: exact)"),
]


def _zip_response(project: Project, params: Any) -> FileResponse:
    options = parse_export_options(params)
    handle = tempfile.NamedTemporaryFile(prefix="labelserver-export-", suffix=".zip")
    try:
        build_export(project, options, Path(handle.name))
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    # The temporary file is deleted when the response closes it.
    return FileResponse(handle, as_attachment=True, filename=f"{slug(project.name)}-export-{stamp}.zip",
                        content_type="application/zip")


class ExportView(APIView):
    """GET /api/projects/{id}/export/?format=cellpose,coco&split=&tag=&since=&until=&current_only=&model="""

    permission_classes = [IsAuthenticated, IsProjectAdmin]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatIsAnOption

    @extend_schema(parameters=EXPORT_PARAMETERS, responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, project_id: int) -> FileResponse:
        project = load(self, request, selectors.project_for, project_id)
        return _zip_response(project, request.query_params)


class ImportInput(serializers.Serializer):
    file = serializers.FileField(help_text="a zip of a folder, or one COCO .json / GeoJSON file")
    format = serializers.ChoiceField(choices=IMPORT_FORMATS)
    mode = serializers.ChoiceField(choices=[m.value for m in ImportMode], default=ImportMode.LABELS.value)
    overlap = serializers.ChoiceField(choices=[r.value for r in OverlapRule], default=OverlapRule.SMALLER_WINS.value)
    object_type = serializers.CharField(required=False, allow_blank=True, default="")


class ImportView(APIView):
    """POST /api/projects/{id}/import/ (multipart: file, format, mode, overlap, object_type)."""

    permission_classes = [IsAuthenticated, IsProjectAdmin]
    parser_classes = [MultiPartParser, FormParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatIsAnOption

    @extend_schema(request=ImportInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        data = parse(ImportInput, request.data)
        options = ImportOptions(format=data["format"], mode=ImportMode(data["mode"]),
                                overlap=OverlapRule(data["overlap"]), object_type=data["object_type"] or None)
        with tempfile.TemporaryDirectory(prefix="labelserver-upload-") as folder:
            path = Path(folder) / (slug(Path(data["file"].name).name) or "upload")
            with open(path, "wb") as out:
                for chunk in data["file"].chunks():
                    out.write(chunk)
            report = import_annotations(project, path, options, user=request.user)
        return Response(report.to_dict(), status=status.HTTP_201_CREATED)
