"""Writes for model jobs and versions that the API and the admin pages call."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from active_learning import retraining, versions
from active_learning.backends import validate_weights
from active_learning.jobs import enqueue_job, queue_job
from active_learning.models import Job, JobKind, ModelVersion
from active_learning.start_model import starts_from_weights
from annotations.models import Project
from labelserver.errors import Conflict, DomainError


def start_job(project: Project, *, kind: str, params: dict[str, Any] | None = None,
              user: Any = None) -> tuple[Job, bool]:
    """(the queued job, True), or (the same prediction queued already, False): see jobs.queue_job."""
    if kind == JobKind.PREDICT and versions.active_version(project) is None and not starts_from_weights(project):
        raise Conflict("there is no active model version to predict with: train or upload one first")
    return queue_job(project, kind, params=params, user=user)


def promote_version(version: ModelVersion, *, user: Any = None) -> ModelVersion:
    """Promote or roll back by hand; the new active version then re-predicts the queue."""
    with transaction.atomic():
        versions.promote(version)
        enqueue_job(version.project, JobKind.PREDICT, model_version=version, user=user, trigger="promotion")
    return version


def require_weights(version: ModelVersion) -> None:
    if not version.weights:
        raise Conflict(f"model version {version.number} has no weights file")


def upload_weights(project: Project, upload: UploadedFile, *, user: Any = None, promote: bool = False) -> ModelVersion:
    """Add an uploaded weights file as a new version; a file the backend cannot load is refused."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.pt"
        with open(path, "wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        try:
            validate_weights(project.backend, path)
        except (ValueError, OSError) as exc:
            raise DomainError(f"{upload.name} is not a usable {project.backend} weights file: {exc}") from None
        version = versions.create_version(project, path, backend=project.backend, origin="upload",
                                          settings={"uploaded_as": upload.name})
    return promote_version(version, user=user) if promote else version


def retraining_settings(project: Project) -> dict[str, Any]:
    return {"schedule": retraining.get_schedule(project), "after_annotations": project.retrain_after_annotations}


def update_retraining(project: Project, **changes: Any) -> dict[str, Any]:
    with transaction.atomic():
        if "schedule" in changes:
            retraining.set_schedule(project, changes["schedule"])
        if "after_annotations" in changes:
            project.retrain_after_annotations = changes["after_annotations"]
            project.save(update_fields=["retrain_after_annotations"])
    return retraining_settings(project)
