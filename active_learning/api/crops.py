"""A crop as its labeller sees it: its detail with the model's prediction and its place in the
queue, the admin's edits of it, and the ways to lease one (the queue's next crop, or a chosen one).
Giving a lease back and submitting an annotation are the labelling side's (annotations/api)."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.base_user import AbstractBaseUser
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from active_learning import selectors
from active_learning.api.serializers import (
    CropDetailOutput,
    CropUpdateInput,
    NextCropInput,
    ProposalOutput,
    ProposeInput,
)
from active_learning.proposals import propose
from active_learning.queue.curation import update_crop
from active_learning.queue.serving import lease_next_crop
from annotations import leases
from annotations import selectors as annotation_selectors
from annotations.api.common import load, parse
from annotations.permissions import IsProjectAdminOrReadOnly, is_project_admin, is_project_reviewer

EMPTY = OpenApiResponse(description="The queue is empty: no crop is left for you to label.")


def _crop(crop_id: int, request: Request, *, rank: int | None = None) -> Response:
    viewer = cast(AbstractBaseUser, request.user)  # every view here needs an authenticated user
    return Response(CropDetailOutput(selectors.crop_detail(crop_id, viewer, rank=rank)).data)


class CropDetailView(APIView):
    permission_classes = [IsAuthenticated, IsProjectAdminOrReadOnly]

    @extend_schema(responses=CropDetailOutput)
    def get(self, request: Request, crop_id: int) -> Response:
        return _crop(load(self, request, annotation_selectors.crop_for, crop_id).pk, request)

    @extend_schema(request=CropUpdateInput, responses=CropDetailOutput)
    def patch(self, request: Request, crop_id: int) -> Response:
        crop = load(self, request, annotation_selectors.crop_for, crop_id)
        update_crop(crop=crop, **parse(CropUpdateInput, request.data))
        return _crop(crop.pk, request)


class NextCropView(APIView):
    """Lease my next crop (or the one I already hold, lease renewed)."""

    @extend_schema(request=NextCropInput, responses={200: CropDetailOutput, 204: EMPTY})
    def post(self, request: Request, project_id: int) -> Response:
        project = load(self, request, annotation_selectors.project_for, project_id)
        as_admin = is_project_admin(request.user, project)
        split = parse(NextCropInput, request.data)["split"]
        served = lease_next_crop(project=project, user=request.user, split=split, as_admin=as_admin)
        if served is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return _crop(served.crop_id, request, rank=served.rank)


class LeaseCropView(APIView):
    """Lease this crop (to label or correct it), or renew my lease on it."""

    @extend_schema(request=None, responses=CropDetailOutput)
    def post(self, request: Request, crop_id: int) -> Response:
        crop = load(self, request, annotation_selectors.crop_for, crop_id)
        user = cast(AbstractBaseUser, request.user)  # IsAuthenticated
        leases.lease_crop(crop=crop, user=user, as_admin=is_project_admin(user, crop),
                          as_reviewer=is_project_reviewer(user, crop))
        return _crop(crop.pk, request)


class ProposeView(APIView):
    """Click to cell: propose the cell at a point, every cell in a box, or a better outline for a
    cell ("redo"), from the serving model's stored flows (or a classical proposal where there are
    none). The caller must hold a live lease on the crop (409 otherwise); one proposal at a time
    per labeller (429, code "proposal_busy"). The mask holds only the proposed cells (1..cells):
    the editor merges them into its label map by its own overlap rule."""

    @extend_schema(request=ProposeInput, responses=ProposalOutput)
    def post(self, request: Request, crop_id: int) -> Response:
        crop = load(self, request, annotation_selectors.crop_for, crop_id)
        serializer = ProposeInput(data=request.data, context={"shape": (crop.height, crop.width)})
        serializer.is_valid(raise_exception=True)
        args = serializer.validated_data
        box = tuple(args["box"]) if "box" in args else None
        user = cast(AbstractBaseUser, request.user)  # IsAuthenticated
        result = propose(crop=crop, user=user, mode=args["mode"], x=args.get("x"), y=args.get("y"),
                         box=box, cell=args.get("cell"))
        return Response(ProposalOutput(result).data)
