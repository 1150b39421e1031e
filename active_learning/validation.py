"""Model versions measured on a project's labelled validation crops: AP at IoU 0.5/0.75/0.9,
overall and per crop, and when a stored measurement can be reused instead of predicting again.
For a strategy that weighs its signals by the model's errors (`Strategy.calibrates`), the
evaluation also scores the validation crops, so the queue can read each signal beside them.

Each evaluation also keeps what the version's performance report needs of the masks, which are
not stored (active_learning.performance): per crop its errors by type and its cells found by
size, and overall how well each per-cell uncertainty signal ranks the predicted cells' errors.
They cost milliseconds per crop beside the prediction (the flow errors: one recomputation of the
flows per crop), while the report, read later, could only get them by predicting again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from active_learning import performance
from active_learning.backends.base import ModelBackend
from active_learning.datasets import LabelledCrop
from active_learning.evaluation import evaluate_masks
from active_learning.models import ModelVersion
from active_learning.outputs import CropPrediction
from active_learning.queue.ranking import project_strategy
from active_learning.scoring import backend_flow_errors, score_predictions
from active_learning.strategies import ScoringInput, get_strategy
from active_learning.versions import load_backend


def evaluate_version(version: ModelVersion, validation: list[LabelledCrop]) -> dict[str, Any]:
    """AP at IoU 0.5/0.75/0.9 of a version on labelled crops, overall and per crop."""
    if not validation:
        return {}
    backend = load_backend(version.project, version)
    images = [e.image for e in validation]
    predictions = backend.predict(images)
    if project_strategy(version.project).calibrates:  # it weighs its signals by these crops' errors
        score_predictions(version, [e.crop for e in validation], predictions, images=images, backend=backend)
    metrics = evaluate_masks([e.mask for e in validation], [p.masks for p in predictions])
    for entry, example in zip(metrics["per_crop"], validation, strict=True):
        entry["crop"] = example.crop.pk
        entry["annotation"] = example.annotation.pk
    _keep_error_analysis(metrics, validation, predictions, backend)
    metrics["n_labelled_cells"] = version.n_train_cells
    metrics["evaluation_key"] = evaluation_key(version.project.backend_settings, validation)
    return metrics


def _keep_error_analysis(metrics: dict[str, Any], validation: list[LabelledCrop],
                        predictions: list[CropPrediction], backend: ModelBackend) -> None:
    crops = [performance.crop_errors(e.mask, p.masks) for e, p in zip(validation, predictions, strict=True)]
    for entry, crop in zip(metrics["per_crop"], crops, strict=True):
        entry.update(crop.summary())
    metrics["size_edges"] = list(performance.SIZE_EDGES)
    metrics["cell_calibration"] = performance.cell_calibration(crops, cell_signals(predictions, backend))


def cell_signals(predictions: list[CropPrediction], backend: ModelBackend) -> dict[str, list[dict[int, float]]]:
    """Per-cell uncertainty on each crop, by signal: the cell-probability entropy the editor
    outlines cells by, and the raw flow error where the backend measures it (unclipped, so its
    ranking keeps the cells the editor's 0-1 scale would tie). The signals that need more
    predictions (flips, the previous version's) are left out: they would double the evaluation."""
    cellprob = get_strategy("cellprob")
    signals: dict[str, list[dict[int, float]]] = {"cellprob": []}
    for prediction in predictions:
        score = cellprob.score(ScoringInput(crop_id=0, prediction=prediction))
        signals["cellprob"].append(dict(score.cells) if score else {})
    flow_errors = backend_flow_errors(backend)
    if flow_errors is not None:
        signals["flow_error"] = [dict(flow_errors(prediction)) for prediction in predictions]
    return signals


def measure_version(version: ModelVersion, validation: list[LabelledCrop]) -> dict[str, Any]:
    """Evaluate `version` on these validation crops and keep the result as its metrics; with no
    validation crop nothing is measured, and what it was measured on before stays on record."""
    metrics = evaluate_version(version, validation)
    if metrics:
        version.metrics = metrics
        version.save(update_fields=["metrics"])
    return metrics


def evaluation_key(backend_settings: dict[str, Any], validation: Sequence[LabelledCrop]) -> str:
    """What an evaluation depends on besides the weights: the validation annotations (versions,
    not just crops) and the settings that turn the network's output into masks."""
    inputs = {
        "annotations": sorted(e.annotation.pk for e in validation),
        "predict": backend_settings.get("predict", {}),
        "channels": backend_settings.get("channels"),
        "normalize": backend_settings.get("normalize"),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def incumbent_metrics(incumbent: ModelVersion, validation: list[LabelledCrop]) -> dict[str, Any]:
    """The active version's metrics on these validation crops: its stored ones when they were
    measured on the same annotations with the same settings (a version's weights never change),
    else a fresh evaluation, stored in their place: the next comparison reuses it, and the
    reports and a calibrating strategy read the version's errors on today's crops."""
    stored = incumbent.metrics or {}
    if stored.get("evaluation_key") == evaluation_key(incumbent.project.backend_settings, validation):
        return stored
    return measure_version(incumbent, validation)


def metrics_summary(metrics: dict[str, Any]) -> str:
    if not metrics:
        return "not evaluated"
    return ", ".join(f"AP@{t} {metrics.get(k, 0):.3f}" for t, k in (("0.5", "ap50"), ("0.75", "ap75"), ("0.9", "ap90")))
