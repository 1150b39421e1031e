"""Model backends, looked up by name. Exactly one module (backends/cellpose.py) imports cellpose."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from active_learning.backends.base import ModelBackend

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


def validate_weights(backend_name: str, path: Path) -> None:
    """Raise ValueError when `path` is not a weights file the backend can load."""
    get_backend_class(backend_name).validate_weights(path)
