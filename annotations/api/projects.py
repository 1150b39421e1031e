"""Projects and their members."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import projects, selectors
from annotations.api.common import load, parse
from annotations.api.serializers import (
    MemberInput,
    MemberOutput,
    MemberRoleInput,
    ProjectDetailOutput,
    ProjectOutput,
    ProjectSettingsInput,
)
from annotations.models import Project
from annotations.permissions import IsProjectAdmin, IsProjectAdminOrReadOnly, IsStaffOrReadOnly


def _detail(request: Request, project: Project, code: int = status.HTTP_200_OK) -> Response:
    project = selectors.project_for(request.user, project.pk)
    return Response(ProjectDetailOutput(project, context={"request": request}).data, status=code)


class ProjectListView(ListAPIView):
    """The projects I am a member of (staff: all); staff create projects."""

    serializer_class = ProjectOutput
    permission_classes = [IsAuthenticated, IsStaffOrReadOnly]

    def get_queryset(self):
        return selectors.projects_for(self.request.user)

    @extend_schema(request=ProjectSettingsInput, responses={201: ProjectDetailOutput})
    def post(self, request: Request) -> Response:
        project = projects.create_project(creator=request.user, **parse(ProjectSettingsInput, request.data))
        return _detail(request, project, status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    permission_classes = [IsAuthenticated, IsProjectAdminOrReadOnly]

    @extend_schema(responses=ProjectDetailOutput)
    def get(self, request: Request, project_id: int) -> Response:
        return _detail(request, load(self, request, selectors.project_for, project_id))

    @extend_schema(request=ProjectSettingsInput(partial=True), responses=ProjectDetailOutput)
    def patch(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        projects.update_project(project=project, **parse(ProjectSettingsInput, request.data, partial=True))
        return _detail(request, project)


class MemberListView(APIView):
    permission_classes = [IsAuthenticated, IsProjectAdmin]

    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        return Response(MemberOutput(selectors.project_members(project), many=True).data)

    @extend_schema(request=MemberInput, responses={201: MemberOutput})
    def post(self, request: Request, project_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        membership = projects.add_member(project=project, **parse(MemberInput, request.data))
        return Response(MemberOutput(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    permission_classes = [IsAuthenticated, IsProjectAdmin]

    @extend_schema(request=MemberRoleInput, responses=MemberOutput)
    def patch(self, request: Request, project_id: int, user_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        membership = projects.set_member_role(project=project, user_id=user_id, **parse(MemberRoleInput, request.data))
        return Response(MemberOutput(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int, user_id: int) -> Response:
        project = load(self, request, selectors.project_for, project_id)
        projects.remove_member(project=project, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
