"""Average precision at IoU thresholds: hand-built cases, then Cellpose's own metric on real masks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from active_learning.evaluation import cell_ious, evaluate, evaluate_masks, iou_matrix, match_counts
from tests.conftest import DATA


def square(shape: tuple[int, int], top: int, left: int, side: int, label: int = 1, into: np.ndarray | None = None):
    mask = np.zeros(shape, np.uint16) if into is None else into
    mask[top : top + side, left : left + side] = label
    return mask


def test_it_scores_identical_masks_as_perfect():
    mask = square((64, 64), 5, 5, 10)
    square((64, 64), 30, 30, 12, label=2, into=mask)

    counts = match_counts(mask, mask.copy())

    assert counts.ap == (1.0, 1.0, 1.0)
    assert (counts.n_true, counts.n_pred) == (2, 2)


def test_it_measures_iou_exactly():
    true = square((40, 40), 10, 10, 10)
    pred = square((40, 40), 10, 12, 10)  # 8x10 overlap, union 120: IoU 2/3

    assert iou_matrix(true, pred) == pytest.approx(np.array([[80 / 120]]))
    counts = match_counts(true, pred)
    assert counts.tp == (1, 0, 0)
    assert counts.fp == (0, 1, 1)
    assert counts.fn == (0, 1, 1)
    assert counts.ap == (1.0, 0.0, 0.0)


def test_it_counts_a_split_cell_as_one_match_and_one_false_positive():
    true = np.zeros((20, 20), np.uint16)
    true[:, :10] = 1
    pred = np.zeros_like(true)
    pred[:, :5], pred[:, 5:10] = 1, 2  # each half has IoU exactly 0.5 with the cell

    counts = match_counts(true, pred, thresholds=(0.5,))

    assert (counts.tp, counts.fp, counts.fn) == ((1,), (1,), (0,))
    assert counts.ap == (0.5,)


def test_it_matches_optimally_not_greedily():
    # True cells A (columns 0-9) and B (10-19); predictions P (3-15) and Q (0-2). A's best match
    # is P, which is also B's only match. Greedy matching by IoU takes A-P and leaves B alone;
    # the optimal one-to-one matching takes A-Q and B-P: two matches at IoU >= 0.29.
    true = np.zeros((10, 20), np.uint16)
    true[:, 0:10], true[:, 10:20] = 1, 2
    pred = np.zeros_like(true)
    pred[:, 3:16], pred[:, 0:3] = 1, 2
    iou = iou_matrix(true, pred)
    assert iou[0, 0] > iou[0, 1] >= 0.29 and iou[1, 0] >= 0.29 and iou[1, 1] == 0

    assert match_counts(true, pred, thresholds=(0.29,)).tp == (2,)


def test_it_ignores_how_cells_are_numbered():
    true = square((50, 50), 2, 2, 8, label=7)
    square((50, 50), 20, 20, 8, label=300, into=true)
    pred = square((50, 50), 2, 3, 8, label=1)
    square((50, 50), 20, 20, 8, label=2, into=pred)

    renumbered = np.where(true == 7, 1, np.where(true == 300, 2, 0)).astype(np.uint16)

    assert match_counts(true, pred) == match_counts(renumbered, pred)
    iou, true_ids, pred_ids = cell_ious(true, pred)
    assert true_ids.tolist() == [7, 300] and pred_ids.tolist() == [1, 2]
    assert iou[1, 1] == 1.0 and iou[1, 0] == iou[0, 1] == 0.0 and 0.7 < iou[0, 0] < 1.0


def test_it_handles_empty_masks():
    empty = np.zeros((16, 16), np.uint16)
    cell = square((16, 16), 2, 2, 6)

    assert match_counts(empty, empty).ap == (None, None, None)
    missed = match_counts(cell, empty)
    assert missed.ap == (0.0, 0.0, 0.0) and missed.fn == (1, 1, 1)
    invented = match_counts(empty, cell)
    assert invented.ap == (0.0, 0.0, 0.0) and invented.fp == (1, 1, 1)


def test_it_pools_counts_over_crops():
    good = square((30, 30), 5, 5, 10)
    bad_pred = square((30, 30), 5, 8, 10)  # IoU 70/130 ~ 0.54

    result = evaluate([good, good, good], [good, bad_pred, np.zeros_like(good)])

    assert [c.tp for c in result.per_crop] == [(1, 1, 1), (1, 0, 0), (0, 0, 0)]
    assert result.overall.tp == (2, 1, 1)
    assert result.overall.ap[0] == pytest.approx(2 / 3)  # 2 TP, 0 FP, 1 FN
    assert result.overall.ap[1] == pytest.approx(1 / 4)  # 1 TP, 1 FP, 2 FN
    assert result.overall.n_true == 3


def test_it_reports_what_a_model_version_stores():
    mask = square((30, 30), 5, 5, 10)

    report = evaluate_masks([mask], [mask])

    assert report["ap50"] == report["ap75"] == report["ap90"] == 1.0
    assert report["n_crops"] == 1 and report["n_true"] == 1
    assert report["per_crop"][0]["ap50"] == 1.0


def test_it_refuses_masks_that_do_not_fit():
    with pytest.raises(ValueError, match="differ in shape"):
        match_counts(np.zeros((4, 4), np.uint16), np.zeros((4, 5), np.uint16))
    with pytest.raises(ValueError, match="2 true masks but 1 predictions"):
        evaluate([np.zeros((4, 4), np.uint16)] * 2, [np.zeros((4, 4), np.uint16)])
    with pytest.raises(ValueError, match="integer label image"):
        match_counts(np.zeros((4, 4), float), np.zeros((4, 4), np.uint16))


# --- against Cellpose's implementation --------------------------------------------------------------


def _real_masks(n: int) -> list[np.ndarray]:
    paths = sorted((DATA / "dsb2018_u2os" / "masks").glob("*.png"))[:n]
    return [np.array(Image.open(p))[:256, :256].astype(np.int32) for p in paths]


def _damaged(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible wrong segmentation: cells shifted, some dropped, some merged, a false one added."""
    out = np.roll(mask, shift=(int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
    ids = np.unique(out)[1:]
    out[np.isin(out, rng.choice(ids, size=len(ids) // 5, replace=False))] = 0
    if len(ids) > 4:
        out[out == ids[1]] = ids[0]
    out[:12, -12:] = out.max() + 1
    return _consecutive(out)


def _consecutive(mask: np.ndarray) -> np.ndarray:
    """Ids 1..n, as Cellpose assumes (it counts cells as the largest id)."""
    return np.unique(mask, return_inverse=True)[1].reshape(mask.shape).astype(np.int32)


@pytest.mark.slow
def test_it_agrees_with_cellpose_average_precision_on_real_masks():
    from cellpose import metrics  # a cross-check only: product code never imports cellpose here

    rng = np.random.default_rng(0)
    true = [_consecutive(m) for m in _real_masks(6)]
    pred = [_damaged(m, rng) for m in true]

    ap, tp, fp, fn = metrics.average_precision(true, pred, threshold=[0.5, 0.75, 0.9])
    ours = evaluate(true, pred)

    for i, counts in enumerate(ours.per_crop):
        assert counts.tp == tuple(int(x) for x in tp[i])
        assert counts.fp == tuple(int(x) for x in fp[i])
        assert counts.fn == tuple(int(x) for x in fn[i])
        assert counts.ap == pytest.approx(tuple(float(x) for x in ap[i]))
    assert sum(c.n_true for c in ours.per_crop) > 100
