"""Submitting an annotation: the label image a labeller or script sends, saved as the crop's new
current version (earlier versions are kept). Needs the sender's live lease."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotations import double_labelling
from annotations.imaging import read_label_image
from annotations.leases import end_lease
from annotations.masks import MaskError, as_label_image, count_cells, decode_rle, encode_png
from annotations.models import Annotation, BlindLabel, Crop, CropStatus
from annotations.reviews import submission_review
from annotations.signals import annotation_submitted
from labelserver.errors import DomainError


def submitted_mask(crop: Crop, *, rle: Any = None, file: Any = None) -> np.ndarray:
    """The label image of a submission: RLE JSON (the editor) or a label-image file (scripts)."""
    shape = (crop.height, crop.width)
    if (rle is None) == (file is None):
        raise MaskError("send the mask either as RLE JSON in `mask` or as a label image in `mask_file`")
    mask = decode_rle(rle, shape) if file is None else read_label_image(file, shape, name="mask_file",
                                                                       shape_of="the crop")
    return as_label_image(mask, shape)


def _model_version_id(project_id: int, version_id: int | None) -> int | None:
    if version_id is None:
        return None
    # ModelVersion is the learning side's row, reached through the foreign key so that labelling
    # does not import learning.
    versions = Annotation._meta.get_field("started_from").related_model._default_manager
    if not versions.filter(pk=version_id, project_id=project_id).exists():
        raise DomainError(f"started_from: model version {version_id} is not a model of this project")
    return version_id


def _add_version(crop: Crop, **fields: Any) -> Annotation:
    latest = Annotation.objects.filter(crop=crop).aggregate(v=Max("version"))["v"] or 0
    Annotation.objects.filter(crop=crop, is_current=True).update(is_current=False)
    return Annotation.objects.create(crop=crop, version=latest + 1, is_current=True, **fields)


def submit_annotation(
    *,
    crop: Crop,
    user: AbstractBaseUser,
    mask: np.ndarray,
    seconds_spent: float = 0.0,
    edit_counts: dict[str, int] | None = None,
    started_from_id: int | None = None,
    source: str = "editor",
) -> Annotation | BlindLabel:
    """Save a labeller's mask as the crop's new current annotation version and end their lease.
    Needs a live lease; the earlier versions are kept. A reviewer replacing someone else's
    annotation records a correction (annotations.reviews.submission_review). On a crop that waits
    for a second, blind label, a submission by someone who never annotated it is that label
    (annotations.double_labelling)."""
    mask = as_label_image(mask, (crop.height, crop.width))
    if double_labelling.is_blind_for(crop, user):
        return double_labelling.submit_blind_label(
            crop=crop, user=user, mask=mask, seconds_spent=seconds_spent, edit_counts=edit_counts
        )
    started_from_id = _model_version_id(crop.project_id, started_from_id)
    png, n_cells = encode_png(mask), count_cells(mask)
    with transaction.atomic():
        end_lease(crop, user, timezone.now(), status=CropStatus.LABELLED)
        annotation = _add_version(
            crop, author=user, mask_png=png, n_cells=n_cells, source=source, started_from_id=started_from_id,
            seconds_spent=seconds_spent, edit_counts=edit_counts or {}, queue_reason=crop.queue_reason,
            **submission_review(crop, user),
        )
        double_labelling.sample_first_label(crop, annotation)
        # Robust: the annotation is saved by then, so a failing listener is logged, not answered as an error.
        transaction.on_commit(lambda: annotation_submitted.send(
            sender=Annotation, project_id=crop.project_id, annotation_id=annotation.pk
        ), robust=True)
    return annotation
