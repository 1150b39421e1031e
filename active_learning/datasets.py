"""The crops a job works on, as arrays: labelled examples for training and validation, and
the crops still waiting for a label, for prediction and ranking."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from django.db.models import QuerySet

from annotations.imaging import read_crop_pixels
from annotations.masks import decode_png
from annotations.models import Annotation, Crop, CropStatus, Project, ReviewState, TrainingUses


@dataclass(frozen=True)
class LabelledCrop:
    crop: Crop
    annotation: Annotation
    image: np.ndarray  # (H, W, C) as stored
    mask: np.ndarray  # uint16 (H, W)


# The review states training reads under each Project.training_uses. A returned annotation is
# one a reviewer sent back as wrong, so it is never trained on.
TRAINED_STATES: dict[str, tuple[str, ...]] = {
    TrainingUses.ALL: (ReviewState.SUBMITTED, ReviewState.ACCEPTED, ReviewState.CORRECTED),
    TrainingUses.REVIEWED: (ReviewState.ACCEPTED, ReviewState.CORRECTED),
}


def current_annotations(project: Project, split: str) -> QuerySet[Annotation]:
    """The current annotations of one split that the project's `training_uses` lets training and
    validation read."""
    states = TRAINED_STATES[project.training_uses]
    return (
        Annotation.objects.filter(crop__project=project, crop__split=split, is_current=True, review_state__in=states)
        .select_related("crop", "crop__image")
        .order_by("crop_id")
    )


def labelled_examples(annotations: Iterable[Annotation]) -> list[LabelledCrop]:
    """Annotations (with their crops and images selected) as pixels and masks."""
    return [
        LabelledCrop(crop=a.crop, annotation=a, image=read_crop_pixels(a.crop), mask=decode_png(a.mask_png))
        for a in annotations
    ]


def labelled_crops(project: Project, split: str) -> list[LabelledCrop]:
    return labelled_examples(current_annotations(project, split))


def unlabelled_crops(project: Project) -> QuerySet[Crop]:
    """Crops that may still be served for labelling: everything not labelled yet."""
    return (
        Crop.objects.filter(project=project)
        .exclude(status=CropStatus.LABELLED)
        .select_related("image")
        .order_by("image_id", "id")
    )


def batched(crops: QuerySet[Crop], size: int) -> Iterator[list[Crop]]:
    batch: list[Crop] = []
    for crop in crops.iterator(chunk_size=500):
        batch.append(crop)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
