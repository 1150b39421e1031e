"""A prediction job: a model version predicts every crop still waiting for a label, in batches,
stores each crop's instance mask, scores it with the project's strategies, and finally re-ranks
the queue. With no active version, a project that starts from trained weights serves those
(active_learning.start_model). Crops it already predicted and scored are skipped, so a job that
runs twice, or resumes after a failure, repeats no work. JobKind.PREDICT and JobKind.SCORE both
run it (a scoring job is how admins re-score with other strategies). For a strategy that weighs
its signals by the version's errors on the validation crops (`Strategy.calibrates`), it also
scores those crops where the version's evaluation did not (the project chose that strategy since).

A job queued for a version that has stopped serving before or while it runs (an admin rolled
back, or a newer version was promoted) stops at its next batch: that version's predictions
would be drawn for no labeller and its scores rank nothing, while the serving version's own job
does that work."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet

from active_learning.backends.proposals import pack_maps
from active_learning.datasets import batched
from active_learning.jobs import JobContext, JobFailed
from active_learning.models import Job, ModelVersion, Prediction
from active_learning.outputs import CropPrediction
from active_learning.queue.ranking import project_strategy, rank_queue
from active_learning.scoring import (
    job_strategy_names,
    score_predictions,
    unscored_crops,
    unscored_evaluated_crops,
)
from active_learning.start_model import serve_start_weights
from active_learning.versions import load_backend, serving_instead_of
from annotations.imaging import read_crop_pixels
from annotations.masks import count_cells, encode_png
from annotations.models import Crop

DEFAULT_BATCH_SIZE = 8


def run_prediction_job(job: Job, context: JobContext) -> None:
    version = job.model_version or serve_start_weights(job.project, context)
    if version is None:
        raise JobFailed("there is no active model version to predict with, and the project starts from scratch: "
                        "train one first")
    names = job_strategy_names(job, context)
    pending = unscored_crops(job.project, version, names)
    total = pending.count()
    scoring = f"scoring with {', '.join(names)}" if names else "no model-based strategy to score with"
    context.log(f"predicting {total} crops with version {version.number}; {scoring}")
    if total and not _predict_and_score(job, version, names, pending, total, context):
        return
    if project_strategy(job.project).calibrates:
        # The validation crops the version was evaluated on, where that evaluation did not score
        # them (the project chose this strategy since): labelled, not queued, so scored, not stored.
        evaluated = unscored_evaluated_crops(version, names)
        if n_evaluated := evaluated.count():
            context.log(f"scoring the {n_evaluated} validation crops version {version.number} was evaluated on")
            if not _predict_and_score(job, version, names, evaluated, n_evaluated, context, store=False):
                return
    context.log(str(rank_queue(job.project)))


def _predict_and_score(
    job: Job, version: ModelVersion, names: list[str], pending: QuerySet[Crop], total: int, context: JobContext,
    *, store: bool = True,
) -> bool:
    """Predict and score the pending crops (and store the predictions, unless not `store`); False
    when it stopped because `version` stopped serving."""
    backend, done = load_backend(job.project, version), 0
    for batch in batched(pending, int(job.params.get("batch_size", DEFAULT_BATCH_SIZE))):
        context.check_cancelled()
        serving = serving_instead_of(version)
        if serving is not None:
            context.log(f"stopped after {done} of {total} crops: version {version.number} no longer serves "
                        f"(version {serving.number} does, and its own prediction job ranks the queue)")
            return False
        images = [read_crop_pixels(crop) for crop in batch]
        outputs = backend.predict(images)
        if store:
            store_predictions(version, batch, outputs)
        score_predictions(version, batch, outputs, images=images, backend=backend, strategies=names)
        done += len(batch)
        context.progress(stage="predicting", done=done, total=total)
    return True


def store_predictions(version: ModelVersion, crops: Sequence[Crop], outputs: Sequence[CropPrediction]) -> None:
    """Store each crop's masks with its maps (for click-to-cell proposals); the maps of other
    versions' predictions of these crops are dropped: proposals come from the serving version."""
    Prediction.objects.bulk_create(
        [
            Prediction(
                crop=crop, model_version=version, mask_png=encode_png(output.masks), n_cells=count_cells(output.masks),
                maps=pack_maps(output.cellprob, output.flows),
            )
            for crop, output in zip(crops, outputs, strict=True)
        ],
        ignore_conflicts=True,
    )
    stale = Prediction.objects.filter(crop__in=[crop.pk for crop in crops], maps__isnull=False)
    stale.exclude(model_version=version).update(maps=None)
