"""Typed, validated model-backend settings, parsed from `Project.backend_settings` (a JSON object).

The JSON shape, with every key optional (defaults below)::

    {
      "start_from": "scratch",            # or "pretrained:<name>" (e.g. "pretrained:nuclei"),
                                          # or "weights:<path>" (an uploaded weights file)
      "channels": [],                     # crop channels fed to the model, see BackendSettings
      "normalize": true,
      "seed": 0,
      "train": {"n_epochs": 100, "learning_rate": null, ...},       # TrainSettings
      "predict": {"diameter": null, "flow_threshold": 0.4, ...}     # PredictSettings
    }

Every problem is reported at once, each naming its field (`train.n_epochs must be ...`), so an
admin can fix a settings form in one go. Nothing here imports Django, torch or cellpose.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from active_learning.backends.base import BackendError
from active_learning.backends.weights import PRETRAINED_FILES

START_SCRATCH = "scratch"
MIN_CROPS_PER_EPOCH = 32
# AdamW learning rates when train.learning_rate is null: train_seg's default for a fresh network,
# and for fine-tuning trained weights the rate Cellpose's GUI recommends for AdamW (its training
# dialog: "recommended learning_rate then 0.001"). At the full rate, fine-tuning a trained nuclei
# model on 16-32 labelled crops swung its validation AP@0.5 from 0.62 down to 0.13 between rounds
# (docs/benchmarks.md, simulation run 2).
SCRATCH_LEARNING_RATE = 0.005
FINETUNE_LEARNING_RATE = 0.001
# The share of a fine-tune's epochs, counted from the end, whose weights are averaged when
# train.average_last_share is null. Measured on 16-32 labelled crops (12 epochs, so the last 6
# averaged; bench/training_noise.py, docs/benchmarks.md): the same crops shuffled gave models with
# half the spread (AP@0.5 standard deviation 0.011 against 0.023) and 0.03 higher AP@0.5 on average,
# at no extra cost. A fresh network is not averaged (not measured: at the scratch rate its weights
# still travel far in its last epochs).
FINETUNE_AVERAGE_SHARE = 0.5
START_PRETRAINED = "pretrained:"
START_WEIGHTS = "weights:"


class BackendSettingsError(BackendError):
    code = "bad_backend_settings"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid backend settings: " + "; ".join(self.problems))


@dataclass(frozen=True)
class TrainSettings:
    # From scratch, what a model learns depends on the number of optimiser steps, not epochs: on 6
    # real U2OS crops, 40 epochs of one step (batch 8) found no cell, 40 epochs of three steps
    # (batch 2) reached AP@0.5 0.88 on held-out crops. On the demo's 36 training crops (4 images),
    # 30 epochs of batch 4 (270 steps) reached AP@0.5 0.87 / AP@0.75 0.79 / AP@0.9 0.46 on 18
    # held-out crops, and 40 epochs no better (AP@0.5 0.70 at 20 epochs, ~0 at 10): about 4.5
    # minutes of 2 CPU cores (0.25 s per 112 px tile, forward and backward). Cellpose warms the
    # learning rate up over the first 10 epochs (epoch 0 has LR 0), so a run needs well over 10.
    n_epochs: int = 30
    # AdamW. None = SCRATCH_LEARNING_RATE for a fresh network, FINETUNE_LEARNING_RATE when training
    # starts from weights (a model version, named pretrained weights or an uploaded file).
    learning_rate: float | None = None
    weight_decay: float = 1e-5
    # Tiles per optimiser step. The CPU cost per tile is the same at any batch size, so a smaller
    # batch buys more steps; on a GPU, 8 (Cellpose's default) uses the device better.
    batch_size: int = 4
    # Side of the square training tiles (train_seg's `bsize`). Cellpose's default is 224; 112 costs
    # ~3.6x less per step on a CPU (0.25 s vs 0.9 s per tile, forward + backward) and still holds
    # ~4 cell diameters after rescaling cells to 30 px, enough context for the flows (the runs
    # above used it). On a GPU, 224 is the better choice. Prediction always tiles at 224.
    train_tile: int = 112
    # Crops with fewer labelled cells are left out of training (train_seg's `min_train_masks`).
    # 0 keeps empty crops, but Cellpose counts their cell diameter as 5 px in the mean it records.
    min_train_masks: int = 1
    # Crops drawn per epoch. None = every training crop once per epoch, but at least
    # MIN_CROPS_PER_EPOCH (drawn with replacement), so a first model trained on a handful of
    # labelled crops still gets enough optimiser steps.
    crops_per_epoch: int | None = None
    # Rescale crops so cells are ~30 px (the network's diam_mean) during training.
    rescale: bool = True
    # End training with the mean of the network's weights at the end of each of its last epochs
    # (tail averaging, as in stochastic weight averaging), this share of them; 0 = the last epoch's
    # weights alone. None = FINETUNE_AVERAGE_SHARE when training starts from weights, 0 for a
    # fresh network.
    average_last_share: float | None = None


@dataclass(frozen=True)
class PredictSettings:
    # Expected cell diameter in pixels; None = the mean diameter of the cells the model was trained on.
    diameter: float | None = None
    flow_threshold: float = 0.4  # masks whose flow error exceeds this are dropped; 0 keeps all
    cellprob_threshold: float = 0.0  # in logits; lower finds more and larger cells
    min_size: int = 15  # masks smaller than this (pixels) are dropped
    tile_overlap: float = 0.1
    batch_size: int = 8  # 224-px tiles per forward pass


@dataclass(frozen=True)
class BackendSettings:
    start_from: str = START_SCRATCH
    # Indices into a crop's stored channels, as `Project.model_channels`: () = one grey channel
    # (the mean of all channels when there are several), (c,) = channel c alone,
    # (cyto, nucleus) = a cytoplasm channel and a nuclear channel (Cellpose's two inputs).
    channels: tuple[int, ...] = ()
    normalize: bool = True  # scale each channel of each crop to its 1st..99th percentiles
    seed: int = 0  # seeds a fresh network's initial weights
    # Not used by the backend: the training job's margin for promoting a new version (None = its default).
    promotion_margin: float | None = None
    train: TrainSettings = field(default_factory=TrainSettings)
    predict: PredictSettings = field(default_factory=PredictSettings)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data (what a model version records)."""
        data = dataclasses.asdict(self)
        data["channels"] = list(self.channels)
        return data

    @property
    def pretrained_name(self) -> str | None:
        return self.start_from.removeprefix(START_PRETRAINED) if self.start_from.startswith(START_PRETRAINED) else None

    @property
    def weights_path(self) -> str | None:
        return self.start_from.removeprefix(START_WEIGHTS) if self.start_from.startswith(START_WEIGHTS) else None


