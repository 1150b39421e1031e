"""Model versions in the labelling part's exports and imports.

An export may carry a model version (its weights, loadable by Cellpose, and a model card), and an
import may store its masks as predictions of a new model version. Model versions are the learning
part's, which the labelling part must not import, so `annotations.exports.build_export` takes the
model as an `ExportPart` and `annotations.imports.import_annotations` takes a `PredictionSink`.
This module supplies both, and `export_zip` and `import_bundle` compose them for the API views
and the commands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from active_learning.models import ModelVersion, ModelVersionStatus, Prediction
from active_learning.versions import active_version, create_version
from annotations.exports import ExportError, ExportOptions, ProgressCallback, ZipFiles, build_export, slug
from annotations.imports import IMPORT_SOURCE, CropCut, ImportMode, ImportOptions, ImportReport, import_annotations
from annotations.models import Project
from labelserver.errors import NotFound

# --- Export -----------------------------------------------------------------------------------


def model_version_for(project: Project, spec: str) -> ModelVersion:
    """The version an export asks for: "active" or its number (the options checked which); it
    must have weights."""
    if spec == "active":
        version = active_version(project)
        if version is None:
            raise NotFound("the project has no active model version to export")
    else:
        version = ModelVersion.objects.filter(project=project, number=int(spec)).first()
        if version is None:
            raise NotFound(f"the project has no model version {spec}")
    if not version.weights:
        raise ExportError(f"model version {version.number} has no weights file to export")
    return version


def model_card(version: ModelVersion, weights_name: str) -> dict[str, Any]:
    """What a model version is: its settings, metrics and history, and how to load it."""
    return {
        "project": version.project.name,
        "number": version.number,
        "backend": version.backend,
        "origin": version.origin,
        "status": version.status,
        "parent": version.parent.number if version.parent else None,
        "created_at": version.created_at.isoformat(),
        "promoted_at": version.promoted_at.isoformat() if version.promoted_at else None,
        "weights_file": weights_name,
        "weights_sha256": version.weights_sha256,
        "settings": version.settings,
        "metrics": version.metrics,
        "history": version.history,
        "n_train_crops": version.n_train_crops,
        "n_train_cells": version.n_train_cells,
        "trained_on_annotations": sorted(version.trained_on.values_list("id", flat=True)),
        "usage": f"from cellpose import models; models.CellposeModel(pretrained_model='{weights_name}')",
    }


@dataclass(frozen=True)
class ModelVersionPart:
    """A model version as an export's ExportPart: model/<project>_v<N>.pth and .json."""

    version: ModelVersion

    @property
    def description(self) -> str:
        return f"model version {self.version.number}"

    def write(self, files: ZipFiles) -> dict[str, Any]:
        version = self.version
        stem = f"model/{slug(version.project.name)}_v{version.number}"
        weights_name = f"{stem}.pth"
        files.copy(weights_name, version.weights.name or "")
        card = model_card(version, Path(weights_name).name)
        files.write(f"{stem}.json", json.dumps(card, indent=2).encode())
        return {"id": version.pk, "number": version.number, "weights": weights_name, "card": f"{stem}.json",
                "weights_sha256": version.weights_sha256}


def export_zip(project: Project, options: ExportOptions, target: Path, *,
               progress: ProgressCallback | None = None) -> dict[str, Any]:
    """`build_export` with the model version `options.model` names, if any; returns the manifest."""
    model = ModelVersionPart(model_version_for(project, options.model)) if options.model else None
    return build_export(project, options, target, progress=progress, model=model)


# --- Import -----------------------------------------------------------------------------------


@dataclass
class ImportedPredictions:
    """A PredictionSink: the masks become predictions of a new model version (origin "import",
    retired, so it never serves, and without weights) that labellers correct."""

    version: ModelVersion | None = None

    def begin(self, project: Project, source_name: str, options: ImportOptions) -> int:
        self.version = create_version(project, None, backend=project.backend, origin=IMPORT_SOURCE,
                                      status=ModelVersionStatus.RETIRED,
                                      settings={"imported_from": source_name, "format": options.format})
        return self.version.number

    def add(self, cuts: list[CropCut]) -> int:
        Prediction.objects.bulk_create([Prediction(crop=cut.crop, model_version=self.version, mask_png=cut.mask_png,
                                                   n_cells=cut.n_cells) for cut in cuts])
        return len(cuts)


def import_bundle(project: Project, source: Path, options: ImportOptions, *, user: Any = None,
                  progress: ProgressCallback | None = None) -> ImportReport:
    """`import_annotations`, storing predictions as a new model version when the mode asks for them."""
    predictions = ImportedPredictions() if options.mode == ImportMode.PREDICTIONS else None
    return import_annotations(project, source, options, user=user, progress=progress, predictions=predictions)
