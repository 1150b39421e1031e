"""Instance segmentation quality: average precision at IoU thresholds, as Cellpose and StarDist report it.

For one crop and one IoU threshold t, true and predicted cells are matched one-to-one so that
the number of pairs with IoU >= t is as large as possible (ties broken towards higher IoU), then

    AP(t) = TP / (TP + FP + FN)

with TP the matched pairs, FP the unmatched predicted cells and FN the unmatched true cells. This
is `cellpose.metrics.average_precision` (tests/test_evaluation.py cross-checks it), but in numpy
and scipy only, so evaluation does not depend on the model backend. Differences from Cellpose:
cell ids need not be consecutive (Cellpose counts cells as the largest id), and a crop with no
cells in either mask has AP None (Cellpose: NaN). The overall figure pools the counts of all crops
(sum TP / sum (TP + FP + FN)), so a crop weighs as much as the cells in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

THRESHOLDS: tuple[float, ...] = (0.5, 0.75, 0.9)


@dataclass(frozen=True)
class MatchCounts:
    """True positives, false positives and false negatives at each threshold."""

    thresholds: tuple[float, ...]
    tp: tuple[int, ...]
    fp: tuple[int, ...]
    fn: tuple[int, ...]
    n_true: int
    n_pred: int

    @property
    def ap(self) -> tuple[float | None, ...]:
        return tuple(_ap(tp, fp, fn) for tp, fp, fn in zip(self.tp, self.fp, self.fn, strict=True))

    def __add__(self, other: MatchCounts) -> MatchCounts:
        if self.thresholds != other.thresholds:
            raise ValueError("cannot pool counts taken at different thresholds")
        return MatchCounts(
            thresholds=self.thresholds,
            tp=tuple(a + b for a, b in zip(self.tp, other.tp, strict=True)),
            fp=tuple(a + b for a, b in zip(self.fp, other.fp, strict=True)),
            fn=tuple(a + b for a, b in zip(self.fn, other.fn, strict=True)),
            n_true=self.n_true + other.n_true,
            n_pred=self.n_pred + other.n_pred,
        )

    def to_dict(self) -> dict[str, Any]:
        """{"ap50": .., "ap75": .., "ap90": .., "n_true": .., "n_pred": .., "tp50": .., ...}"""
        data: dict[str, Any] = {"n_true": self.n_true, "n_pred": self.n_pred}
        for i, threshold in enumerate(self.thresholds):
            key = threshold_key(threshold)
            ap = self.ap[i]
            data[f"ap{key}"] = None if ap is None else round(ap, 6)
            data[f"tp{key}"], data[f"fp{key}"], data[f"fn{key}"] = self.tp[i], self.fp[i], self.fn[i]
        return data


def threshold_key(threshold: float) -> str:
    """0.5 -> "50", 0.75 -> "75": the suffix of "ap50", "ap75", "ap90"."""
    return f"{round(threshold * 100):d}"


def _ap(tp: int, fp: int, fn: int) -> float | None:
    total = tp + fp + fn
    return tp / total if total else None


def _as_labels(mask: np.ndarray, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 2-D integer label image, got {mask.dtype} {mask.shape}")
    return mask


def cell_ious(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of every true cell (rows) with every predicted cell (columns), with the rows' and the
    columns' cell ids (increasing; 0, the background, is not a cell)."""
    true, pred = _as_labels(true, "true mask"), _as_labels(pred, "predicted mask")
    if true.shape != pred.shape:
        raise ValueError(f"true mask {true.shape} and predicted mask {pred.shape} differ in shape")
    # Dense ids 0..n (0 = background) so the overlap table stays small whatever the ids are.
    true_ids, t = np.unique(true, return_inverse=True)
    pred_ids, p = np.unique(pred, return_inverse=True)
    t = t.ravel() + (0 if true_ids[0] == 0 else 1)
    p = p.ravel() + (0 if pred_ids[0] == 0 else 1)
    n_t, n_p = int(t.max()) + 1, int(p.max()) + 1
    overlap = np.bincount(t * n_p + p, minlength=n_t * n_p).reshape(n_t, n_p)
    area_t, area_p = overlap.sum(axis=1, keepdims=True), overlap.sum(axis=0, keepdims=True)
    union = area_t + area_p - overlap
    iou = np.divide(overlap, union, out=np.zeros(overlap.shape, float), where=union > 0)
    return iou[1:, 1:], true_ids[true_ids != 0], pred_ids[pred_ids != 0]


