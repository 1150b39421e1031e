"""Uncertainty of the cell-probability map: the mean binary entropy of sigmoid(cellprob).

Cellpose calls a pixel "cell" where the logit is above the threshold; pixels whose probability
sits near 0.5 are the ones it could call either way (1 ms per 256² crop)."""

from __future__ import annotations

from active_learning.strategies.base import Score, ScoringInput, Strategy
from active_learning.strategies.maps import binary_entropy, per_cell_mean, probability


class CellprobStrategy(Strategy):
    name = "cellprob"

    def score(self, item: ScoringInput) -> Score:
        cellprob = item.prediction.cellprob
        entropy = binary_entropy(cellprob)
        p = probability(cellprob)
        details = {
            "entropy": float(entropy.mean()),
            "ambiguous_fraction": float(((p > 0.25) & (p < 0.75)).mean()),
            "foreground_fraction": float((p > 0.5).mean()),
        }
        cells = per_cell_mean(entropy, item.cells_with_ring)
        return Score(details["entropy"], details, cells)
