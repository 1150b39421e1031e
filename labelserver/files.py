"""Sending a stored file after a view has said yes.

No URL serves MEDIA_ROOT as such: a crop's display PNG, an original image and a model's weights
are each answered by a view of the app that owns them, which first checks the same object
permissions as the API (and so refuses anonymous clients, outsiders and removed members), then
calls `send_stored_file`. How the bytes travel is one setting, SENDFILE_HEADER:

* "none" (the default): Django streams the file itself (with Last-Modified and 304 answers);
* "X-Accel-Redirect" (nginx): an empty answer whose header names the file under
  SENDFILE_INTERNAL_URL, a location the proxy marks `internal` and maps onto MEDIA_ROOT;
* "X-Sendfile" (Apache mod_xsendfile, lighttpd): an empty answer naming the file's absolute path.

With an object store (STORAGE_BACKEND=s3, labelserver/storage.py) none of these applies: the
view answers 302 to a signed URL of the file that expires after S3_SIGNED_URL_SECONDS, and the
browser fetches the bytes from the store. The redirect itself is never reused (`max-age=0`), as
its URL soon expires; the store's answer carries the Cache-Control, Content-Type and
Content-Disposition the local answer would have (signed into the URL), so the user's browser
keeps its copy under the same rules. The view does not ask the store whether the file is there
(a round trip per thumbnail): a missing object is the store's 404.

Every answer is `Cache-Control: private` with `Vary: Cookie, Authorization`: a browser may keep
its user's copy, a shared cache (a proxy, a CDN) must never hand one user's bytes to another.
"""

from __future__ import annotations

import mimetypes
import os
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import content_disposition_header, http_date
from django.views.static import was_modified_since

from labelserver import storage

SENDFILE_NONE = "none"
X_ACCEL_REDIRECT = "X-Accel-Redirect"
X_SENDFILE = "X-Sendfile"
SENDFILE_HEADERS = (SENDFILE_NONE, X_ACCEL_REDIRECT, X_SENDFILE)
# The nginx location (marked `internal`, aliased to MEDIA_ROOT) that X-Accel-Redirect names.
SENDFILE_INTERNAL_URL = "/internal-media/"


def send_stored_file(
    request: HttpRequest, name: str | None, *, max_age: int = 0, download_name: str | None = None,
    content_type: str | None = None,
) -> HttpResponseBase:
    """The stored file `name` (a FileField's name, relative to MEDIA_ROOT) for a request the
    calling view has authorised; 404 when there is none or it is gone. `max_age`: how long the
    user's own browser may reuse it; `download_name`: sent as an attachment under that name;
    `content_type`: the type to send, when the one guessed from the name is wrong."""
    if not name:
        raise Http404("no stored file")
    content_type = content_type or _content_type(name)
    if not storage.is_local():
        redirect = _signed_redirect(name, max_age=max_age, download_name=download_name, content_type=content_type)
        return private(redirect, max_age=0)
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
    if not isinstance(response, HttpResponseNotModified):
        response["Content-Type"] = content_type
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


def _signed_redirect(name: str, *, max_age: int, download_name: str | None, content_type: str) -> HttpResponseRedirect:
    """A redirect to a signed URL whose answer carries the headers the local answer would."""
    parameters = {"ResponseContentType": content_type,
                  "ResponseCacheControl": f"private, max-age={max_age}"}
    if download_name is not None:
        parameters["ResponseContentDisposition"] = content_disposition_header(True, download_name) or ""
    return HttpResponseRedirect(storage.signed_url(name, parameters=parameters, expire=settings.S3_SIGNED_URL_SECONDS))


def _proxy_response(mode: str, name: str, path: str) -> HttpResponse:
    """An empty answer the proxy fills with the file: the view has checked, the proxy sends."""
    response = HttpResponse(content_type=_content_type(name))
    if mode == X_ACCEL_REDIRECT:
        response[X_ACCEL_REDIRECT] = SENDFILE_INTERNAL_URL + quote(name)
    else:
        response[X_SENDFILE] = path
    return response
