"""Export a project as a zip download, and import annotations from an uploaded bundle (admins only).

On the learning side because an export may carry a model version and an import may store
predictions (active_learning.model_transfer); the options are annotations.api.export_serializers'.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from active_learning.model_transfer import export_zip, import_bundle
from annotations import selectors
from annotations.api.common import load, parse
from annotations.api.export_serializers import ExportOptionsSerializer, ImportInput, export_options, to_import_options
from annotations.api.parsers import BoundedFormParser
from annotations.exports import slug
from annotations.models import Project
from annotations.permissions import IsProjectAdmin
from labelserver.files import private


class FormatIsAnOption(DefaultContentNegotiation):
    """`?format=coco` names an export format here, not a renderer (DRF's default reading)."""

    def select_renderer(self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
                        ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def _zip_response(project: Project, params: Any) -> FileResponse:
    options = export_options(params)
    handle = tempfile.NamedTemporaryFile(prefix="labelserver-export-", suffix=".zip")
    try:
        export_zip(project, options, Path(handle.name))
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    # The temporary file is deleted when the response closes it. Built for this request, so Django
    # sends it (a proxy could not read a file that is gone when the answer ends); private all the same.
    response = FileResponse(handle, as_attachment=True, filename=f"{slug(project.name)}-export-{stamp}.zip",
                            content_type="application/zip")
    private(response)
    return response


class ExportView(APIView):
    """GET /api/projects/{id}/export/?format=cellpose,coco&split=&tag=&since=&until=&current_only=&model="""

    permission_classes = [IsAuthenticated, IsProjectAdmin]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatIsAnOption

    @extend_schema(parameters=[ExportOptionsSerializer], responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, project_id: int) -> FileResponse:
        project = load(self, request, selectors.project_for, project_id)
        return _zip_response(project, request.query_params)


class ImportView(APIView):
    """POST /api/projects/{id}/import/ (multipart: file, format, mode, overlap, object_type)."""

    permission_classes = [IsAuthenticated, IsProjectAdmin]
    parser_classes = [MultiPartParser, BoundedFormParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatIsAnOption

    @extend_schema(request=ImportInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        data = parse(ImportInput, request.data)
        options = to_import_options(data)
        with tempfile.TemporaryDirectory(prefix="labelserver-upload-") as folder:
            path = Path(folder) / (slug(Path(data["file"].name).name) or "upload")
            with open(path, "wb") as out:
                for chunk in data["file"].chunks():
                    out.write(chunk)
            report = import_bundle(project, path, options, user=request.user)
        return Response(report.to_dict(), status=status.HTTP_201_CREATED)
