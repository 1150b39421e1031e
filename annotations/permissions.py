"""Who may do what in a project.

Visibility is the selectors' job: a user only ever finds objects of projects they belong to
(staff find all), so outsiders get 404. These classes then separate project admins (Membership
role admin, or staff) and reviewers (role reviewer or admin, or staff) from labellers, who get
403 on admin and review operations.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from annotations import selectors
from annotations.models import REVIEW_ROLES, Annotation, Project, Role

_UNKNOWN = object()


def project_of(obj: Any) -> Project:
    if isinstance(obj, Annotation):
        return obj.crop.project
    return obj if isinstance(obj, Project) else obj.project


def project_role(user: AbstractBaseUser, obj: Any) -> str | None:
    """The user's role in the object's project; read from the selectors' `user_role` annotation
    when present, so a permission check costs no query."""
    role = getattr(obj, "user_role", _UNKNOWN)
    if role is _UNKNOWN:
        role = selectors.role_in(user, project_of(obj))
    return role


def is_project_admin(user: AbstractBaseUser, obj: Any) -> bool:
    return bool(user.is_staff) or project_role(user, obj) == Role.ADMIN


def is_project_reviewer(user: AbstractBaseUser, obj: Any) -> bool:
    """labeller < reviewer < admin: admins (and staff) review too."""
    return is_project_admin(user, obj) or project_role(user, obj) in REVIEW_ROLES


class IsStaff(BasePermission):
    message = "Only staff users can do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_staff)


class IsProjectAdmin(BasePermission):
    message = "Only an admin of this project can do this."

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return is_project_admin(request.user, obj)


class IsProjectReviewer(BasePermission):
    message = "Only a reviewer or admin of this project can do this."

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return is_project_reviewer(cast(AbstractBaseUser, request.user), obj)  # IsAuthenticated runs first


class IsProjectAdminOrReadOnly(IsProjectAdmin):
    """Members read; project admins write."""

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return request.method in SAFE_METHODS or super().has_object_permission(request, view, obj)


class IsStaffOrReadOnly(IsStaff):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)