def iou_matrix(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU of every true cell (rows) with every predicted cell (columns), in increasing id order."""
    return cell_ious(true, pred)[0]


def matched_pairs(iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The (true, predicted) index pairs with IoU >= threshold under one-to-one matching that
    makes them as many as possible, ties broken towards higher IoU (Cellpose's and StarDist's rule)."""
    if iou.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    n_min = min(iou.shape)
    costs = -(iou >= threshold).astype(float) - iou / (2 * n_min)
    rows, cols = linear_sum_assignment(costs)
    keep = iou[rows, cols] >= threshold
    return rows[keep], cols[keep]


def _true_positives(iou: np.ndarray, threshold: float) -> int:
    return len(matched_pairs(iou, threshold)[0])


def match_counts(true: np.ndarray, pred: np.ndarray, thresholds: Sequence[float] = THRESHOLDS) -> MatchCounts:
    """Match one crop's predicted cells to its true cells at each IoU threshold."""
    iou = iou_matrix(true, pred)
    n_true, n_pred = iou.shape
    tp = tuple(_true_positives(iou, th) for th in thresholds)
    return MatchCounts(
        thresholds=tuple(thresholds),
        tp=tp,
        fp=tuple(n_pred - x for x in tp),
        fn=tuple(n_true - x for x in tp),
        n_true=n_true,
        n_pred=n_pred,
    )


@dataclass(frozen=True)
class Evaluation:
    per_crop: list[MatchCounts]
    overall: MatchCounts

    def to_dict(self) -> dict[str, Any]:
        """What a model version stores as its metrics: overall figures, then one entry per crop."""
        per_crop = [counts.to_dict() for counts in self.per_crop]
        return {**self.overall.to_dict(), "n_crops": len(self.per_crop), "per_crop": per_crop}


def evaluate(
    true_masks: Sequence[np.ndarray], pred_masks: Sequence[np.ndarray], thresholds: Sequence[float] = THRESHOLDS
) -> Evaluation:
    """AP per crop and overall (pooled counts) of predictions against labelled masks."""
    if len(true_masks) != len(pred_masks):
        raise ValueError(f"{len(true_masks)} true masks but {len(pred_masks)} predictions")
    per_crop = [match_counts(t, p, thresholds) for t, p in zip(true_masks, pred_masks, strict=True)]
    empty = MatchCounts(tuple(thresholds), (0,) * len(thresholds), (0,) * len(thresholds), (0,) * len(thresholds), 0, 0)
    overall = sum(per_crop, start=empty)
    return Evaluation(per_crop=per_crop, overall=overall)


def evaluate_masks(
    true_masks: Sequence[np.ndarray], pred_masks: Sequence[np.ndarray], thresholds: Sequence[float] = THRESHOLDS
) -> dict[str, Any]:
    """`evaluate(...).to_dict()`: {"ap50", "ap75", "ap90", "n_true", "n_pred", "n_crops", "per_crop": [...]}."""
    return evaluate(true_masks, pred_masks, thresholds).to_dict()


def errors_by_crop(metrics: dict[str, Any] | None) -> dict[int, float]:
    """Per crop id, the false positives + false negatives at IoU 0.5 of a stored evaluation (a
    model version's metrics, whose per-crop entries active_learning.validation tags with "crop")."""
    key = threshold_key(0.5)
    return {int(entry["crop"]): float(entry.get(f"fp{key}", 0) + entry.get(f"fn{key}", 0))
            for entry in (metrics or {}).get("per_crop", []) if "crop" in entry}