# --- field rules ------------------------------------------------------------------------------------

# name -> (type, minimum, maximum, may be None)
_TRAIN_RULES: dict[str, tuple[type, float, float, bool]] = {
    # 2 is the least that trains at all (epoch 0 runs at learning rate 0).
    "n_epochs": (int, 2, 100_000, False),
    "learning_rate": (float, 1e-8, 1.0, True),
    "weight_decay": (float, 0.0, 1.0, False),
    "batch_size": (int, 1, 256, False),
    "train_tile": (int, 48, 1024, False),
    "min_train_masks": (int, 0, 10_000, False),
    "crops_per_epoch": (int, 1, 1_000_000, True),
    "rescale": (bool, 0, 1, False),
    "average_last_share": (float, 0.0, 1.0, True),
}
_PREDICT_RULES: dict[str, tuple[type, float, float, bool]] = {
    "diameter": (float, 1.0, 1000.0, True),
    "flow_threshold": (float, 0.0, 10.0, False),
    "cellprob_threshold": (float, -20.0, 20.0, False),
    "min_size": (int, 0, 1_000_000, False),
    "tile_overlap": (float, 0.05, 0.5, False),
    "batch_size": (int, 1, 512, False),
}
_TOP_LEVEL = ("start_from", "channels", "normalize", "seed", "promotion_margin", "train", "predict")
_MAX_CHANNELS = 2  # Cellpose 3 networks take two input channels


