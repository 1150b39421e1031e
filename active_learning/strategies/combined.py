"""The default: a weighted mix of uncertainty scores, each first normalised to its percentile
rank over the pool (so entropy in bits, flow errors, region counts and disagreements weigh alike
whatever their scale). A crop missing a component (no previous version yet, no flip prediction)
is ranked on the components it has. Diversity and the random control group are added by the
queue ranking.

The doubt signals (entropy, flow error, disagreements) read where the model hesitates;
`missed_cells` reads the cells it leaves out with confidence, which they cannot see
(docs/benchmarks.md, Run 12)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import rankdata

from active_learning.strategies.base import Score, ScoringInput, Strategy


def percentile_rank(values: np.ndarray) -> np.ndarray:
    """Each positive value's rank over the non-NaN values, in (0, 1] (ties share their mean
    rank); a score of exactly 0 (a blank crop, or nothing to doubt) stays 0, whatever the pool."""
    out = np.full(values.shape, np.nan)
    valid = ~np.isnan(values)
    if valid.any():
        out[valid] = rankdata(values[valid], method="average") / valid.sum()
    out[values == 0] = 0.0
    return out


def weighted_mix(columns: Mapping[str, np.ndarray], weights: Mapping[str, float], n: int) -> np.ndarray:
    """Per crop, the weighted mean of the percentile ranks of the components it has (NaN: none)."""
    total, weight = np.zeros(n), np.zeros(n)
    for name, w in weights.items():
        ranks = percentile_rank(columns.get(name, np.full(n, np.nan)))
        have = ~np.isnan(ranks)
        total[have] += w * ranks[have]
        weight[have] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


class CombinedStrategy(Strategy):
    name = "combined"
    # Cell-probability entropy, flow error and missed cells cost nothing beyond the prediction
    # itself; version disagreement reads a stored prediction. See docs/benchmarks.md for how they pay.
    weights: Mapping[str, float] = {"cellprob": 1.0, "flow_error": 1.0, "missed_cells": 1.0,
                                    "version_disagreement": 0.5}

    def score(self, item: ScoringInput) -> Score | None:
        return None  # pool-normalised: only `utility` means anything

    def components(self) -> Mapping[str, float]:
        return dict(self.weights)

    def utility(self, crop_ids: np.ndarray, columns: Mapping[str, np.ndarray], seed: int) -> np.ndarray:
        return weighted_mix(columns, self.weights, len(crop_ids))


class CombinedTTAStrategy(CombinedStrategy):
    """The default plus flip disagreement: one extra prediction per crop."""

    name = "combined_tta"
    weights = {"cellprob": 1.0, "flow_error": 1.0, "missed_cells": 1.0, "tta": 1.0, "version_disagreement": 0.5}
