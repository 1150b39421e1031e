"""Model backends, looked up by name. Exactly one module (backends/cellpose.py) imports cellpose."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from active_learning.backends.base import ModelBackend

if TYPE_CHECKING:
    from active_learning.models import ModelVersion
    from annotations.models import Project

BACKENDS: dict[str, str] = {
    "cellpose": "active_learning.backends.cellpose.CellposeBackend",
}


def get_backend_class(name: str) -> type[ModelBackend]:
    try:
        dotted = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown model backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)


def load_backend(project: Project, version: ModelVersion | None) -> ModelBackend:
    """The project's backend with a version's weights, or at the project's start point (a
    pretrained model, an uploaded file, or a fresh network) when `version` is None."""
    cls = get_backend_class(project.backend)
    return cls.for_project(project, version)


def validate_weights(backend_name: str, path: Path) -> None:
    """Raise ValueError when `path` is not a weights file the backend can load."""
    get_backend_class(backend_name).validate_weights(path)
