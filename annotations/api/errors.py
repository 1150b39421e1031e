"""Turn domain errors into clear 4xx answers."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotations.api.parsers import body_limit, content_length, too_large
from annotations.api.uploads import UploadTooLarge
from labelserver.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": str(exc), "code": exc.code}
        fields = getattr(exc, "fields", None)  # refused options name each bad field (OptionsError)
        if fields:
            body["fields"] = fields
        return Response(body, status=exc.http_status)
    if isinstance(exc, RequestDataTooBig):
        return _too_large(exc, context.get("request"))
    return drf_exception_handler(exc, context)


def _too_large(exc: RequestDataTooBig, request: Any) -> Response:
    """413, not Django's bare 400: the upload limit (MAX_UPLOAD_MB, annotations/api/uploads.py)
    says its own words; Django's limit on a body read whole (request.body, form fields: MAX_JSON_MB)
    is told in the parsers' words, with the size the request declared when it said one."""
    if isinstance(exc, UploadTooLarge):
        detail = str(exc)
    else:
        limit = body_limit()
        size = max(content_length(request.META) if request is not None else 0, limit + 1)
        detail = str(too_large(size, limit).detail)
    return Response({"detail": detail, "code": "request_too_large"}, status=413)
