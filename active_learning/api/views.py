"""Model jobs and versions over HTTP: thin views that check access and call one service."""

from __future__ import annotations

from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from active_learning import jobs, reports, selectors, services
from active_learning.api.serializers import (
    JobDetailSerializer,
    JobFilterInput,
    JobRequestSerializer,
    JobSerializer,
    ModelVersionSerializer,
    RetrainingSerializer,
    WeightsUploadSerializer,
)
from active_learning.performance_report import performance_report
from annotations import selectors as annotation_selectors
from annotations.api.common import parse
from annotations.models import Project
from annotations.permissions import is_project_admin
from labelserver.errors import DomainError
from labelserver.files import send_stored_file
from labelserver.openapi import error_responses


def _admin_project(request: Request, project_id: int) -> Project:
    project = annotation_selectors.project_for(request.user, project_id)
    _require_admin(request, project)
    return project


def _require_admin(request: Request, obj: object) -> None:
    if not is_project_admin(request.user, obj):
        raise PermissionDenied("Only an admin of this project can do this.")


class ProjectJobsView(APIView):
    @extend_schema(parameters=[JobFilterInput], responses=JobSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = _admin_project(request, project_id)
        kinds = parse(JobFilterInput, request.query_params).get("kind")
        found = selectors.jobs_of(project.pk)
        if kinds:
            found = found.filter(kind__in=kinds)
        return Response(JobSerializer(found[:200], many=True).data)

    @extend_schema(request=JobRequestSerializer, responses={
        201: JobSerializer,
        200: OpenApiResponse(JobSerializer, description="The same prediction job was queued already: that job."),
    })
    def post(self, request: Request, project_id: int) -> Response:
        project = _admin_project(request, project_id)
        data = JobRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job, created = services.start_job(project, **data.validated_data, user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class JobDetailView(APIView):
    @extend_schema(responses=JobDetailSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = selectors.job_for(request.user, job_id)
        _require_admin(request, job)
        return Response(JobDetailSerializer(job).data)


class JobCancelView(APIView):
    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request: Request, job_id: int) -> Response:
        job = selectors.job_for(request.user, job_id)
        _require_admin(request, job)
        return Response(JobSerializer(jobs.request_cancel(job)).data)


class ProjectModelVersionsView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses=ModelVersionSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = annotation_selectors.project_for(request.user, project_id)
        return Response(ModelVersionSerializer(selectors.versions_of(project.pk), many=True).data)

    @extend_schema(request=WeightsUploadSerializer, responses={201: ModelVersionSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = _admin_project(request, project_id)
        data = WeightsUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.upload_weights(project, data.validated_data["weights"], user=request.user,
                                          promote=data.validated_data["promote"])
        return Response(ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class ModelVersionDetailView(APIView):
    @extend_schema(responses=ModelVersionSerializer)
    def get(self, request: Request, version_id: int) -> Response:
        return Response(ModelVersionSerializer(selectors.version_for(request.user, version_id)).data)


class ModelVersionPromoteView(APIView):
    """Make this version the active one: promotion of a candidate, or a roll-back."""

    @extend_schema(request=None, responses=ModelVersionSerializer)
    def post(self, request: Request, version_id: int) -> Response:
        version = selectors.version_for(request.user, version_id)
        _require_admin(request, version)
        return Response(ModelVersionSerializer(services.promote_version(version, user=request.user)).data)


class ModelVersionWeightsView(APIView):
    """The weights file, loadable by Cellpose (`--pretrained_model PATH`); project admins only
    (the one way to read stored weights: no URL serves MEDIA_ROOT)."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes, **error_responses(409)})
    def get(self, request: Request, version_id: int) -> HttpResponseBase:
        version = selectors.version_for(request.user, version_id)
        _require_admin(request, version)
        services.require_weights(version)
        filename = f"{version.project.name}-v{version.number}-{version.backend}.pt".replace(" ", "_")
        # Guessed from ".pt", the type would be application/vnd.snesdev-page-table (a SNES ROM
        # format) on many systems; the schema promises plain bytes.
        return send_stored_file(request, version.weights.name, download_name=filename,
                                content_type="application/octet-stream")


class RetrainingView(APIView):
    @extend_schema(responses=RetrainingSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = _admin_project(request, project_id)
        return Response(services.retraining_settings(project))

    @extend_schema(request=RetrainingSerializer, responses=RetrainingSerializer)
    def put(self, request: Request, project_id: int) -> Response:
        project = _admin_project(request, project_id)
        data = RetrainingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.update_retraining(project, **data.validated_data))



class ProjectReportView(APIView):
    """Counts by status, labelled cells, the active version, the learning curve, the payoff of
    active learning so far, per-labeller figures, and how well labellers agree (with each other
    on double-labelled crops, and with reviewers' corrections)."""

    @extend_schema(responses=dict)
    def get(self, request: Request, project_id: int) -> Response:
        project = _admin_project(request, project_id)
        return Response(reports.project_overview(project))


class ModelVersionReportView(APIView):
    """A version's metrics, training history, the validation crops it gets most wrong, and its
    `performance` report (active_learning.performance_report: AP per image, image group and tag,
    errors by type, recall by cell size, calibration of its uncertainty signals, the comparison
    with its parent, where labelling should go next); `?pattern=` groups images by file name."""

    @extend_schema(responses=dict, parameters=[OpenApiParameter(
        "pattern", str, description="A regular expression over image file names (without extension) whose first "
        "capture group, else its match, is the image group; default: up to the first _ or -."),
    ])
    def get(self, request: Request, version_id: int) -> Response:
        version = selectors.version_for(request.user, version_id)
        _require_admin(request, version)
        try:
            performance = performance_report(version, pattern=request.query_params.get("pattern"))
        except ValueError as exc:
            raise DomainError(f"pattern: {exc}", code="bad_pattern") from None
        return Response({**reports.version_report(version), "performance": performance})
