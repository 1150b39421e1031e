"""Reviews: a project's review queue, and a reviewer's decision on one annotation (accept, or
return it to its author with a comment). A correction is a reviewer's ordinary submission
(POST crops/{id}/annotations/), recorded as `corrected` (annotations.reviews)."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import reviews, selectors
from annotations.api.common import load, parse
from annotations.api.parsers import BoundedJSONParser
from annotations.api.serializers import AnnotationSummaryOutput, ReviewFilterInput, ReviewInput
from annotations.permissions import IsProjectReviewer


class ReviewQueueView(ListAPIView):
    """Current annotations of the project in one review state (default submitted), newest first or
    a random sample. Reviewers and admins."""

    serializer_class = AnnotationSummaryOutput
    permission_classes = [IsAuthenticated, IsProjectReviewer]

    def get_queryset(self):
        project = load(self, self.request, selectors.project_for, self.kwargs["project_id"])
        return reviews.review_queue(project, **parse(ReviewFilterInput, self.request.query_params))

    @extend_schema(parameters=[ReviewFilterInput])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class ReviewAnnotationView(APIView):
    """Accept a crop's current, submitted annotation, or return it to its author with a comment."""

    parser_classes = [BoundedJSONParser]
    permission_classes = [IsAuthenticated, IsProjectReviewer]

    @extend_schema(request=ReviewInput, responses=AnnotationSummaryOutput)
    def post(self, request: Request, annotation_id: int) -> Response:
        annotation = load(self, request, selectors.annotation_for, annotation_id)
        reviewer = cast(AbstractBaseUser, request.user)  # IsAuthenticated
        decision = parse(ReviewInput, request.data)
        decided = reviews.review_annotation(annotation=annotation, reviewer=reviewer, **decision)
        return Response(AnnotationSummaryOutput(decided).data)
