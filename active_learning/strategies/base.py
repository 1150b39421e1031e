"""What a scoring strategy is: a model version's outputs on one crop in, a score out (higher =
more useful to label). Arrays only, no Django; the ranking (active_learning.queue) turns the
stored scores of a whole pool into the queue's order through `utility`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
from skimage.segmentation import expand_labels

from active_learning.outputs import CropPrediction

# A cell's doubt is read over the cell and a thin ring around it, where its outline is decided.
CELL_RING_PX = 2


@dataclass(frozen=True)
class ScoringInput:
    crop_id: int
    prediction: CropPrediction
    augmented: tuple[CropPrediction, ...] = ()  # predictions of flipped copies, mapped back to the crop's frame
    previous_masks: np.ndarray | None = None  # the previous model version's masks on this crop
    flow_errors: Mapping[int, float] | None = None  # per cell id, from the model backend

    @cached_property
    def cells_with_ring(self) -> np.ndarray:
        """The predicted cells, each grown by CELL_RING_PX into the background around it
        (computed once per crop, for every strategy that reads it)."""
        return expand_labels(self.prediction.masks, CELL_RING_PX)


@dataclass(frozen=True)
class Calibration:
    """What the ranking version's signals said about crops whose truth is known (the labelled
    validation crops it was evaluated on), beside its errors there: each component's scores and
    the errors (false positives + false negatives at IoU 0.5), one value per crop (NaN: not scored)."""

    columns: Mapping[str, np.ndarray]
    errors: np.ndarray


@dataclass(frozen=True)
class Score:
    value: float
    details: dict[str, float] = field(default_factory=dict)
    cells: dict[int, float] = field(default_factory=dict)  # per-cell uncertainty in [0, 1], by cell id
    # Places outside the predicted cells where the model may have missed one: (x, y, radius) in
    # crop pixels, largest first, so the editor can circle them.
    places: tuple[tuple[float, float, float], ...] = ()


class Strategy(ABC):
    name: ClassVar[str]
    # Inputs beyond the prediction itself: "augmented", "previous_masks", "flow_errors".
    needs: ClassVar[frozenset[str]] = frozenset()
    # Whether `mix_weights` reads a Calibration (so evaluations also score the validation crops).
    calibrates: ClassVar[bool] = False

    @abstractmethod
    def score(self, item: ScoringInput) -> Score | None:
        """The crop's score, or None when an input it needs is missing."""

    def components(self) -> Mapping[str, float]:
        """The per-crop scores the ranking reads (strategy name -> weight)."""
        return {self.name: 1.0}

    def mix_weights(self, calibration: Calibration | None) -> Mapping[str, float]:
        """The weight each component counts with (given what they said about crops of known truth)."""
        return self.components()

    def utility(self, crop_ids: np.ndarray, columns: Mapping[str, np.ndarray], seed: int,
                weights: Mapping[str, float] | None = None) -> np.ndarray:
        """Pool-level usefulness, one value per crop (NaN = not scored); the queue sorts on it.
        `weights` are the components' weights from `mix_weights` (None: `components()`)."""
        return columns[self.name]
