"""A saturating learning curve fitted to (labelled cells, AP) points, and what it says the next
labels are worth. Pure: numbers in, numbers out.

The curve is the inverse power law AP(n) = a - b * n^(-c), with a the AP it tends to (0..1), b
the distance below it, and c how fast the distance closes. It is the usual model of learning
curves (AP, or accuracy, against training-set size rises fast, then ever more slowly, towards a
ceiling set by the task and the model), it never falls as n grows, it has the fewest parameters of
the saturating curves that leave the ceiling free (three, against the four points of a subsample
study), and its extrapolation is conservative next to a logarithm's, which never saturates.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

# c is kept within these bounds: below, the curve is nearly flat and `a` runs off to meaningless
# ceilings far beyond the data; above, it has saturated before the smallest subset.
MIN_RATE, MAX_RATE = 0.05, 3.0
MIN_SIZES = 3  # distinct subset sizes needed to fit three parameters


@dataclass(frozen=True)
class CurveFit:
    a: float
    b: float
    c: float
    rmse: float  # of the fit on its points
    rise: float = 0.0  # what the curve gains from the smallest subset to the largest

    def ap(self, n_cells: float) -> float:
        return float(self.a - self.b * n_cells ** (-self.c))

    def gain(self, n_cells: float, more: float = 100) -> float:
        """What `more` labelled cells on top of `n_cells` add to AP, by the curve."""
        return self.ap(n_cells + more) - self.ap(n_cells)

    @property
    def flat(self) -> bool:
        """The curve rises less over the measured sizes than the points scatter about it: the
        points show no rise from more labels, and its extrapolation says nothing."""
        return self.rise < self.rmse

    def to_dict(self) -> dict[str, float]:
        return {"a": round(self.a, 5), "b": round(self.b, 5), "c": round(self.c, 5), "rmse": round(self.rmse, 5),
                "rise": round(self.rise, 5)}


def _curve(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(n, -c)


def fit_learning_curve(n_cells: Sequence[float], ap: Sequence[float]) -> CurveFit | None:
    """The least-squares fit of AP(n) = a - b n^(-c) (every seed's point counts), or None when there
    are too few distinct sizes or the fit does not converge."""
    n = np.asarray(n_cells, dtype=float)
    y = np.asarray(ap, dtype=float)
    if n.size != y.size or len(set(n.tolist())) < MIN_SIZES or np.any(n <= 0):
        return None
    start = (min(1.0, float(y.max()) + 0.05), max(1e-3, float(y.max() - y.min())) * float(n.min()) ** 0.5, 0.5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            (a, b, c), _ = curve_fit(_curve, n, y, p0=start, bounds=([0.0, 0.0, MIN_RATE], [1.0, np.inf, MAX_RATE]),
                                     maxfev=20_000)
    except (RuntimeError, ValueError):
        return None
    rmse = float(np.sqrt(np.mean((_curve(n, a, b, c) - y) ** 2)))
    if not all(math.isfinite(v) for v in (a, b, c, rmse)):
        return None
    rise = float(_curve(np.array([n.max()]), a, b, c)[0] - _curve(np.array([n.min()]), a, b, c)[0])
    return CurveFit(float(a), float(b), float(c), rmse, rise)
