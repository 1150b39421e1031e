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
from scipy.stats import rankdata, spearmanr

from active_learning.strategies.base import Calibration, Score, ScoringInput, Strategy

# How far a signal's measured agreement with the errors moves its weight: its rank correlation
# on the validation crops, shrunk towards PRIOR_RHO as if PRIOR_CROPS more crops had shown that.
PRIOR_RHO = 0.3
PRIOR_CROPS = 10


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


def signal_agreement(scores: np.ndarray, errors: np.ndarray) -> tuple[float, int]:
    """Spearman's rho of a signal with the errors over the crops that have both (0 when either
    is constant there), and how many crops that was."""
    have = ~np.isnan(scores) & ~np.isnan(errors)
    n = int(have.sum())
    if n < 3 or np.ptp(scores[have]) == 0 or np.ptp(errors[have]) == 0:
        return 0.0, n
    return float(spearmanr(scores[have], errors[have]).statistic), n


def fitted_weights(prior: Mapping[str, float], calibration: Calibration) -> dict[str, float]:
    """Each component's prior weight times its agreement with the errors the ranking version
    made on crops whose truth is known, shrunk towards PRIOR_RHO (a signal with no such crops
    keeps its prior share) and floored at 0: a signal that ranks crops against their errors on
    this project stops counting. If none agrees, the prior weights."""
    weights = {}
    for name, w in prior.items():
        scores = calibration.columns.get(name, np.full(len(calibration.errors), np.nan))
        rho, n = signal_agreement(scores, calibration.errors)
        weights[name] = w * max(0.0, (n * rho + PRIOR_CROPS * PRIOR_RHO) / (n + PRIOR_CROPS))
    return weights if any(w > 0 for w in weights.values()) else dict(prior)


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

    def utility(self, crop_ids: np.ndarray, columns: Mapping[str, np.ndarray], seed: int,
                calibration: Calibration | None = None) -> np.ndarray:
        return weighted_mix(columns, self.mix_weights(calibration), len(crop_ids))


class FittedCombinedStrategy(CombinedStrategy):
    """The default's signals, each weighed by how well it ranked the serving version's own
    errors on the labelled validation crops (`fitted_weights`): a signal that points at this
    project's mistakes counts more, one that points away stops counting. Which signals see the
    errors differs between datasets (docs/benchmarks.md, Run 13)."""

    name = "combined_fitted"
    calibrates = True

    def mix_weights(self, calibration: Calibration | None) -> Mapping[str, float]:
        return self.weights if calibration is None else fitted_weights(self.weights, calibration)


class CombinedTTAStrategy(CombinedStrategy):
    """The default plus flip disagreement: one extra prediction per crop."""

    name = "combined_tta"
    weights = {"cellprob": 1.0, "flow_error": 1.0, "missed_cells": 1.0, "tta": 1.0, "version_disagreement": 0.5}
