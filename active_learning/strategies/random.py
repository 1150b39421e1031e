"""The control: every crop equally likely to come next. Nothing is stored; the order is a hash of
the crop id and a seed, so re-ranking with the same seed keeps the same order."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from active_learning.strategies.base import Score, ScoringInput, Strategy

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def uniform_hash(crop_ids: np.ndarray, seed: int) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per (crop id, seed): splitmix64."""
    with np.errstate(over="ignore"):
        x = crop_ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed & 0xFFFFFFFF)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9) & _MASK64
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB) & _MASK64
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class RandomStrategy(Strategy):
    name = "random"

    def score(self, item: ScoringInput) -> Score:
        return Score(float(uniform_hash(np.array([item.crop_id]), 0)[0]))

    def components(self) -> Mapping[str, float]:
        return {}

    def utility(self, crop_ids: np.ndarray, columns: Mapping[str, np.ndarray], seed: int,
                weights: Mapping[str, float] | None = None) -> np.ndarray:
        return uniform_hash(crop_ids, seed)