def _check_number(name: str, value: Any, rule: tuple[type, float, float, bool], problems: list[str]) -> Any:
    kind, low, high, nullable = rule
    if value is None:
        if not nullable:
            problems.append(f"{name} must not be null")
        return None
    if kind is bool:
        if not isinstance(value, bool):
            problems.append(f"{name} must be true or false (got {value!r})")
        return value
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind is int and not is_int:
        problems.append(f"{name} must be an integer (got {value!r})")
        return value
    if kind is float and not (is_int or isinstance(value, float)):
        problems.append(f"{name} must be a number (got {value!r})")
        return value
    if not (math.isfinite(value) and low <= value <= high):
        problems.append(f"{name} must be between {low:g} and {high:g} (got {value!r})")
    return float(value) if kind is float else value


def _report_unknown(prefix: str, data: Mapping[str, Any], known: Sequence[str], problems: list[str]) -> None:
    for key in sorted(set(data) - set(known)):
        problems.append(f"{prefix}{key} is not a setting (known: {', '.join(known)})")


def _parse_section(
    prefix: str, data: Any, cls: type, rules: Mapping[str, tuple[type, float, float, bool]], problems: list[str]
) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        problems.append(f"{prefix} must be an object (got {type(data).__name__})")
        return cls()
    _report_unknown(f"{prefix}.", data, rules, problems)
    values = {k: _check_number(f"{prefix}.{k}", data[k], rules[k], problems) for k in rules if k in data}
    return cls(**values)


def _parse_start_from(value: Any, problems: list[str]) -> str:
    if not isinstance(value, str):
        problems.append(f"start_from must be a string (got {value!r})")
        return START_SCRATCH
    if value == START_SCRATCH:
        return value
    if value.startswith(START_PRETRAINED):
        name = value.removeprefix(START_PRETRAINED)
        if name not in PRETRAINED_FILES:
            known = ", ".join(PRETRAINED_FILES)
            problems.append(f"start_from names an unknown pretrained model {name!r} (known: {known})")
        return value
    if value.startswith(START_WEIGHTS) and value.removeprefix(START_WEIGHTS).strip():
        return value
    problems.append(f"start_from must be 'scratch', 'pretrained:<name>' or 'weights:<path>' (got {value!r})")
    return START_SCRATCH


def _parse_channels(value: Any, problems: list[str]) -> tuple[int, ...]:
    ok = isinstance(value, Sequence) and not isinstance(value, str)
    ok = ok and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in value)
    if not ok:
        problems.append(f"channels must be a list of channel indices >= 0 (got {value!r})")
        return ()
    if len(value) > _MAX_CHANNELS:
        problems.append(f"channels may name at most {_MAX_CHANNELS} channels (cytoplasm, nucleus); got {list(value)}")
        return ()
    return tuple(value)


def parse_backend_settings(
    data: Mapping[str, Any] | None, *, model_channels: Sequence[int] | None = None
) -> BackendSettings:
    """Validate `Project.backend_settings`; raise BackendSettingsError naming every bad field.

    `model_channels` (the project's `model_channels`) fills in "channels" when the JSON has none.
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise BackendSettingsError([f"backend settings must be an object (got {type(data).__name__})"])
    problems: list[str] = []
    _report_unknown("", data, _TOP_LEVEL, problems)
    channels = data.get("channels", list(model_channels or []))
    parsed = BackendSettings(
        start_from=_parse_start_from(data.get("start_from", START_SCRATCH), problems),
        channels=_parse_channels(channels, problems),
        normalize=_check_number("normalize", data.get("normalize", True), (bool, 0, 1, False), problems),
        seed=_check_number("seed", data.get("seed", 0), (int, 0, 2**31 - 1, False), problems),
        promotion_margin=_check_number("promotion_margin", data.get("promotion_margin"), (float, 0, 1, True), problems),
        train=_parse_section("train", data.get("train"), TrainSettings, _TRAIN_RULES, problems),
        predict=_parse_section("predict", data.get("predict"), PredictSettings, _PREDICT_RULES, problems),
    )
    if isinstance(parsed.train.train_tile, int) and parsed.train.train_tile % 16:
        problems.append(f"train.train_tile must be a multiple of 16 (got {parsed.train.train_tile})")
    if problems:
        raise BackendSettingsError(problems)
    return parsed
