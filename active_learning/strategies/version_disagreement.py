"""Disagreement between the active and the previous model version on a crop: 1 - the matched
agreement of their instance masks. Crops where retraining changed the answer are where the
model is still moving. Reads the previous version's stored prediction; costs no inference."""

from __future__ import annotations

from active_learning.strategies.base import Score, ScoringInput, Strategy
from active_learning.strategies.maps import agreement


class VersionDisagreementStrategy(Strategy):
    name = "version_disagreement"
    needs = frozenset({"previous_masks"})

    def score(self, item: ScoringInput) -> Score | None:
        if item.previous_masks is None:
            return None
        value, best = agreement(item.prediction.masks, item.previous_masks)
        cells = {cell: 1.0 - iou for cell, iou in best.items()}
        return Score(1.0 - value, {"agreement": value}, cells)
