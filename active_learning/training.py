"""A training job: fine-tune from the active version on the labelled train crops, evaluate the
candidate beside the active version on the validation crops, promote it only if it is better,
then queue re-prediction of the unlabelled crops with the new active version. A project that
starts from trained weights and has no version yet first serves those weights as one
(active_learning.start_model), so the first candidate is measured against them too."""

from __future__ import annotations

from django.db import transaction

from active_learning import versions
from active_learning.backends.base import EpochReport, TrainingResult
from active_learning.datasets import LabelledCrop, labelled_crops
from active_learning.jobs import JobContext, JobFailed, enqueue_job
from active_learning.models import Job, JobKind, ModelVersion, ModelVersionStatus
from active_learning.start_model import serve_start_weights
from active_learning.validation import incumbent_metrics, measure_version, metrics_summary
from active_learning.versions import load_backend
from annotations.models import Project, Split

PROMOTION_MARGIN_KEY = "promotion_margin"


def run_training_job(job: Job, context: JobContext) -> None:
    project = job.project
    train = labelled_crops(project, Split.TRAIN)
    if not train:
        raise JobFailed("there are no labelled crops in the train split yet: label or import some crops first")
    parent = job.model_version or serve_start_weights(project, context)
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
    candidate = _record_candidate(job, project, parent, train, result)
    context.log(f"saved version {candidate.number}; evaluating on the validation crops")
    decide_promotion(candidate, validation, context)


def _report_epoch(context: JobContext, report: EpochReport) -> None:
    context.progress(
        stage="training", epoch=report.epoch, n_epochs=report.n_epochs, loss=report.loss, val_loss=report.val_loss
    )


def _record_candidate(
    job: Job, project: Project, parent: ModelVersion | None, train: list[LabelledCrop], result: TrainingResult
) -> ModelVersion:
    with transaction.atomic():
        candidate = versions.create_version(
            project,
            result.weights_path,
            backend=project.backend,
            parent=parent,
            training_job=job,
            origin="trained",
            # The project's settings, with the training settings as run (the backend's choices filled in).
            settings={**project.backend_settings, "train": result.train_settings},
            history=[vars(h) for h in result.history],
            n_train_crops=len(train),
            n_train_cells=sum(e.annotation.n_cells for e in train),
        )
        candidate.trained_on.set([e.annotation for e in train])
    return candidate


def decide_promotion(candidate: ModelVersion, validation: list[LabelledCrop], context: JobContext) -> None:
    """Promote the candidate only if it beats the active version on the same validation crops."""
    project = candidate.project
    incumbent = versions.active_version(project)
    measure_version(candidate, validation)
    baseline = incumbent_metrics(incumbent, validation) if incumbent else None
    margin = float(project.backend_settings.get(PROMOTION_MARGIN_KEY, versions.DEFAULT_PROMOTION_MARGIN))
    summary = metrics_summary(candidate.metrics)
    if not validation and incumbent is not None:
        verdict = False
        context.log(
            "no labelled validation crops: the new version cannot be compared, so it is not promoted "
            "(label some crops of validation images)"
        )
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
            f"({summary}) is not better than it ({metrics_summary(baseline or {})}) on the same crops"
        )
        if incumbent is not None and not incumbent.predictions.exists():
            # Start weights served by this job have not predicted the queue yet.
            enqueue_job(project, JobKind.PREDICT, model_version=incumbent, trigger="promotion")
