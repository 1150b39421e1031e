"""How much of the crop is, or may be, cell: the fraction of its pixels whose cell probability is
above MAYBE_CELL. Not a doubt but an amount: the combined default multiplies its doubt by it, so
that a crop ranks by how many cells the model may have wrong on it (doubt per cell times cells),
not by how unsure it is per pixel of a crop that holds two cells.

Pixels the model calls cell (p > 0.5) and those it nearly calls cell both count, so a crop whose
cells the model merges or only half sees is not taken for an empty one (1 ms per 256² crop)."""

from __future__ import annotations

from active_learning.strategies.base import Score, ScoringInput, Strategy
from active_learning.strategies.maps import probability

MAYBE_CELL = 0.25


class CellAreaStrategy(Strategy):
    name = "cell_area"

    def score(self, item: ScoringInput) -> Score:
        area = float((probability(item.prediction.cellprob) > MAYBE_CELL).mean())
        return Score(area, {"fraction": area})
