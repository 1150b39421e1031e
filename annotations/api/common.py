"""Small helpers the API views share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

T = TypeVar("T")


def parse(serializer_class: type[serializers.Serializer], data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate request data with an input serializer; a bad field answers 400 naming it."""
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def load(view: APIView, request: Request, selector: Callable[[Any, int], T], pk: int) -> T:
    """Find an object in the user's projects (404 otherwise) and check the view's permissions on it."""
    obj = selector(request.user, pk)
    view.check_object_permissions(request, obj)
    return obj
