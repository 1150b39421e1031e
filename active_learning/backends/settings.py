"""Typed, validated model-backend settings, parsed from `Project.backend_settings` (a JSON object).

The JSON shape, with every key optional (defaults below)::

    {
      "start_from": "scratch",            # or "pretrained:<name>" (e.g. "pretrained:nuclei"),
                                          # or "weights:<sha256>" (weights uploaded to the project)
      "channels": [],                     # crop channels fed to the model, see BackendSettings
      "normalize": true,
      "seed": 0,
      "train": {"n_epochs": 30, "learning_rate": null, ...},        # TrainSettings
      "predict": {"diameter": null, "flow_threshold": 0.4, ...}     # PredictSettings
    }

Each setting is declared once, below, as a field of a pydantic dataclass: its type, default and
bounds give the validation, the per-field problems and the JSON schema (`backend_settings_schema`).
Every problem is reported at once, each naming its field (`train.n_epochs must be ...`), so an
admin can fix a settings form in one go. Nothing here imports Django, torch or cellpose.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import ErrorDetails, PydanticCustomError

from active_learning.backends.base import BackendError
from active_learning.backends.weights import PRETRAINED_FILES, SHA256_HEX, UPLOAD_HINT

START_SCRATCH = "scratch"
MIN_CROPS_PER_EPOCH = 32
# AdamW learning rates when train.learning_rate is null: train_seg's default for a fresh network,
# and for fine-tuning trained weights the rate Cellpose's GUI recommends for AdamW (its training
# dialog: "recommended learning_rate then 0.001"). At the full rate, fine-tuning a trained nuclei
# model on 16-32 labelled crops swung its validation AP@0.5 from 0.61 down to 0.13 between rounds
# (docs/decisions/0001-fine-tune-learning-rate.md).
SCRATCH_LEARNING_RATE = 0.005
FINETUNE_LEARNING_RATE = 0.001
# The share of a fine-tune's epochs, counted from the end, whose weights are averaged when
# train.average_last_share is null. Measured on 16-32 labelled crops (12 epochs, so the last 6
# averaged; docs/decisions/0002-weight-averaging.md): the same crops shuffled gave models with
# half the spread (AP@0.5 standard deviation 0.011 against 0.023) and 0.03 higher AP@0.5 on average,
# at no extra cost. A fresh network is not averaged (not measured: at the scratch rate its weights
# still travel far in its last epochs).
FINETUNE_AVERAGE_SHARE = 0.5
START_PRETRAINED = "pretrained:"
START_WEIGHTS = "weights:"
_MAX_CHANNELS = 2  # Cellpose 3 networks take two input channels


class BackendSettingsError(BackendError):
    code = "bad_backend_settings"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid backend settings: " + "; ".join(self.problems))


# --- field declarations --------------------------------------------------------------------------------

# Unknown keys are refused (a typo would otherwise silently keep a default) and NaN/inf count as out
# of range. Strictness is set per field, not here: a strict dataclass would refuse a JSON object.
_JSON_SETTINGS = ConfigDict(extra="forbid", allow_inf_nan=False)


def _between(low: float, high: float, about: str) -> Any:
    """A number within [low, high]. Strict, so "3" or true is refused rather than read as 3 or 1."""
    return Field(strict=True, ge=low, le=high, description=about)


def _strict(about: str) -> Any:
    """A bool or string that must be one: JSON 1 is not true, 3 is not a path."""
    return Field(strict=True, description=about)


def _check_start_from(value: str) -> str:
    if value == START_SCRATCH:
        return value
    if value.startswith(START_WEIGHTS):
        return _check_start_weights(value)
    if not value.startswith(START_PRETRAINED):
        raise PydanticCustomError(
            "start_from",
            "must be 'scratch', 'pretrained:<name>' or 'weights:<sha256>' (got {value})",
            {"value": repr(value)},
        )
    name = value.removeprefix(START_PRETRAINED)
    if name not in PRETRAINED_FILES:
        raise PydanticCustomError(
            "unknown_pretrained",
            "names an unknown pretrained model {name} (known: {known})",
            {"name": repr(name), "known": ", ".join(PRETRAINED_FILES)},
        )
    return value


def _check_start_weights(value: str) -> str:
    """'weights:<sha256>' of a file uploaded to the project; a path (any server file, or another
    project's weights) is refused, naming the form to use."""
    sha = value.removeprefix(START_WEIGHTS).strip().lower()
    if SHA256_HEX.fullmatch(sha):
        return START_WEIGHTS + sha
    raise PydanticCustomError(
        "start_from_weights",
        "must name weights uploaded to this project as 'weights:<sha256>' (the weights_sha256 of one of its "
        "model versions), not a path or a file name (got {value}); {hint}",
        {"value": repr(value), "hint": UPLOAD_HINT},
    )


_LEARNING_RATE_ABOUT = (
    f"AdamW learning rate; null = {SCRATCH_LEARNING_RATE} from scratch, {FINETUNE_LEARNING_RATE} from weights"
)
_AVERAGE_SHARE_ABOUT = (
    f"share of the last epochs whose weights are averaged; null = {FINETUNE_AVERAGE_SHARE} from weights, 0 from scratch"
)


def _null_is_default(value: Any) -> Any:
    """`"train": null` means the section's defaults, as an absent section does."""
    return {} if value is None else value


@dataclass(frozen=True, config=_JSON_SETTINGS)
class TrainSettings:
    # From scratch, what a model learns depends on the number of optimiser steps, not epochs: on 6
    # real U2OS crops, 40 epochs of one step (batch 8) found no cell, 40 epochs of three steps
    # (batch 2) reached AP@0.5 0.88 on held-out crops. On the demo's 36 training crops (4 images),
    # 30 epochs of batch 4 (270 steps) reached AP@0.5 0.87 / AP@0.75 0.79 / AP@0.9 0.46 on 18
    # held-out crops, and 40 epochs no better (AP@0.5 0.70 at 20 epochs, ~0 at 10): about 4.5
    # minutes of 2 CPU cores (0.25 s per 112 px tile, forward and backward). Cellpose warms the
    # learning rate up over the first 10 epochs (epoch 0 has LR 0), so a run needs well over 10;
    # 2 is the least that trains at all.
    n_epochs: Annotated[int, _between(2, 100_000, "training epochs")] = 30
    # AdamW. None = SCRATCH_LEARNING_RATE for a fresh network, FINETUNE_LEARNING_RATE when training
    # starts from weights (a model version, named pretrained weights or an uploaded file).
    learning_rate: Annotated[float | None, _between(1e-8, 1.0, _LEARNING_RATE_ABOUT)] = None
    weight_decay: Annotated[float, _between(0.0, 1.0, "AdamW weight decay")] = 1e-5
    # Tiles per optimiser step. The CPU cost per tile is the same at any batch size, so a smaller
    # batch buys more steps; on a GPU, 8 (Cellpose's default) uses the device better.
    batch_size: Annotated[int, _between(1, 256, "training tiles per optimiser step")] = 4
    # Side of the square training tiles (train_seg's `bsize`). Cellpose's default is 224; 112 costs
    # ~3.6x less per step on a CPU (0.25 s vs 0.9 s per tile, forward + backward) and still holds
    # ~4 cell diameters after rescaling cells to 30 px, enough context for the flows (the runs
    # above used it). On a GPU, 224 is the better choice. Prediction always tiles at 224.
    train_tile: Annotated[
        int, _between(48, 1024, "side of the square training tiles, pixels"), Field(multiple_of=16)
    ] = 112
    # Crops with fewer labelled cells are left out of training (train_seg's `min_train_masks`).
    # 0 keeps empty crops, but Cellpose counts their cell diameter as 5 px in the mean it records.
    min_train_masks: Annotated[int, _between(0, 10_000, "crops with fewer labelled cells are left out")] = 1
    # Crops drawn per epoch. None = every training crop once per epoch, but at least
    # MIN_CROPS_PER_EPOCH (drawn with replacement), so a first model trained on a handful of
    # labelled crops still gets enough optimiser steps.
    crops_per_epoch: Annotated[
        int | None, _between(1, 1_000_000, f"crops drawn per epoch; null = each once, at least {MIN_CROPS_PER_EPOCH}")
    ] = None
    # Rescale crops so cells are ~30 px (the network's diam_mean) during training.
    rescale: Annotated[bool, _strict("rescale crops so cells are ~30 px while training")] = True
    # End training with the mean of the network's weights at the end of each of its last epochs
    # (tail averaging, as in stochastic weight averaging), this share of them; 0 = the last epoch's
    # weights alone. None = FINETUNE_AVERAGE_SHARE when training starts from weights, 0 for a
    # fresh network.
    average_last_share: Annotated[
        float | None,
        _between(0.0, 1.0, _AVERAGE_SHARE_ABOUT),
    ] = None


@dataclass(frozen=True, config=_JSON_SETTINGS)
class PredictSettings:
    # Expected cell diameter in pixels; None = the mean diameter of the cells the model was trained on.
    diameter: Annotated[
        float | None, _between(1.0, 1000.0, "cell diameter, pixels; null = the trained cells' mean")
    ] = None
    flow_threshold: Annotated[
        float, _between(0.0, 10.0, "masks whose flow error exceeds this are dropped; 0 keeps all")
    ] = 0.4
    cellprob_threshold: Annotated[float, _between(-20.0, 20.0, "in logits; lower finds more and larger cells")] = 0.0
    min_size: Annotated[int, _between(0, 1_000_000, "masks smaller than this (pixels) are dropped")] = 15
    tile_overlap: Annotated[float, _between(0.05, 0.5, "overlap of the prediction tiles")] = 0.1
    batch_size: Annotated[int, _between(1, 512, "224-px tiles per forward pass")] = 8


@dataclass(frozen=True, config=_JSON_SETTINGS)
class BackendSettings:
    start_from: Annotated[
        str,
        _strict(
            f"'scratch', 'pretrained:<name>' (one of {', '.join(PRETRAINED_FILES)}) or 'weights:<sha256>' "
            "(the weights_sha256 of a file uploaded to the project)"
        ),
        AfterValidator(_check_start_from),
    ] = START_SCRATCH
    # Indices into a crop's stored channels, as `Project.model_channels`: () = one grey channel
    # (the mean of all channels when there are several), (c,) = channel c alone,
    # (cyto, nucleus) = a cytoplasm channel and a nuclear channel (Cellpose's two inputs).
    channels: Annotated[
        tuple[Annotated[int, Field(strict=True, ge=0)], ...],
        Field(max_length=_MAX_CHANNELS, description="crop channels fed to the model: [], [c] or [cyto, nucleus]"),
    ] = ()
    normalize: Annotated[bool, _strict("scale each channel of each crop to its 1st..99th percentiles")] = True
    seed: Annotated[int, _between(0, 2**31 - 1, "seeds a fresh network's initial weights")] = 0
    # Not used by the backend: the training job's margin for promoting a new version (None = its default).
    promotion_margin: Annotated[float | None, _between(0, 1, "margin for promoting a new model version")] = None
    train: Annotated[TrainSettings, BeforeValidator(_null_is_default)] = field(default_factory=TrainSettings)
    predict: Annotated[PredictSettings, BeforeValidator(_null_is_default)] = field(default_factory=PredictSettings)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data (what a model version records)."""
        data = dataclasses.asdict(self)
        data["channels"] = list(self.channels)
        return data

    @property
    def pretrained_name(self) -> str | None:
        return self.start_from.removeprefix(START_PRETRAINED) if self.start_from.startswith(START_PRETRAINED) else None

    @property
    def start_weights_sha256(self) -> str | None:
        """The SHA-256 of the project's uploaded weights it starts from, if it does."""
        return self.start_from.removeprefix(START_WEIGHTS) if self.start_from.startswith(START_WEIGHTS) else None


_ADAPTER: TypeAdapter[BackendSettings] = TypeAdapter(BackendSettings)


def backend_settings_schema() -> dict[str, Any]:
    """The JSON schema of `Project.backend_settings` (types, defaults, bounds), for the API and docs."""
    return _ADAPTER.json_schema()


def parse_backend_settings(
    data: Mapping[str, Any] | None, *, model_channels: Sequence[int] | None = None
) -> BackendSettings:
    """Validate `Project.backend_settings`; raise BackendSettingsError naming every bad field.

    `model_channels` (the project's `model_channels`) fills in "channels" when the JSON has none.
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise BackendSettingsError([f"backend settings must be an object (got {type(data).__name__})"])
    payload = {"channels": list(model_channels or []), **data}
    try:
        return _ADAPTER.validate_python(payload)
    except ValidationError as exc:
        # dict.fromkeys: several bad channel indices make one problem, listed once.
        raise BackendSettingsError(list(dict.fromkeys(_problem(e, payload) for e in exc.errors()))) from None


# --- pydantic's errors, phrased for a settings form ------------------------------------------------------

# How a problem of a pydantic error type reads after the field's name; {value!r} is the value given.
_PHRASES = {
    "int_type": "must be an integer (got {value!r})",
    "float_type": "must be a number (got {value!r})",
    "bool_type": "must be true or false (got {value!r})",
    "string_type": "must be a string (got {value!r})",
    "multiple_of": "must be a multiple of {multiple_of} (got {value!r})",
}
_NUMBER_TYPES = ("int_type", "float_type", "bool_type")
_OUT_OF_RANGE = ("greater_than_equal", "less_than_equal", "finite_number")
_UNKNOWN_KEY = ("unexpected_keyword_argument", "extra_forbidden")


def _problem(error: ErrorDetails, payload: Mapping[str, Any]) -> str:
    """One problem, named by its field's dotted path (a channel's index is left out: the list is the field)."""
    path = tuple(str(part) for part in error["loc"] if isinstance(part, str))
    name = ".".join(path)
    if path == ("channels",):
        return f"channels {_channels_phrase(error, payload['channels'])}"
    return f"{name} {_phrase(error, path)}"


def _phrase(error: ErrorDetails, path: tuple[str, ...]) -> str:
    kind, value = error["type"], error["input"]
    if kind in _UNKNOWN_KEY:
        return f"is not a setting (known: {', '.join(f.name for f in dataclasses.fields(_section(path[:-1])))})"
    if kind == "dataclass_type":
        return f"must be an object (got {type(value).__name__})"
    if value is None and kind in _NUMBER_TYPES:
        return "must not be null"
    if kind in _OUT_OF_RANGE:
        low, high = _bounds(path)
        return f"must be between {low:g} and {high:g} (got {value!r})"
    if kind in _PHRASES:
        return _PHRASES[kind].format(value=value, **error.get("ctx", {}))
    return error["msg"]  # the custom errors of the validators above, already phrased


def _channels_phrase(error: ErrorDetails, channels: Any) -> str:
    if error["type"] == "too_long":
        return f"may name at most {_MAX_CHANNELS} channels (cytoplasm, nucleus); got {list(channels)}"
    return f"must be a list of channel indices >= 0 (got {channels!r})"


def _section(path: tuple[str, ...]) -> type:
    """The settings dataclass at `path`: () is BackendSettings, ("train",) TrainSettings."""
    section: type = BackendSettings
    for part in path:
        section = section.__pydantic_fields__[part].annotation  # type: ignore[attr-defined]
    return section


def _bounds(path: tuple[str, ...]) -> tuple[float, float]:
    """The field's declared [low, high]: an error names only the bound it broke, a problem both."""
    metadata = _section(path[:-1]).__pydantic_fields__[path[-1]].metadata  # type: ignore[attr-defined]
    low = next(m.ge for m in metadata if hasattr(m, "ge"))
    high = next(m.le for m in metadata if hasattr(m, "le"))
    return low, high
