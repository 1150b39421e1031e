"""Array helpers the strategies share: cell-probability entropy and instance matching."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

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


def iou_matrix(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of every cell of `a` with every cell of `b` (rows: a's cell ids, columns: b's)."""
    ids_a, inv_a = np.unique(a, return_inverse=True)
    ids_b, inv_b = np.unique(b, return_inverse=True)
    pairs = inv_a.ravel().astype(np.int64) * len(ids_b) + inv_b.ravel()
    overlap = np.bincount(pairs, minlength=len(ids_a) * len(ids_b)).reshape(len(ids_a), len(ids_b))
    keep_a, keep_b = ids_a > 0, ids_b > 0
    area_a, area_b = overlap.sum(axis=1), overlap.sum(axis=0)
    inter = overlap[np.ix_(keep_a, keep_b)].astype(np.float64)
    union = area_a[keep_a, None] + area_b[None, keep_b] - inter
    return inter / np.maximum(union, 1), ids_a[keep_a], ids_b[keep_b]


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, dict[int, float]]:
    """How well two instance segmentations agree, in [0, 1]: the IoUs of one-to-one matched cells
    summed over the cells of either (|a| + |b| - matches); two empty masks agree fully. Also each
    cell of `a`'s best IoU with a cell of `b`."""
    iou, ids_a, _ = iou_matrix(a, b)
    if iou.size == 0:
        empty = len(ids_a) == 0 and iou.shape[1] == 0
        return (1.0 if empty else 0.0), {int(i): 0.0 for i in ids_a}
    rows, cols = linear_sum_assignment(iou, maximize=True)
    matched = iou[rows, cols]
    matched = matched[matched > 0]
    total = iou.shape[0] + iou.shape[1] - len(matched)
    best = iou.max(axis=1)
    return float(matched.sum() / total), {int(i): float(v) for i, v in zip(ids_a, best, strict=True)}
