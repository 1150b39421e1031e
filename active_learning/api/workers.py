"""The live Celery workers over HTTP, for the Training page: staff and project admins only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from active_learning.workers import live_workers
from annotations.models import Membership, Role
from labelserver.openapi import error_responses


class IsStaffOrAProjectAdmin(BasePermission):
    message = "Only staff and project admins can see the workers."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return bool(user.is_staff) or Membership.objects.filter(user=user, role=Role.ADMIN).exists()


class DeviceOutput(serializers.Serializer):
    device = serializers.CharField(help_text="cuda, mps or cpu; unavailable or unknown with an error.")
    name = serializers.CharField(required=False, help_text="The GPU's name; cpu or mps otherwise.")
    memory_bytes = serializers.IntegerField(required=False, help_text="The GPU's memory (CUDA only).")
    count = serializers.IntegerField(required=False, help_text="GPUs the worker's PyTorch sees (CUDA only).")
    error = serializers.CharField(required=False)


class WorkerOutput(serializers.Serializer):
    name = serializers.CharField(help_text="The worker's Celery hostname, e.g. gpu@host.")
    device = DeviceOutput(allow_null=True, help_text="None while the worker is still finding out.")
    queues = serializers.ListField(child=serializers.CharField())


class WorkersView(APIView):
    permission_classes = [IsStaffOrAProjectAdmin]

    @extend_schema(responses={200: WorkerOutput(many=True), **error_responses(503)})
    def get(self, request: Request) -> Response:
        """The Celery workers that answer within a second, with their device and queues."""
        return Response(WorkerOutput(live_workers(), many=True).data)
