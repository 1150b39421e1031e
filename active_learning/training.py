"""A training job: fine-tune from the active version on the labelled train crops, evaluate the
candidate beside the active version on the validation crops, promote it only if it is better,
then queue re-prediction of the unlabelled crops with the new active version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from active_learning import versions
from active_learning.backends import load_backend
from active_learning.backends.base import EpochReport
from active_learning.datasets import LabelledCrop, labelled_crops
from active_learning.evaluation import evaluate_masks
from active_learning.jobs import JobContext, JobFailed, enqueue_job
from active_learning.models import Job, JobKind, ModelVersion, ModelVersionStatus
from annotations.models import Project, Split

PROMOTION_MARGIN_KEY = "promotion_margin"


def run_training_job(job: Job, context: JobContext) -> None:
    project = job.project
    parent = job.model_version or versions.active_version(project)
    train = labelled_crops(project, Split.TRAIN)
    if not train:
        raise JobFailed("there are no labelled crops in the train split yet: label or import some crops first")
    validation = labelled_crops(project, Split.VALIDATION)
    n_cells = sum(example.annotation.n_cells for example in train)
    context.log(
        f"training on {len(train)} crops ({n_cells} cells), validating on {len(validation)} crops, "
        f"starting from {f'version {parent.number}' if parent else 'the project start point'}"
    )
    backend = load_backend(project, parent)
    result = backend.train(
        [e.image for e in train],
        [e.mask for e in train],
        out_dir=context.workspace,
        val_images=[e.image for e in validation],
        val_masks=[e.mask for e in validation],
        progress=lambda report: _report_epoch(context, report),
        should_stop=context.should_stop,
    )
    context.check_cancelled()
    candidate = _record_candidate(job, project, parent, train, result.weights_path, result.history)
    context.log(f"saved version {candidate.number}; evaluating on the validation crops")
    decide_promotion(candidate, validation, context)


def _report_epoch(context: JobContext, report: EpochReport) -> None:
    context.progress(
        stage="training", epoch=report.epoch, n_epochs=report.n_epochs, loss=report.loss, val_loss=report.val_loss
    )


def _record_candidate(
    job: Job, project: Project, parent: ModelVersion | None, train: list[LabelledCrop], weights: Any, history: list
) -> ModelVersion:
    with transaction.atomic():
        candidate = versions.create_version(
            project,
            weights,
            backend=project.backend,
            parent=parent,
            training_job=job,
            origin="trained",
            settings=project.backend_settings,
            history=[vars(h) for h in history],
            n_train_crops=len(train),
            n_train_cells=sum(e.annotation.n_cells for e in train),
        )
        candidate.trained_on.set([e.annotation for e in train])
    return candidate


def evaluate_version(version: ModelVersion, validation: list[LabelledCrop]) -> dict[str, Any]:
    """AP at IoU 0.5/0.75/0.9 of a version on labelled crops, overall and per crop."""
    if not validation:
        return {}
    predictions = load_backend(version.project, version).predict([e.image for e in validation])
    metrics = evaluate_masks([e.mask for e in validation], [p.masks for p in predictions])
    for entry, example in zip(metrics["per_crop"], validation, strict=True):
        entry["crop"] = example.crop.pk
        entry["annotation"] = example.annotation.pk
    metrics["n_labelled_cells"] = version.n_train_cells
    metrics["evaluation_key"] = evaluation_key(version.project.backend_settings, validation)
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
    else a fresh evaluation."""
    stored = incumbent.metrics or {}
    if stored.get("evaluation_key") == evaluation_key(incumbent.project.backend_settings, validation):
        return stored
    return evaluate_version(incumbent, validation)


def decide_promotion(candidate: ModelVersion, validation: list[LabelledCrop], context: JobContext) -> None:
    """Promote the candidate only if it beats the active version on the same validation crops."""
    project = candidate.project
    incumbent = versions.active_version(project)
    candidate.metrics = evaluate_version(candidate, validation)
    candidate.save(update_fields=["metrics"])
    baseline = incumbent_metrics(incumbent, validation) if incumbent else None
    margin = float(project.backend_settings.get(PROMOTION_MARGIN_KEY, versions.DEFAULT_PROMOTION_MARGIN))
    summary = _summary(candidate.metrics)
    if not validation and incumbent is not None:
        verdict = False
        context.log("no labelled validation crops: the new version cannot be compared, so it is not promoted")
    else:
        verdict = versions.is_better(candidate.metrics, baseline, margin)
    if verdict:
        versions.promote(candidate)
        context.log(f"promoted version {candidate.number} ({summary}); queueing re-prediction")
        enqueue_job(project, JobKind.PREDICT, model_version=candidate, trigger="promotion")
    else:
        candidate.status = ModelVersionStatus.REJECTED
        candidate.save(update_fields=["status"])
        context.log(
            f"kept version {incumbent.number if incumbent else '-'} active: candidate {candidate.number} "
            f"({summary}) is not better than it ({_summary(baseline or {})}) on the same crops"
        )


def _summary(metrics: dict[str, Any]) -> str:
    if not metrics:
        return "not evaluated"
    return ", ".join(f"AP@{t} {metrics.get(k, 0):.3f}" for t, k in (("0.5", "ap50"), ("0.75", "ap75"), ("0.9", "ap90")))
