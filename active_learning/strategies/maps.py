"""Array helpers the strategies share: cell-probability entropy and how well two segmentations agree."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from active_learning.evaluation import cell_ious

LN2 = float(np.log(2.0))


def probability(cellprob: np.ndarray) -> np.ndarray:
    """sigmoid(logits), clipped away from 0 and 1 so logs stay finite."""
    p = 1.0 / (1.0 + np.exp(-np.clip(cellprob.astype(np.float32), -30, 30)))
    return np.clip(p, 1e-6, 1 - 1e-6)


def binary_entropy(cellprob: np.ndarray) -> np.ndarray:
    """Per-pixel entropy of the cell/background call, in bits (0 = sure, 1 = a coin toss)."""
    p = probability(cellprob)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p)) / LN2


def per_cell_mean(values: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """Mean of `values` over each labelled cell."""
    flat = labels.ravel().astype(np.int64)
    sums = np.bincount(flat, weights=values.ravel(), minlength=1)
    counts = np.bincount(flat, minlength=1)
    return {int(i): float(sums[i] / counts[i]) for i in np.flatnonzero(counts) if i > 0}


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, dict[int, float]]:
    """How well two instance segmentations agree, in [0, 1]: the IoUs of one-to-one matched cells
    summed over the cells of either (|a| + |b| - matches); two empty masks agree fully. Also each
    cell of `a`'s best IoU with a cell of `b`."""
    iou, ids_a, _ = cell_ious(a, b)
    if iou.size == 0:
        empty = len(ids_a) == 0 and iou.shape[1] == 0
        return (1.0 if empty else 0.0), {int(i): 0.0 for i in ids_a}
    rows, cols = linear_sum_assignment(iou, maximize=True)
    matched = iou[rows, cols]
    matched = matched[matched > 0]
    total = iou.shape[0] + iou.shape[1] - len(matched)
    best = iou.max(axis=1)
    return float(matched.sum() / total), {int(i): float(v) for i, v in zip(ids_a, best, strict=True)}
