"""Sending a stored file after a view has said yes.

No URL serves MEDIA_ROOT as such: a crop's display PNG, an original image and a model's weights
are each answered by a view of the app that owns them, which first checks the same object
permissions as the API (and so refuses anonymous clients, outsiders and removed members), then
calls `send_stored_file`. How the bytes travel is one setting, SENDFILE_HEADER:

* "none" (the default): Django streams the file itself (with Last-Modified and 304 answers);
* "X-Accel-Redirect" (nginx): an empty answer whose header names the file under
  SENDFILE_INTERNAL_URL, a location the proxy marks `internal` and maps onto MEDIA_ROOT;
* "X-Sendfile" (Apache mod_xsendfile, lighttpd): an empty answer naming the file's absolute path.

With object storage (a later issue) this is the place to answer with a short-lived signed URL.

Every answer is `Cache-Control: private` with `Vary: Cookie, Authorization`: a browser may keep
its user's copy, a shared cache (a proxy, a CDN) must never hand one user's bytes to another.
"""

from __future__ import annotations

import mimetypes
import os
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import content_disposition_header, http_date
from django.views.static import was_modified_since

SENDFILE_NONE = "none"
X_ACCEL_REDIRECT = "X-Accel-Redirect"
X_SENDFILE = "X-Sendfile"
SENDFILE_HEADERS = (SENDFILE_NONE, X_ACCEL_REDIRECT, X_SENDFILE)
# The nginx location (marked `internal`, aliased to MEDIA_ROOT) that X-Accel-Redirect names.
SENDFILE_INTERNAL_URL = "/internal-media/"


def send_stored_file(
    request: HttpRequest, name: str | None, *, max_age: int = 0, download_name: str | None = None
) -> HttpResponseBase:
    """The stored file `name` (a FileField's name, relative to MEDIA_ROOT) for a request the
    calling view has authorised; 404 when there is none or it is gone. `max_age`: how long the
    user's own browser may reuse it; `download_name`: sent as an attachment under that name."""
    if not name:
        raise Http404("no stored file")
    path = default_storage.path(name)  # safe_join: a name can never leave MEDIA_ROOT
    try:
        stat = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise Http404("the stored file is missing") from None
    mode = getattr(settings, "SENDFILE_HEADER", SENDFILE_NONE)
    if mode == SENDFILE_NONE:
        response = _django_response(request, path, stat.st_mtime)
    else:
        response = _proxy_response(mode, name, path)
    if download_name is not None:
        response["Content-Disposition"] = content_disposition_header(True, download_name)
    return private(response, max_age=max_age)


def private(response: HttpResponseBase, *, max_age: int = 0) -> HttpResponseBase:
    """Mark an answer as one user's: no shared cache may store it or serve it to someone else."""
    patch_cache_control(response, private=True, max_age=max_age)
    patch_vary_headers(response, ("Cookie", "Authorization"))
    return response


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _django_response(request: HttpRequest, path: str, mtime: float) -> HttpResponseBase:
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), int(mtime)):
        return HttpResponseNotModified()
    response = FileResponse(open(path, "rb"), content_type=_content_type(path))
    response["Last-Modified"] = http_date(mtime)
    return response


def _proxy_response(mode: str, name: str, path: str) -> HttpResponse:
    """An empty answer the proxy fills with the file: the view has checked, the proxy sends."""
    response = HttpResponse(content_type=_content_type(name))
    if mode == X_ACCEL_REDIRECT:
        response[X_ACCEL_REDIRECT] = SENDFILE_INTERNAL_URL + quote(name)
    else:
        response[X_SENDFILE] = path
    return response
