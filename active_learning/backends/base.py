"""What a model backend does, independent of the library behind it.

Arrays in and out, no Django: a crop image is float32 or integer (H, W, C) (or (H, W)) in its
stored channel order; a label image is uint16 (H, W). A backend is built from a weights file (or
from nothing, for a fresh network) and its typed settings (active_learning.backends.settings):

    backend = SomeBackend(weights_path_or_None, settings, device=None)

`device` None means settings.LABELSERVER["DEVICE"] ("auto": CUDA when present, else CPU).
Errors a user can act on (bad settings, bad weights, no usable training data) are BackendError,
a DomainError, so the API turns them into a clear 4xx and a job stores the message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from active_learning.outputs import CropPrediction
from labelserver.errors import DomainError


class BackendError(DomainError, ValueError):
    """A problem with a model's settings, weights or data that the user can fix."""

    code = "model_backend"


class TrainingDataError(BackendError):
    code = "bad_training_data"


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # epochs completed so far, 1..n_epochs
    n_epochs: int
    loss: float  # mean training loss of this epoch
    val_loss: float | None = None  # on the validation crops, when this epoch measured it
    elapsed_s: float | None = None  # since training started


@dataclass
class TrainingResult:
    weights_path: Path
    history: list[EpochReport] = field(default_factory=list)
    stopped_early: bool = False  # should_stop() ended training; the weights are from the last full epoch
    n_train_crops: int = 0  # crops actually trained on (after dropping crops with too few cells)
    cell_diameter: float | None = None  # mean diameter (px) of the training cells
    # The `train` settings the training ran with, defaults chosen by the backend filled in (the
    # learning rate, the weight averaging): what a model version records.
    train_settings: dict[str, Any] = field(default_factory=dict)


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
        """Fine-tune from the current weights; write new weights under `out_dir`.

        `progress` is called after every epoch; `should_stop` is polled between epochs and, when
        it returns True, training ends early with the weights of the last completed epoch. After
        training, the backend predicts with the new weights.
        """

    @classmethod
    def for_project(cls, project: Any, *, weights: Path | None = None, weights_dir: Path | None = None) -> ModelBackend:
        """The backend of a project (annotations.models.Project), with its settings: from the local
        weights file `weights` (a model version's, copied out of the storage), or from the project's
        start point when None; `weights_dir`: a local folder with the project's uploaded weights,
        where a start from "weights:<sha256>" is looked up."""
        raise NotImplementedError(f"{cls.__name__} cannot be built for a project")

    @classmethod
    def validate_weights(cls, path: Path) -> object:
        """Check an uploaded weights file; raise BackendError (a ValueError) saying what is wrong."""
        raise NotImplementedError(f"{cls.__name__} does not check weights files")

    def flow_errors(self, prediction: CropPrediction) -> dict[int, float]:
        """Per-cell disagreement between a prediction's masks and its flows (cell id -> error)."""
        raise NotImplementedError(f"{type(self).__name__} does not measure flow errors")

    def save_weights(self, path: Path) -> Path:
        """Write the current network weights to `path` (in a format the backend loads back)."""
        raise NotImplementedError(f"{type(self).__name__} cannot save its weights")
