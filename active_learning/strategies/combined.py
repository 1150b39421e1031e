"""Weighted mixes of uncertainty scores, each first normalised to its percentile
rank over the pool (so entropy in bits, flow errors, region counts and disagreements weigh alike
whatever their scale). A crop missing a component (no previous version yet, no flip prediction)
is ranked on the components it has. Diversity and the random control group are added by the
queue ranking. `combined` mixes with fixed weights; the default, `combined_fitted`, weighs them
by what each signal saw on the labelled validation crops
(docs/decisions/0004-combined-fitted-default.md).

The doubt signals (entropy, flow error, disagreements) read where the model hesitates;
`missed_cells` reads the cells it leaves out with confidence, which they cannot see
(docs/decisions/0005-missed-cells-signal.md)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import rankdata, spearmanr

from active_learning.strategies.base import Calibration, Score, ScoringInput, Strategy

# The sampling variance of a Spearman correlation on n crops, in Fisher's z: SPEARMAN_Z_VARIANCE / (n - 3)
# (Fieller, Hartley and Pearson, 1957). A signal needs MIN_AGREEMENT_CROPS crops to be measured.
SPEARMAN_Z_VARIANCE = 1.06
MIN_AGREEMENT_CROPS = 4


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
    """Each component's prior weight times how well it ranked the errors the ranking version
    made on crops whose truth is known, floored at 0: a signal that ranks crops against their
    errors on this project stops counting.

    The signals' agreements are shrunk towards their common level by the share of their spread
    that sampling noise explains (empirical Bayes, in Fisher's z): where they differ by no more
    than a few crops' chance, the mix stays the prior's; only a signal that clearly leads or
    lags moves it. A signal with no crop of known truth counts at the common level; if none
    agrees, the prior weights."""
    measured: dict[str, tuple[float, float]] = {}  # name -> (z, sampling variance)
    for name in prior:
        scores = calibration.columns.get(name, np.full(len(calibration.errors), np.nan))
        rho, n = signal_agreement(scores, calibration.errors)
        if n >= MIN_AGREEMENT_CROPS:
            measured[name] = (float(np.arctanh(np.clip(rho, -0.999, 0.999))), SPEARMAN_Z_VARIANCE / (n - 3))
    if not measured:
        return dict(prior)
    z = np.array([m[0] for m in measured.values()])
    common = float(z.mean())
    spread = float(z.var(ddof=1)) if len(z) > 1 else 0.0
    noise = float(np.mean([m[1] for m in measured.values()]))
    kept = 1.0 - min(1.0, noise / spread) if spread > 0 else 0.0
    weights = {}
    for name, w in prior.items():
        level = common + kept * (measured[name][0] - common) if name in measured else common
        weights[name] = w * max(0.0, float(np.tanh(level)))
    return weights if any(w > 0 for w in weights.values()) else dict(prior)


class CombinedStrategy(Strategy):
    name = "combined"
    # Cell-probability entropy, flow error and missed cells cost nothing beyond the prediction
    # itself; version disagreement reads a stored prediction. How they pay: docs/benchmarks.md.
    weights: Mapping[str, float] = {"cellprob": 1.0, "flow_error": 1.0, "missed_cells": 1.0,
                                    "version_disagreement": 0.5}

    def score(self, item: ScoringInput) -> Score | None:
        return None  # pool-normalised: only `utility` means anything

    def components(self) -> Mapping[str, float]:
        return dict(self.weights)

    def utility(self, crop_ids: np.ndarray, columns: Mapping[str, np.ndarray], seed: int,
                weights: Mapping[str, float] | None = None) -> np.ndarray:
        return weighted_mix(columns, self.components() if weights is None else weights, len(crop_ids))


class FittedCombinedStrategy(CombinedStrategy):
    """The default strategy: `combined`'s signals, each weighed by how well it ranked the
    serving version's own errors on the labelled validation crops (`fitted_weights`): a signal
    that points at this project's mistakes counts more, one that points away stops counting.
    Which signals see the errors differs between datasets
    (docs/decisions/0004-combined-fitted-default.md)."""

    name = "combined_fitted"
    calibrates = True

    def mix_weights(self, calibration: Calibration | None) -> Mapping[str, float]:
        return self.weights if calibration is None else fitted_weights(self.weights, calibration)


class CombinedTTAStrategy(CombinedStrategy):
    """The fixed mix plus flip disagreement: one extra prediction per crop."""

    name = "combined_tta"
    weights = {"cellprob": 1.0, "flow_error": 1.0, "missed_cells": 1.0, "tta": 1.0, "version_disagreement": 0.5}
