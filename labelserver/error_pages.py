"""Error pages that Django itself answers (no route matched, a suspicious request, a crash): JSON
under /api/, Django's HTML pages elsewhere.

DRF answers the errors of its views as JSON, but a path that matches no route (`/api/crops/abc/`,
an id past the database's range) or a request refused before any view runs reaches Django's
handlers, whose HTML page an API client cannot read and the OpenAPI schema does not describe.
labelserver/urls.py names these as handler400/403/404/500.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _json(status: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json(400, "Bad request.", "bad_request")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json(403, "You do not have permission to perform this action.", "permission_denied")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json(404, "Not found.", "not_found")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return _json(500, "Server error.", "server_error")
    return defaults.server_error(request)
