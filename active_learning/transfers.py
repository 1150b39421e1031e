"""Files in and out of a project as background jobs: ingesting an uploaded image, importing an
annotation bundle, exporting the project.

The web request only stores the upload (under uploads/ in the storage every host reaches) and
queues a job; a CPU worker of the `default` queue runs it, reporting progress
({"stage", "done", "total"}) and leaving what it made in `Job.result`. A big image or a
100,000-crop export never holds a request, and a web server on a small VM needs no scratch disk.

Safe to run twice: a job is claimed once (active_learning.jobs), ingesting bytes the project holds
already changes nothing, and an import is all or nothing. After a failure nothing is left:
ingestion and import undo their own rows and files, an export's zip is stored only once whole,
and the staged upload is deleted however the job ended (`job_ended`), a cancel or a dead worker
included. An export's zip is kept EXPORT_KEEP_HOURS for download (`delete_expired_exports`, run
hourly by beat).
"""

from __future__ import annotations

import posixpath
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename

from active_learning.jobs import JobContext, enqueue_job
from active_learning.model_transfer import export_zip, import_bundle
from active_learning.models import Job, JobKind, JobStatus
from annotations.api.export_serializers import export_options, import_options
from annotations.exports import ProgressCallback, slug
from annotations.ingest import check_upload, ingest_image
from annotations.models import Project
from labelserver import storage

UPLOADS = "uploads"
EXPORTS = "exports"
# Progress is a database write: at most this often, whatever the pace of crops.
PROGRESS_SECONDS = 0.5


# --- Queueing (the web request) -------------------------------------------------------------


def queue_ingest(project: Project, image: Any, *, mask: Any = None, user: Any = None) -> Job:
    """Check an uploaded image's header (and its label image's), store both and queue the job
    that ingests them."""
    check_upload(image, original_name=image.name or "image", mask_source=mask)
    with _staged({"upload": image, "mask": mask}) as params:
        params["name"] = Path(image.name or "image").name[:300]
        return enqueue_job(project, JobKind.INGEST, params=params, user=user)


def queue_import(project: Project, bundle: Any, options: dict[str, Any], *, user: Any = None) -> Job:
    """Store an uploaded bundle and queue its import; `options` are the import's form fields,
    read again (and so checked again) by the worker."""
    with _staged({"upload": bundle}) as params:
        params["options"] = options
        return enqueue_job(project, JobKind.IMPORT, params=params, user=user)


def queue_export(project: Project, options: dict[str, Any], *, user: Any = None) -> Job:
    """Queue an export; `options` are its parameters, checked by the caller and again by the worker."""
    return enqueue_job(project, JobKind.EXPORT, params={"options": options}, user=user)


