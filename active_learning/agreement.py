"""Agreement: how closely two masks of the same crop agree, measured the way the field compares
instance masks, and the project's and each labeller's agreement from real pairs.

Two masks are matched one-to-one at IoU >= t (evaluation.matched_pairs, AP's rule). With TP the
matched cells and n_a, n_b the cells in each mask:

    F1(t) = 2 TP / (n_a + n_b)        AP(t) = TP / (n_a + n_b - TP)

at t = 0.5 and 0.75, and the mean IoU of the cells matched at 0.5. Both are symmetric, so it
does not matter which mask is called the truth. Pooled over many pairs the counts are summed
first (as evaluation pools AP over crops), so a crop weighs as much as the cells in it.

The pairs:
* labeller with labeller: a crop's annotation and its blind second label
  (annotations.double_labelling); each labeller of the pair is credited with it;
* labeller with reviewer: an annotation a reviewer corrected, with the version it replaced
  (credited to that version's author).

Each pair's counts are computed once per process (the masks of a stored annotation or blind label
never change) and at most the newest MAX_PAIRS of each kind are read, so a page that shows them
costs a few milliseconds per new pair.

The review queue's "most changed" order needs, per annotation, how many cells differ from the
prediction the labeller started from: `record_prediction_difference`, run when an annotation is
submitted (active_learning.receivers).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from active_learning.evaluation import cell_ious, matched_pairs
from active_learning.models import Prediction
from annotations.masks import decode_png
from annotations.models import Annotation, BlindLabel, Project, ReviewState

THRESHOLDS: tuple[float, float] = (0.5, 0.75)
MAX_PAIRS = 2000


@dataclass(frozen=True)
class PairCounts:
    """Matching counts of one or more pairs of masks (summed over pairs)."""

    n_pairs: int = 0
    n_a: int = 0
    n_b: int = 0
    tp50: int = 0
    tp75: int = 0
    iou_sum: float = 0.0  # over the cells matched at 0.5

    def __add__(self, other: PairCounts) -> PairCounts:
        return PairCounts(
            self.n_pairs + other.n_pairs, self.n_a + other.n_a, self.n_b + other.n_b,
            self.tp50 + other.tp50, self.tp75 + other.tp75, self.iou_sum + other.iou_sum,
        )

    def summary(self) -> dict[str, Any]:
        """{"pairs", "cells", "f1_50", "f1_75", "ap50", "ap75", "mean_iou"}; the figures are None
        when no pair has a cell."""
        cells = self.n_a + self.n_b

        def ratio(num: float, den: float) -> float | None:
            return round(num / den, 4) if den else None

        return {
            "pairs": self.n_pairs,
            "cells": cells,
            "f1_50": ratio(2 * self.tp50, cells),
            "f1_75": ratio(2 * self.tp75, cells),
            "ap50": ratio(self.tp50, cells - self.tp50),
            "ap75": ratio(self.tp75, cells - self.tp75),
            "mean_iou": ratio(self.iou_sum, self.tp50),
        }


def pair_counts(a: np.ndarray, b: np.ndarray) -> PairCounts:
    """Match two label images of one crop."""
    iou = cell_ious(a, b)[0]
    rows, cols = matched_pairs(iou, THRESHOLDS[0])
    tp75 = len(matched_pairs(iou, THRESHOLDS[1])[0])
    return PairCounts(1, iou.shape[0], iou.shape[1], len(rows), tp75, float(iou[rows, cols].sum()))


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """F1 and AP at IoU 0.5 and 0.75 and mean matched IoU of two masks of one crop."""
    return pair_counts(a, b).summary()


def pooled(counts: Iterable[PairCounts]) -> dict[str, Any]:
    return sum(counts, start=PairCounts()).summary()


# --- The project's pairs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """Two masks of one crop by two people; `first` is the labeller whose work is measured."""

    kind: str  # "labellers" or "reviewers"
    first: str | None
    second: str | None
    counts: PairCounts


# Keyed by row id and creation time: a row's masks never change, and the time tells a row from
# another that reuses its id (as a test database does after a rollback).
@lru_cache(maxsize=4 * MAX_PAIRS)
def _blind_counts(blind_label_id: int, created_at: datetime) -> PairCounts:
    blind = BlindLabel.objects.select_related("paired_with").only("mask_png", "paired_with__mask_png").get(
        pk=blind_label_id)
    return pair_counts(decode_png(bytes(blind.paired_with.mask_png)), decode_png(bytes(blind.mask_png)))


@lru_cache(maxsize=4 * MAX_PAIRS)
def _correction_counts(corrected_id: int, replaced_id: int, created_at: datetime) -> PairCounts:
    masks = dict(Annotation.objects.filter(pk__in=[corrected_id, replaced_id]).values_list("pk", "mask_png"))
    return pair_counts(decode_png(bytes(masks[replaced_id])), decode_png(bytes(masks[corrected_id])))


def blind_pairs(project: Project) -> list[Pair]:
    rows = (BlindLabel.objects.filter(crop__project=project).order_by("-id")
            .values_list("id", "created_at", "paired_with__author__username", "author__username")[:MAX_PAIRS])
    return [Pair("labellers", first, second, _blind_counts(pk, created)) for pk, created, first, second in rows]


def correction_pairs(project: Project) -> list[Pair]:
    """Each reviewer's correction with the version just before it, by its labeller."""
    corrections = list(
        Annotation.objects.filter(crop__project=project, review_state=ReviewState.CORRECTED, version__gt=1)
        .order_by("-id").values_list("id", "created_at", "crop_id", "version", "author__username")[:MAX_PAIRS]
    )
    replaced = {
        (crop_id, version): (pk, author)
        for pk, crop_id, version, author in Annotation.objects.filter(
            crop_id__in={crop_id for _, _, crop_id, _, _ in corrections}
        ).values_list("id", "crop_id", "version", "author__username")
    }
    pairs = []
    for pk, created, crop_id, version, reviewer in corrections:
        before = replaced.get((crop_id, version - 1))
        if before is not None:
            pairs.append(Pair("reviewers", before[1], reviewer, _correction_counts(pk, before[0], created)))
    return pairs


