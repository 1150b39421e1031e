"""Files in and out of a project, as background jobs (active_learning.transfers): upload an image,
import an annotation bundle, export the project and download the export. Each request checks its
input, stores the upload and answers 202 with the queued job; GET /api/jobs/{id}/ follows it.

On the learning side because the work runs as jobs and an export may carry a model version and
an import may store predictions (active_learning.model_transfer); the options are
annotations.api.export_serializers'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import Http404
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from active_learning import selectors as learning_selectors
from active_learning import transfers
from active_learning.api.serializers import JobSerializer
from active_learning.api.views import _require_admin
from annotations import selectors
from annotations.api.common import load, parse
from annotations.api.export_serializers import (
    ExportOptionsSerializer,
    ImportInput,
    ImportOptionsSerializer,
    export_options,
)
from annotations.api.images import ImageListView
from annotations.api.parsers import BoundedFormParser, BoundedJSONParser
from annotations.api.serializers import ImageUploadInput
from annotations.permissions import IsProjectAdmin
from labelserver.files import send_stored_file

QUEUED = {202: JobSerializer}
# What a job keeps of a request: the options the worker reads again (unknown keys are dropped).
IMPORT_OPTIONS = tuple(ImportOptionsSerializer._declared_fields)
EXPORT_OPTIONS = (*ExportOptionsSerializer._declared_fields, "formats")


def _queued(job: object) -> Response:
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImagesView(ImageListView):
    """GET: a project's images. POST (its admins; multipart `file`, optional `mask`): store the
    upload and queue its ingestion; the job's result names the image and its crops."""

    parser_classes = [MultiPartParser, BoundedFormParser]

    @extend_schema(request=ImageUploadInput, responses=QUEUED)
    def post(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        data = parse(ImageUploadInput, request.data)
        return _queued(transfers.queue_ingest(project, data["file"], mask=data.get("mask"), user=request.user))


class ImportView(APIView):
    """POST /api/projects/{id}/import/ (multipart: file, format, mode, overlap, object_type)."""

    permission_classes = [IsAuthenticated, IsProjectAdmin]
    parser_classes = [MultiPartParser, BoundedFormParser]

    @extend_schema(request=ImportInput, responses=QUEUED)
    def post(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        data = parse(ImportInput, request.data)
        options = {name: data[name] for name in IMPORT_OPTIONS if data.get(name) is not None}
        return _queued(transfers.queue_import(project, data["file"], options, user=request.user))


class ExportView(APIView):
    """POST /api/projects/{id}/export/ {"format": "cellpose,coco", "split": ..., "model": ...}."""

    permission_classes = [IsAuthenticated, IsProjectAdmin]
    parser_classes = [BoundedJSONParser, BoundedFormParser]

    @extend_schema(request=ExportOptionsSerializer, responses=QUEUED)
    def post(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        given = cast(Mapping[str, Any], request.data)
        options = {key: given[key] for key in EXPORT_OPTIONS if key in given}
        export_options(options)  # bad options answer 400 here, not a failed job later
        return _queued(transfers.queue_export(project, options, user=request.user))


class JobFileView(APIView):
    """GET /api/jobs/{id}/file/: a succeeded export's zip, while it is kept (EXPORT_KEEP_HOURS)."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, job_id: int) -> HttpResponseBase:
        job = learning_selectors.job_for(cast(AbstractBaseUser, request.user), job_id)
        _require_admin(request, job)
        found = transfers.export_file(job)
        if found is None:
            raise Http404(f"job {job.pk} has no export to download (not an export, not finished, or expired)")
        name, download_name = found
        return send_stored_file(request, name, download_name=download_name, content_type="application/zip")
