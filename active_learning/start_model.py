"""A project that starts from trained weights serves them as its first model version.

With `start_from` "pretrained:<name>" or "weights:<sha256>" (weights uploaded to the project,
found in its own weights folder only: backends/weights.py), the first training or prediction job
records the start weights as a version (origin "start:<start_from>"), evaluates it on the labelled
validation crops and makes it the active version. So labellers correct the start model's
predictions from the first crop instead of drawing every cell, and the first fine-tuned
candidate has to beat the start model on the validation crops to replace it, like every later
one. A project that starts from scratch has nothing worth serving before its first training.
"""

from __future__ import annotations

from django.db import transaction

from active_learning import versions
from active_learning.backends.settings import START_SCRATCH, parse_backend_settings
from active_learning.datasets import labelled_crops
from active_learning.jobs import JobContext
from active_learning.models import ModelVersion
from active_learning.validation import measure_version, metrics_summary
from active_learning.versions import load_backend
from annotations.models import Project, Split

ORIGIN_PREFIX = "start:"


def starts_from_weights(project: Project) -> bool:
    settings = parse_backend_settings(project.backend_settings, model_channels=project.model_channels)
    return settings.start_from != START_SCRATCH


def serve_start_weights(project: Project, context: JobContext) -> ModelVersion | None:
    """The active version, after making the start weights one when there is none; None for a
    project that starts from scratch. Safe to run twice, and from two jobs at once: one wins."""
    active = versions.active_version(project)
    if active is not None or not starts_from_weights(project):
        return active
    start_from = project.backend_settings.get("start_from")
    context.log(f"serving the start weights ({start_from}) as the project's first version")
    # Saved from the loaded network, so a named model's fixed scale travels with the file.
    weights = load_backend(project, None).save_weights(context.workspace / "start-weights.pt")
    version = versions.create_version(
        project, weights, backend=project.backend, origin=f"{ORIGIN_PREFIX}{start_from}"[:100],
        settings=project.backend_settings,
    )
    validation = labelled_crops(project, Split.VALIDATION)
    if validation:
        measure_version(version, validation)
        context.log(f"start weights on the validation crops: {metrics_summary(version.metrics)}")
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        other = versions.serving_instead_of(version)
        if other is not None:  # another job got there first
            version.delete()
            return other
        return versions.promote(version)  # (or an admin promoted it while it was evaluated)
