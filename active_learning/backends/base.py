"""What a model backend does, independent of the library behind it.

Arrays in and out, no Django: a crop image is float32 or integer (H, W, C) in its stored channel
order; a label image is uint16 (H, W). A backend is built from a weights file (or from nothing,
for a fresh network) and its typed settings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CropPrediction:
    """A model's output on one crop: the instance masks plus the raw maps uncertainty needs."""

    masks: np.ndarray  # uint16 (H, W), 0 = background
    cellprob: np.ndarray  # float32 (H, W), logits
    flows: np.ndarray  # float32 (2, H, W), predicted flow field (dY, dX)
    style: np.ndarray  # float32 (D,), unit-norm embedding of the crop (for diversity)


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    n_epochs: int
    loss: float
    val_loss: float | None = None


@dataclass
class TrainingResult:
    weights_path: Path
    history: list[EpochReport] = field(default_factory=list)


ProgressCallback = Callable[[EpochReport], None]


class ModelBackend(ABC):
    name: str

    @abstractmethod
    def predict(self, images: Sequence[np.ndarray], *, augment: bool = False) -> list[CropPrediction]:
        """Predict each crop. `augment` asks for test-time augmentation where supported."""

    @abstractmethod
    def train(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        *,
        out_dir: Path,
        val_images: Sequence[np.ndarray] = (),
        val_masks: Sequence[np.ndarray] = (),
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> TrainingResult:
        """Fine-tune from the current weights; write new weights under `out_dir`."""