def project_agreement(project: Project) -> dict[str, dict[str, Any]]:
    """{"labellers": pooled over blind pairs, "reviewers": pooled over corrections}."""
    return {"labellers": pooled(p.counts for p in blind_pairs(project)),
            "reviewers": pooled(p.counts for p in correction_pairs(project))}


def labeller_agreement(project: Project) -> dict[str, dict[str, dict[str, Any]]]:
    """Per username: {"labellers": their blind pairs pooled (either side), "reviewers": the
    corrections of their annotations pooled}."""
    with_labellers: dict[str, list[PairCounts]] = defaultdict(list)
    for pair in blind_pairs(project):
        for name in {pair.first, pair.second} - {None}:
            with_labellers[str(name)].append(pair.counts)
    with_reviewers: dict[str, list[PairCounts]] = defaultdict(list)
    for pair in correction_pairs(project):
        if pair.first is not None:
            with_reviewers[pair.first].append(pair.counts)
    return {name: {"labellers": pooled(with_labellers.get(name, [])), "reviewers": pooled(with_reviewers.get(name, []))}
            for name in set(with_labellers) | set(with_reviewers)}


# --- How much a submission changed the prediction ---------------------------------------------


def record_prediction_difference(annotation_id: int) -> int | None:
    """Store on the annotation how many cells differ from the prediction it started from (the
    model version it names, else the crop's newest prediction): cells of either mask unmatched
    at IoU 0.75. None when the crop has no prediction."""
    annotation = Annotation.objects.only("crop_id", "started_from_id", "mask_png").get(pk=annotation_id)
    predictions = Prediction.objects.filter(crop_id=annotation.crop_id).only("mask_png")
    if annotation.started_from_id is not None:
        predictions = predictions.filter(model_version_id=annotation.started_from_id)
    prediction = predictions.order_by("-model_version__number").first()
    if prediction is None:
        return None
    counts = pair_counts(decode_png(bytes(prediction.mask_png)), decode_png(bytes(annotation.mask_png)))
    difference = counts.n_a + counts.n_b - 2 * counts.tp75
    Annotation.objects.filter(pk=annotation_id).update(prediction_difference=difference)
    return difference