@contextmanager
def _staged(files: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The uploads stored under uploads/<random>/<their name>; deleted again if storing the next
    one or queueing fails."""
    params: dict[str, Any] = {}
    try:
        for key, file in files.items():
            if file is not None:
                params[key] = _stage(file)
        with transaction.atomic():
            yield params
    except BaseException:
        _delete_staged(params)
        raise


def _stage(file: Any) -> str:
    name = get_valid_filename(Path(file.name or "upload").name)[-100:] or "upload"
    return default_storage.save(f"{UPLOADS}/{uuid.uuid4().hex}/{name}", file)


def _delete_staged(params: dict[str, Any]) -> None:
    for key in ("upload", "mask"):
        name = params.get(key)
        if isinstance(name, str) and name.startswith(f"{UPLOADS}/"):
            storage.delete(name)


# --- Running (the worker) -------------------------------------------------------------------


def run_ingest_job(job: Job, context: JobContext) -> None:
    params = job.params
    context.progress(stage="receiving")
    image = _local_copy(params["upload"], context)
    mask = _local_copy(params["mask"], context) if params.get("mask") else None
    result = ingest_image(job.project, image, original_name=params["name"], mask_source=mask, user=job.created_by,
                          progress=_reporter(context, "tiling"))
    _record(job, {"image": result.image.pk, "name": result.image.original_name, "created": result.created,
                  "crops": result.crops, "imported_annotations": result.imported_annotations})
    context.log(f"{'added' if result.created else 'already in the project'}: {params['name']}, "
                f"{result.crops} crops, {result.imported_annotations} labelled")


def run_import_job(job: Job, context: JobContext) -> None:
    options = import_options(job.params["options"])
    context.progress(stage="receiving")
    bundle = _local_copy(job.params["upload"], context)
    report = import_bundle(job.project, bundle, options, user=job.created_by, progress=_reporter(context, "importing"))
    _record(job, report.to_dict())
    context.log(f"imported {bundle.name}: {report.images_created} new images, {report.annotations} annotations, "
                f"{report.predictions} predictions")


def run_export_job(job: Job, context: JobContext) -> None:
    project = job.project
    options = export_options(job.params["options"])
    file_name = f"{slug(project.name)}-export-{timezone.localtime():%Y%m%d-%H%M%S}.zip"
    context.workspace.mkdir(parents=True, exist_ok=True)
    target = context.workspace / file_name
    manifest = export_zip(project, options, target, progress=_reporter(context, "writing"))
    context.progress(stage="storing")
    context.check_cancelled()
    size = target.stat().st_size
    name = f"{EXPORTS}/{project.pk}/{job.pk}/{file_name}"
    storage.save_local_file(name, target, move=True)  # the workspace is on MEDIA_ROOT's disk
    keep = _kept_for()
    _record(job, {"file": name, "file_name": file_name, "size": size,
                  "download": reverse("job-file", args=[job.pk]),
                  "expires_at": (timezone.now() + keep).isoformat(), "counts": manifest["counts"]})
    context.log(f"exported {file_name}: {size} bytes, {manifest['counts']['annotations']} annotations")


def _local_copy(name: str, context: JobContext) -> Path:
    """A staged upload as a local file under its own name (import reads the format from it): the
    file itself on a local storage, else a download into the job's workspace."""
    if storage.is_local():
        return Path(default_storage.path(name))
    target = context.workspace / posixpath.basename(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        storage.copy_to(name, out)
    return target


def _reporter(context: JobContext, stage: str) -> ProgressCallback:
    """A progress callback that records at most every PROGRESS_SECONDS and stops the work (by
    raising JobCancelled, which undoes it) once an admin cancelled the job."""
    last = 0.0

    def report(done: int, total: int, what: str) -> None:
        nonlocal last
        now = time.monotonic()
        if done == total or now - last >= PROGRESS_SECONDS:
            last = now
            context.progress(stage=stage, done=done, total=total, item=what[:200])
        context.check_cancelled()

    return report


def _record(job: Job, result: dict[str, Any]) -> None:
    Job.objects.filter(pk=job.pk).update(result=result)
    job.result = result


# --- After the job --------------------------------------------------------------------------


def job_ended(job_id: int) -> None:
    """However the job ended: its staged upload is deleted (an import or ingest is never retried
    from it; the admin uploads again)."""
    job = Job.objects.filter(pk=job_id).only("params").first()
    if job is not None:
        _delete_staged(job.params)


def _kept_for() -> timedelta:
    return timedelta(hours=cast(int, settings.LABELSERVER["EXPORT_KEEP_HOURS"]))


def export_file(job: Job) -> tuple[str, str] | None:
    """(stored name, download name) of a succeeded export whose zip is still kept; else None."""
    result = job.result or {}
    if job.kind != JobKind.EXPORT or job.status != JobStatus.SUCCEEDED or not result.get("file"):
        return None
    return result["file"], result.get("file_name") or posixpath.basename(result["file"])


def delete_expired_exports() -> int:
    """Delete the zips of exports older than EXPORT_KEEP_HOURS (their results lose `file` and say
    `expired`); returns how many went."""
    cutoff = timezone.now() - _kept_for()
    expired = Job.objects.filter(kind=JobKind.EXPORT, status=JobStatus.SUCCEEDED, finished_at__lt=cutoff,
                                 result__has_key="file")
    deleted = 0
    for job in expired.only("pk", "result"):
        result = dict(job.result)
        storage.delete(result.pop("file"))
        Job.objects.filter(pk=job.pk).update(result={**result, "expired": True})
        deleted += 1
    return deleted
