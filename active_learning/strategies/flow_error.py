"""How badly the predicted masks agree with the predicted flows: Cellpose's flow error (the mean
squared difference between the flows the network predicted and the flows recomputed from each
mask; the same error Cellpose uses to drop bad masks), averaged over the crop's cells. The
per-mask errors come from the model backend (only it may import cellpose)."""

from __future__ import annotations

import numpy as np

from active_learning.strategies.base import Score, ScoringInput, Strategy

# Cellpose drops masks whose flow error is above its flow_threshold (0.4 by default), so the masks
# that remain lie in [0, 0.4]: a cell at the threshold is as doubtful as a kept cell can be.
FLOW_ERROR_SCALE = 0.4


class FlowErrorStrategy(Strategy):
    name = "flow_error"
    needs = frozenset({"flow_errors"})

    def score(self, item: ScoringInput) -> Score | None:
        if item.flow_errors is None:
            return None
        if not item.flow_errors:
            return Score(0.0, {"mean": 0.0, "max": 0.0, "n_cells": 0})
        values = np.array(list(item.flow_errors.values()), dtype=np.float64)
        details = {"mean": float(values.mean()), "max": float(values.max()), "n_cells": int(values.size)}
        cells = {int(cell): float(min(1.0, error / FLOW_ERROR_SCALE)) for cell, error in item.flow_errors.items()}
        return Score(details["mean"], details, cells)
