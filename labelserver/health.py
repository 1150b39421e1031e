"""`GET /healthz`: can this web process reach the database, the Celery broker and the stored files?

For the compose file's healthcheck and for orchestrators' probes, which carry no credentials: the
answer is anonymous, never cached, and bounded in time. 200 `{"status": "ok", "checks":
{"database": "ok", "broker": "ok", "storage": "ok"}}`; 503 with `"status": "error"` and a short
reason for each failing check: "timed out" or the exception's class name. Never its message,
which can name hosts, paths or users; the message goes to the log, with any URL password masked.

The checks:
- database: `SELECT 1` through the default connection;
- broker: a connection to the Celery broker (`connect_timeout` 2 s, no retry); Redis answers a
  PING, and the embedded filesystem broker's folders must exist and be writable;
- storage: on a local disk, the default storage saves and deletes a tiny probe file under
  MEDIA_ROOT. A real write rather than an `os.access` test: it also fails on a full disk, a
  read-only or stale mount, which is what uploads and training would meet. With an object store
  (STORAGE_BACKEND=s3), one HEAD of the bucket (timeout STORAGE_TIMEOUT_SECONDS, no retry): the
  store answers, the keys are valid and the bucket exists, without writing an object per probe.

They run at once, each in its own thread, and the answer waits at most TIMEOUT_SECONDS: a check
that hangs (a blackholed database host, a stale NFS mount) answers "timed out" rather than
holding the probe. Such a thread is left to finish; while it runs, later probes wait on it rather
than start another, so a hang costs each process one thread per check, not one per probe.

HealthCheckMiddleware answers the path before any other middleware (first in MIDDLEWARE): before
the ALLOWED_HOSTS check (a probe's Host is the container's or pod's address, e.g.
127.0.0.1:8000) and the HTTPS redirect behind a TLS proxy (probes speak plain HTTP to the
process). The answer builds no URL and sets no cookie, so neither is needed there. It is not an
API route: not in the OpenAPI schema, and no DRF throttle or session applies.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from time import monotonic

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from labelserver.celery import app as celery_app
from labelserver.error_reports import mask_url_passwords
from labelserver.storage import ObjectStorage

logger = logging.getLogger(__name__)

PATH = "/healthz"
# The whole answer waits at most this long; the broker's own connect timeout is shorter.
TIMEOUT_SECONDS = 3.0
BROKER_CONNECT_TIMEOUT_SECONDS = 2.0
STORAGE_TIMEOUT_SECONDS = 2.0
PROBE_PREFIX = ".healthz-probe-"


def check_database() -> None:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # The check's own thread: its connection would otherwise outlive it, unclosed.
        connections.close_all()


def check_broker() -> None:
    with celery_app.connection_for_write(
        connect_timeout=BROKER_CONNECT_TIMEOUT_SECONDS,
        transport_options={"socket_connect_timeout": BROKER_CONNECT_TIMEOUT_SECONDS,
                           "socket_timeout": BROKER_CONNECT_TIMEOUT_SECONDS},
    ) as connection:
        if connection.transport.driver_type == "filesystem":
            # kombu's filesystem transport "connects" without looking at its folders.
            options = celery_app.conf.broker_transport_options
            for key in ("data_folder_in", "data_folder_out", "control_folder"):
                folder = options.get(key)
                if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
                    raise FileNotFoundError(f"the filesystem broker's {key} is missing or read-only: {folder}")
        # One attempt, no sleeping between retries; kombu's Redis transport sends a PING on connecting.
        connection.ensure_connection(max_retries=0, timeout=BROKER_CONNECT_TIMEOUT_SECONDS)


def check_storage() -> None:
    if isinstance(default_storage, ObjectStorage):
        default_storage.head_bucket(STORAGE_TIMEOUT_SECONDS)
        return
    name = default_storage.save(f"{PROBE_PREFIX}{uuid.uuid4().hex}", ContentFile(b"ok"))
    try:
        with default_storage.open(name) as probe:
            if probe.read() != b"ok":
                raise OSError("the probe file read back different bytes")
    finally:
        default_storage.delete(name)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}

# The check of each name still running in this process, if one is (see the module's docstring).
_running: dict[str, Future[None]] = {}
_running_lock = threading.Lock()


def _run(name: str, check: Callable[[], None], future: Future[None]) -> None:
    try:
        check()
    except BaseException as exc:  # noqa: BLE001  (any failure is the check's answer)
        future.set_exception(exc)
    else:
        future.set_result(None)
    finally:
        with _running_lock:
            if _running.get(name) is future:
                del _running[name]


def _start(name: str) -> Future[None]:
    with _running_lock:
        future = _running.get(name)
        if future is None:
            future = _running[name] = Future()
            threading.Thread(target=_run, args=(name, CHECKS[name], future), name=f"healthz-{name}",
                             daemon=True).start()
        return future


def run_checks(timeout: float | None = None) -> dict[str, str]:
    """Each check's answer: "ok", "timed out" or "failed: <exception class>"."""
    timeout = TIMEOUT_SECONDS if timeout is None else timeout
    deadline = monotonic() + timeout
    futures = {name: _start(name) for name in CHECKS}
    results: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=max(0.0, deadline - monotonic()))
        except FutureTimeout:
            results[name] = "timed out"
            logger.warning("health check %s: no answer within %g s", name, timeout)
        except BaseException as exc:  # noqa: BLE001
            results[name] = f"failed: {type(exc).__name__}"
            logger.warning("health check %s failed: %s: %s", name, type(exc).__name__,
                           mask_url_passwords(str(exc), "********"))
        else:
            results[name] = "ok"
    return results


def healthz(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response: HttpResponse = JsonResponse({"detail": "Method not allowed."}, status=405)
        response["Allow"] = "GET, HEAD"
    else:
        checks = run_checks()
        ok = all(result == "ok" for result in checks.values())
        response = JsonResponse({"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503)
        # run_checks logged the cause; Django would add an ERROR "Service Unavailable" on every probe.
        response._has_been_logged = True  # type: ignore[attr-defined]
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class HealthCheckMiddleware:
    """Answers PATH before the rest of the middleware: the host check and the HTTPS redirect."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == PATH:
            return healthz(request)
        return self.get_response(request)
