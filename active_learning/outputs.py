"""What a model says about one crop: the data type model backends produce and strategies read.

Neutral ground, so that neither strategies nor backends import the other (the import contract in
`.importlinter` says so). Arrays only, no Django.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CropPrediction:
    """A model's output on one crop: the instance masks plus the raw maps uncertainty needs."""

    masks: np.ndarray  # uint16 (H, W), 0 = background
    cellprob: np.ndarray  # float32 (H, W), logits
    flows: np.ndarray  # float32 (2, H, W), predicted flow field (dY, dX)
    style: np.ndarray  # float32 (D,), unit-norm embedding of the crop (for diversity)
