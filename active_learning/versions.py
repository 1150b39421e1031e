"""Model versions: store weights safely, number versions, promote and roll back."""

from __future__ import annotations

import hashlib
from contextlib import suppress
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from active_learning.backends import get_backend_class
from active_learning.backends.base import ModelBackend
from active_learning.backends.settings import parse_backend_settings
from active_learning.backends.weights import project_weights_dir
from active_learning.models import ModelVersion, ModelVersionStatus
from annotations.models import Project
from labelserver import storage
from labelserver.errors import Conflict

# A candidate replaces the active version only when it is better on validation by this much.
DEFAULT_PROMOTION_MARGIN = 0.0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_storage_name(project_id: int, sha256: str) -> str:
    """models/<project>/<sha256>.pt: where "weights:<sha256>" finds a project's weights."""
    return (project_weights_dir(Path(), project_id) / f"{sha256}.pt").as_posix()


def store_weights(project: Project, source: Path) -> tuple[str, str]:
    """Store a local weights file as models/<project>/<sha256>.pt; returns (storage name, sha256).
    A crash never leaves a half-written file under the name (labelserver.storage.save_local_file)."""
    sha = file_sha256(source)
    name = weights_storage_name(project.pk, sha)
    storage.save_local_file(name, source)
    return name, sha


def local_weights_dir(project: Project) -> Path:
    """A local folder holding the project's start weights, if it starts from "weights:<sha256>":
    the backends look them up there (`project_weights_dir`). On a local storage that is the
    project's weights folder itself; with an object store the one file is copied into the cache."""
    parsed = parse_backend_settings(project.backend_settings, model_channels=project.model_channels)
    if parsed.start_weights_sha256 is not None:
        with suppress(FileNotFoundError):  # the backend then says it was never uploaded here
            storage.local_path(weights_storage_name(project.pk, parsed.start_weights_sha256))
    return project_weights_dir(storage.local_root(), project.pk)


def active_version(project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, status=ModelVersionStatus.ACTIVE).first()


def serving_instead_of(version: ModelVersion) -> ModelVersion | None:
    """The active version of `version`'s project when that is another version, else None."""
    active = active_version(version.project)
    return active if active is not None and active.pk != version.pk else None


def create_version(project: Project, weights: Path | None, **fields: Any) -> ModelVersion:
    """Record a new candidate version with the next number for its project."""
    name, sha = store_weights(project, weights) if weights is not None else ("", "")
    with transaction.atomic():
        # Lock the project row so two writers never pick the same number.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        number = (ModelVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        return ModelVersion.objects.create(
            project=project, number=number, weights=name, weights_sha256=sha, **fields
        )


def promote(version: ModelVersion) -> ModelVersion:
    """Make `version` the project's one active version (also how admins roll back)."""
    version.refresh_from_db(fields=["status"])  # a stale copy that still reads "active" must not skip a roll back
    if version.status == ModelVersionStatus.ACTIVE:
        return version
    if not version.weights:
        raise Conflict(f"model version {version.number} has no weights to serve predictions with")
    with transaction.atomic():
        ModelVersion.objects.filter(project=version.project, status=ModelVersionStatus.ACTIVE).update(
            status=ModelVersionStatus.RETIRED
        )
        version.status = ModelVersionStatus.ACTIVE
        version.promoted_at = timezone.now()
        version.save(update_fields=["status", "promoted_at"])
    return version


def is_better(candidate: dict[str, Any], incumbent: dict[str, Any] | None, margin: float) -> bool:
    """Compare validation metrics: AP@0.5 first, then AP@0.75 to break ties."""
    if not incumbent:
        return True
    key = ("ap50", "ap75")
    cand = tuple(candidate.get(k, 0.0) for k in key)
    inc = tuple(incumbent.get(k, 0.0) for k in key)
    if cand[0] != inc[0]:
        return cand[0] > inc[0] + margin
    return cand[1] > inc[1] + margin


def load_backend(project: Project, version: ModelVersion | None) -> ModelBackend:
    """The project's backend with a version's weights, or at the project's start point (a
    pretrained model, an uploaded file, or a fresh network) when `version` is None."""
    weights = storage.local_path(version.weights.name) if version is not None and version.weights else None
    return get_backend_class(project.backend).for_project(
        project, weights=weights, weights_dir=None if weights else local_weights_dir(project))
