"""Disagreement under test-time flips: the crop is predicted again flipped, the result is flipped
back, and the score is 1 - the matched agreement of the instance masks (0 = the same cells
whichever way up, 1 = none in common). Costs one extra prediction per flip."""

from __future__ import annotations

import numpy as np

from active_learning.outputs import CropPrediction
from active_learning.strategies.base import Score, ScoringInput, Strategy
from active_learning.strategies.maps import agreement, probability

# Flips applied to the crop image, as (axis of a (H, W, ...) array). Horizontal first.
FLIP_AXES: tuple[int, ...] = (1,)


def flip_image(image: np.ndarray, axis: int) -> np.ndarray:
    return np.ascontiguousarray(np.flip(image, axis=axis))


def unflip(prediction: CropPrediction, axis: int) -> CropPrediction:
    """Map a prediction of the flipped crop back onto the crop: flip every map, and negate the
    flow component along the flipped axis (flows are (dY, dX))."""
    flows = np.flip(prediction.flows, axis=axis + 1).copy()
    flows[axis] *= -1
    return CropPrediction(
        masks=np.ascontiguousarray(np.flip(prediction.masks, axis=axis)),
        cellprob=np.ascontiguousarray(np.flip(prediction.cellprob, axis=axis)),
        flows=flows,
        style=prediction.style,
    )


class TTAStrategy(Strategy):
    name = "tta"
    needs = frozenset({"augmented"})

    def score(self, item: ScoringInput) -> Score | None:
        if not item.augmented:
            return None
        base = item.prediction
        agreements, best_ious, prob_diffs = [], [], []
        for other in item.augmented:
            value, best = agreement(base.masks, other.masks)
            agreements.append(value)
            best_ious.append(best)
            prob_diffs.append(float(np.abs(probability(base.cellprob) - probability(other.cellprob)).mean()))
        cells = {cell: 1.0 - float(np.mean([b[cell] for b in best_ious])) for cell in best_ious[0]}
        details = {"agreement": float(np.mean(agreements)), "prob_diff": float(np.mean(prob_diffs))}
        return Score(1.0 - details["agreement"], details, cells)
