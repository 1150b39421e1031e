"""The admin queue over HTTP: the ranked queue, batch actions on crops, focus, strategy settings."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from active_learning.api.queue_serializers import (
    QUEUE_STATUSES,
    ChangedOutput,
    FocusInput,
    QueueActionInput,
    QueueActionOutput,
    QueueFilterInput,
    QueuePageOutput,
    QueueSettingsInput,
    QueueSettingsOutput,
    RankingOutput,
)
from active_learning.queue import curation, listing, ranking, serving
from annotations import selectors
from annotations.api.common import load, parse
from annotations.models import Project
from annotations.permissions import IsProjectAdmin


class _AdminQueueView(APIView):
    permission_classes = [IsAuthenticated, IsProjectAdmin]

    def project(self, request: Request, project_id: int) -> Project:
        return load(self, request, selectors.project_for, project_id)


class QueueView(_AdminQueueView):
    """The ranked queue of one split: rank, score, reason, model version and lease holder per crop."""

    @extend_schema(parameters=[QueueFilterInput], responses=QueuePageOutput)
    def get(self, request: Request, project_id: int) -> Response:
        project = self.project(request, project_id)
        query = parse(QueueFilterInput, request.query_params)
        offset, limit = query.pop("offset"), query.pop("limit")
        crops = listing.queue_crops(project, split=query["split"], statuses=QUEUE_STATUSES[query["status"]],
                                  tag=query.get("tag"), image_id=query.get("image"),
                                  assigned_to=query.get("assigned_to"))
        entries = listing.queue_page(crops, project, offset=offset, limit=limit)
        page = {"count": crops.count(), "offset": offset, "limit": limit, "strategy": project.strategy,
                "random_fraction": project.random_fraction,
                "model_version": entries[0].model_version if entries else None, "results": entries}
        return Response(QueuePageOutput(page).data)


class QueueActionView(_AdminQueueView):
    """Pin, unpin, boost, bury, reset_priority, skip, requeue, tag, untag, assign or unassign a batch
    of crops: listed by id, or the first `top` crops of the open queue."""

    @extend_schema(request=QueueActionInput, responses=QueueActionOutput)
    def post(self, request: Request, project_id: int) -> Response:
        project = self.project(request, project_id)
        data = parse(QueueActionInput, request.data)
        ids = data.get("crop_ids") or serving.top_of_queue(project, data.get("top", 0), data["split"])
        changed = curation.apply_action(project, data["action"], ids, priority=data.get("priority"),
                                     tags=data["tags"], user_id=data.get("user_id"))
        return Response(QueueActionOutput({"action": data["action"], "crop_ids": ids, "changed": changed}).data)


class QueueFocusView(_AdminQueueView):
    """Serve one image's, tag's or split's waiting crops first (a priority boost; 0 clears it)."""

    @extend_schema(request=FocusInput, responses=ChangedOutput)
    def post(self, request: Request, project_id: int) -> Response:
        project = self.project(request, project_id)
        data = parse(FocusInput, request.data)
        changed = curation.focus_queue(project=project, image_id=data.get("image"), tag=data.get("tag"),
                                    split=data.get("split"), priority=data["priority"])
        return Response(ChangedOutput({"changed": changed}).data)


class QueueSettingsView(_AdminQueueView):
    """The project's strategy and random control fraction; changing them re-ranks the queue."""

    @extend_schema(responses=QueueSettingsOutput)
    def get(self, request: Request, project_id: int) -> Response:
        return Response(QueueSettingsOutput(curation.queue_settings(self.project(request, project_id))).data)

    @extend_schema(request=QueueSettingsInput, responses=QueueSettingsOutput)
    def put(self, request: Request, project_id: int) -> Response:
        project = self.project(request, project_id)
        summary = curation.set_queue_settings(project, **parse(QueueSettingsInput, request.data))
        return Response(QueueSettingsOutput({**curation.queue_settings(project), "ranking": asdict(summary)}).data)


class QueueRankView(_AdminQueueView):
    """Re-rank the queue now from the stored scores (the scoring job does this when it ends)."""

    @extend_schema(request=None, responses=RankingOutput)
    def post(self, request: Request, project_id: int) -> Response:
        return Response(RankingOutput(asdict(ranking.rank_queue(self.project(request, project_id)))).data)
