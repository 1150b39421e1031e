"""The project settings the learning side interprets (model backend and its settings, strategy,
random share), checked whenever a project's settings change: registered with the labelling side
(annotations.projects.register_settings_check) when the app is ready."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.db.models import Min

from active_learning.backends import BACKENDS
from active_learning.backends.settings import BackendSettings, BackendSettingsError, parse_backend_settings
from active_learning.backends.weights import PRETRAINED_FILES, UPLOAD_HINT
from active_learning.strategies import STRATEGIES, UnknownStrategy, get_strategy
from active_learning.versions import weights_storage_name
from annotations.models import Image, Project
from annotations.projects import register_settings_check
from labelserver.errors import DomainError


@register_settings_check
def backend_errors(project: Project, queue_settings: frozenset[str]) -> dict[str, DomainError]:
    errors: dict[str, DomainError] = {}
    if project.backend not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        errors["backend"] = DomainError(f"unknown model backend {project.backend!r}; known: {known}")
    try:
        parsed = parse_backend_settings(project.backend_settings, model_channels=project.model_channels)
    except DomainError as exc:
        return {**errors, "backend_settings": exc}
    channels = parsed.channels
    if parsed.start_weights_sha256 is not None and (missing := _missing_start_weights(project, parsed)):
        errors["backend_settings"] = missing
    fewest = Image.objects.filter(project=project.pk).aggregate(n=Min("channels"))["n"] if project.pk else None
    if fewest is not None and any(c >= fewest for c in channels):
        where = "backend_settings" if "channels" in project.backend_settings else "model_channels"
        errors[where] = DomainError(f"model channels {list(channels)} do not exist in every image: the project has "
                                    f"images with {fewest} channel(s) (0..{fewest - 1})")
    return errors


def _missing_start_weights(project: Project, parsed: BackendSettings) -> DomainError | None:
    """'weights:<sha256>' must name a file in this project's own weights folder, checked when the
    settings are saved so the admin hears it then, not from a failed job."""
    if project.pk is None:
        return DomainError(f"start_from 'weights:<sha256>' names weights uploaded to the project; {UPLOAD_HINT}")
    sha = parsed.start_weights_sha256 or ""
    if not default_storage.exists(weights_storage_name(project.pk, sha)):
        return DomainError(
            f"start_from: no weights file with SHA-256 {sha} was uploaded to this project; {UPLOAD_HINT}")
    return None


@register_settings_check
def queue_errors(project: Project, queue_settings: frozenset[str]) -> dict[str, DomainError]:
    """The strategy and random fraction, checked only when they are being set (so a project left
    with a strategy that no longer exists can still be renamed)."""
    errors: dict[str, DomainError] = {}
    if "strategy" in queue_settings:
        try:
            get_strategy(project.strategy)
        except UnknownStrategy as exc:
            errors["strategy"] = exc
    fraction = project.random_fraction
    if "random_fraction" in queue_settings and not 0.0 <= fraction <= 1.0:
        errors["random_fraction"] = DomainError(f"random_fraction must be between 0 and 1, not {fraction}")
    return errors


def settings_choices(project: Project) -> dict[str, Any]:
    """What a settings form offers: the backends and strategies (the project's own kept even when
    unknown, so the form shows it), the backend settings with their defaults filled in, and the
    named pretrained models a project may start from (`start_from: "pretrained:<name>"`)."""
    try:
        effective = parse_backend_settings(project.backend_settings, model_channels=project.model_channels).to_dict()
    except BackendSettingsError:
        effective = None
    strategies = sorted(STRATEGIES)
    return {
        "backends": sorted({*BACKENDS, project.backend}),
        "strategies": strategies if project.strategy in STRATEGIES else [*strategies, project.strategy],
        "effective_backend_settings": effective,
        "pretrained_models": list(PRETRAINED_FILES),
    }
