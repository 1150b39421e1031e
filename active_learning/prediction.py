"""A prediction job: the active version predicts every crop still waiting for a label, in
batches, and stores each crop's instance mask. Crops it already predicted are skipped, so a
job that runs twice, or resumes after a failure, repeats no work."""

from __future__ import annotations

from collections.abc import Sequence

from active_learning.backends import load_backend
from active_learning.backends.base import CropPrediction
from active_learning.datasets import batched, unlabelled_crops
from active_learning.jobs import JobContext, JobFailed
from active_learning.models import Job, ModelVersion, Prediction
from active_learning.versions import active_version
from annotations.imaging import read_crop_pixels
from annotations.masks import count_cells, encode_png
from annotations.models import Crop

DEFAULT_BATCH_SIZE = 8


def run_prediction_job(job: Job, context: JobContext) -> None:
    version = job.model_version or active_version(job.project)
    if version is None:
        raise JobFailed("there is no active model version to predict with: train one first")
    pending = unlabelled_crops(job.project).exclude(predictions__model_version=version)
    total = pending.count()
    context.log(f"predicting {total} crops with version {version.number}")
    backend = load_backend(job.project, version)
    done = 0
    for batch in batched(pending, int(job.params.get("batch_size", DEFAULT_BATCH_SIZE))):
        context.check_cancelled()
        outputs = backend.predict([read_crop_pixels(crop) for crop in batch])
        store_predictions(version, batch, outputs)
        done += len(batch)
        context.progress(stage="predicting", done=done, total=total)
    context.log(f"stored {done} predictions")


def store_predictions(version: ModelVersion, crops: Sequence[Crop], outputs: Sequence[CropPrediction]) -> None:
    Prediction.objects.bulk_create(
        [
            Prediction(
                crop=crop, model_version=version, mask_png=encode_png(output.masks), n_cells=count_cells(output.masks)
            )
            for crop, output in zip(crops, outputs, strict=True)
        ],
        ignore_conflicts=True,
    )
