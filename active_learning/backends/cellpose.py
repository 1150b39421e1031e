"""The Cellpose 3 (CPnet) model backend: the only module in the project that imports `cellpose`.

* Import. `import cellpose` costs 7-10 s (numba compiles eagerly) and ~450 MB, so it happens on
  first use, once per process (`cellpose_modules`). Before it, CELLPOSE_LOCAL_MODELS_PATH is set
  to our weight cache (cellpose reads it once, at import) and the numba logger is quietened.
* Weights. Cellpose only ever gets a local, validated file path (named weights are fetched by
  backends/weights.py), or `pretrained_model=False` for a fresh random network. A path that does
  not exist would make Cellpose silently download cyto3, and it loads with strict=False, so the
  file is checked first.
* Input. A crop becomes the network's two input channels (H, W, 2) by `model_input`, from the
  project's model channels; Cellpose's own channel guessing is never used.
* Prediction. Crops of one shape go to `CellposeModel.eval` together as a stack of planes, so the
  network runs tiles of several crops in one batch (what a GPU needs); masks are still per crop.
* Training progress. `train.train_seg` logs losses only every 10 epochs and returns per-epoch
  losses only at the end. So while it runs, two hooks are installed (and removed afterwards):
  `cellpose.train._loss_fn_seg` is wrapped to collect each batch's loss (training batches carry
  gradients, validation batches do not), and the network's `train()` method, which train_seg
  calls exactly once at the start of every epoch, closes the previous epoch: it reports it to
  `progress` and polls `should_stop`, which cancels by raising out of train_seg between epochs.
  The hooks assume one training at a time per process (the gpu queue runs with concurrency 1).
* Weight averaging. A training ends with the mean of the network's weights (and BatchNorm
  statistics) at the end of each of its last epochs (`average_epochs`: by default the last half
  of a fine-tune's), kept by torch's `swa_utils.AveragedModel` as each epoch closes, instead of
  the last epoch's weights alone.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from active_learning.backends.base import (
    BackendError,
    EpochReport,
    ModelBackend,
    ProgressCallback,
    TrainingDataError,
    TrainingResult,
)
from active_learning.backends.settings import (
    FINETUNE_AVERAGE_SHARE,
    FINETUNE_LEARNING_RATE,
    MIN_CROPS_PER_EPOCH,
    SCRATCH_LEARNING_RATE,
    BackendSettings,
    parse_backend_settings,
)
from active_learning.backends.weights import (
    WeightsInfo,
    labelserver_setting,
    models_dir,
    start_weights,
    validate_weights_file,
)
from active_learning.outputs import CropPrediction

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE_NAME = "cellpose_weights.pth"
EVAL_TILE = 224  # Cellpose's advice: predict with the tile size its models were built around
STACK_SIZE = 32  # crops of one shape handed to CellposeModel.eval per call
_NOISY_NOTICES = ("3D stack used", "multi-stack tiff read in")

_modules: SimpleNamespace | None = None
_import_lock = threading.Lock()


class _DropStackNotices(logging.Filter):
    """Cellpose warns on every stack of planes that it is not doing 3D; we stack crops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_NOISY_NOTICES)


def cellpose_modules() -> SimpleNamespace:
    """cellpose.models, .train and .metrics, imported once per process."""
    global _modules
    with _import_lock:
        if _modules is None:
            os.environ["CELLPOSE_LOCAL_MODELS_PATH"] = str(models_dir())
            logging.getLogger("numba").setLevel(logging.WARNING)
            from cellpose import metrics, models, train

            for name in ("cellpose.models", "cellpose.transforms"):
                logging.getLogger(name).addFilter(_DropStackNotices())
            _modules = SimpleNamespace(models=models, train=train, metrics=metrics)
    return _modules


def resolve_device(name: str | None = None) -> torch.device:
    """"auto" (the default, from settings.LABELSERVER["DEVICE"]): CUDA when PyTorch sees it, else CPU."""
    import torch

    name = name or labelserver_setting("DEVICE", "auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if name not in available:
        raise BackendError(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    if not available[name]:
        raise BackendError(f"device {name!r} was asked for (LABELSERVER_DEVICE) but PyTorch cannot use it here")
    return torch.device(name)


# --- arrays in and out ---------------------------------------------------------------------------------


def model_input(image: np.ndarray, channels: Sequence[int]) -> np.ndarray:
    """A crop as the network's two input channels, (H, W, 2) float32.

    `channels` () = one grey channel (the mean of all channels when there are several), (c,) = channel
    c, (cyto, nucleus) = both; an unused second input stays zero, as Cellpose does for grey images.
    """
    image = np.asarray(image)
    image = image[..., np.newaxis] if image.ndim == 2 else image
    if image.ndim != 3 or min(image.shape[:2]) < 8:
        raise BackendError(f"a crop must be an (H, W) or (H, W, C) array at least 8 pixels wide, got {image.shape}")
    n_channels = image.shape[-1]
    if any(c >= n_channels for c in channels):
        raise BackendError(f"model channels {list(channels)} do not exist in a crop with {n_channels} channel(s)")
    out = np.zeros((*image.shape[:2], 2), np.float32)
    if channels:
        for i, c in enumerate(channels):
            out[..., i] = image[..., c]
    else:
        out[..., 0] = image.mean(axis=-1) if n_channels > 1 else image[..., 0]
    if not np.isfinite(out).all():
        raise BackendError("a crop holds NaN or infinite values")
    return out


def _label_image(mask: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    mask = np.asarray(mask)
    mask = mask[..., 0] if mask.ndim == 3 and mask.shape[-1] == 1 else mask
    if mask.shape != shape:
        raise TrainingDataError(f"a {what} mask has shape {mask.shape} but its crop is {shape}")
    if mask.dtype.kind not in "iu" or (mask.size and mask.min() < 0):
        raise TrainingDataError(f"a {what} mask must hold non-negative integer cell ids, got {mask.dtype}")
    return mask.astype(np.int32, copy=False)


def _as_uint16(masks: np.ndarray) -> np.ndarray:
    if masks.size and int(masks.max()) > np.iinfo(np.uint16).max:
        raise BackendError(f"a crop has {int(masks.max())} predicted cells, more than a uint16 label image holds")
    return masks.astype(np.uint16)


def _shape_groups(arrays: Sequence[np.ndarray], size: int) -> Iterator[list[int]]:
    """Indices of same-shaped arrays, in chunks of at most `size`, in first-seen order."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, array in enumerate(arrays):
        groups.setdefault(array.shape, []).append(i)
    for indices in groups.values():
        for start in range(0, len(indices), size):
            yield indices[start : start + size]


def _n_cells(mask: np.ndarray) -> int:
    return int(np.count_nonzero(np.unique(mask)))


# --- training progress and cancellation -----------------------------------------------------------------


class _StopTraining(Exception):
    """Raised from inside train_seg (between epochs) when should_stop() says so."""


class _EpochMonitor:
    """Turns train_seg's batches into one EpochReport per epoch; see the module docstring."""

    def __init__(self, n_epochs: int, progress: ProgressCallback | None, should_stop: Callable[[], bool] | None,
                 epoch_ended: Callable[[int], None] | None = None):
        self.n_epochs = n_epochs
        self.progress = progress
        self.should_stop = should_stop
        self.epoch_ended = epoch_ended
        self.history: list[EpochReport] = []
        self.stopped = False
        self._train: list[tuple[Any, int]] = []
        self._val: list[tuple[Any, int]] = []
        self._t0 = time.monotonic()

    @contextmanager
    def watching(self, net: Any, train_module: Any) -> Iterator[None]:
        original_loss, original_mode = train_module._loss_fn_seg, net.train

        def loss_fn(lbl: np.ndarray, y: Any, device: Any) -> Any:
            loss = original_loss(lbl, y, device)
            (self._train if loss.requires_grad else self._val).append((loss.detach(), len(lbl)))
            return loss

        def set_mode(mode: bool = True) -> Any:
            if mode:
                self._epoch_starts()
            return original_mode(mode)

        train_module._loss_fn_seg, net.train = loss_fn, set_mode
        try:
            yield
        finally:
            train_module._loss_fn_seg = original_loss
            del net.train  # back to the class's method

    def _epoch_starts(self) -> None:
        self.finish_epoch()
        if self.should_stop is not None and self.should_stop():
            self.stopped = True
            raise _StopTraining

    def finish_epoch(self) -> None:
        if not self._train:
            return
        report = EpochReport(
            epoch=len(self.history) + 1,
            n_epochs=self.n_epochs,
            loss=_mean_loss(self._train),
            val_loss=_mean_loss(self._val) if self._val else None,
            elapsed_s=round(time.monotonic() - self._t0, 3),
        )
        self._train, self._val = [], []
        self.history.append(report)
        if self.epoch_ended is not None:
            self.epoch_ended(report.epoch)
        if self.progress is not None:
            self.progress(report)


class _WeightAverage:
    """The mean of a network's weights and BatchNorm statistics at the end of its last epochs."""

    def __init__(self, net: Any, n_epochs: int, last: int):
        from torch.optim.swa_utils import AveragedModel

        self.net = net
        self.first_epoch = n_epochs - last + 1
        # A copy of the network: made before the epoch hooks patch net.train, so it has none of them.
        self._average = AveragedModel(net, use_buffers=True)

    def epoch_ended(self, epoch: int) -> None:
        if epoch >= self.first_epoch:
            self._average.update_parameters(self.net)

    def apply(self) -> None:
        """Give the network the averaged weights (a run stopped before the last epochs keeps its own)."""
        if int(self._average.n_averaged) > 1:
            self.net.load_state_dict(self._average.module.state_dict())


def _mean_loss(batches: list[tuple[Any, int]]) -> float:
    """train_seg's epoch loss: the batch losses weighted by batch size."""
    return float(sum(float(loss) * n for loss, n in batches) / sum(n for _, n in batches))


# --- the backend -----------------------------------------------------------------------------------------


class CellposeBackend(ModelBackend):
    """Cellpose 3's CPnet: from a weights file, or a fresh random network when `weights` is None."""

    name = "cellpose"

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        settings: BackendSettings | None = None,
        *,
        device: str | None = None,
    ) -> None:
        self.settings = settings or BackendSettings()
        self.device = resolve_device(device)
        self.weights = Path(weights) if weights is not None else None
        self._model = self._build_model()

    @classmethod
    def from_start(
        cls, settings: BackendSettings, *, weights_dir: Path | None = None, device: str | None = None
    ) -> CellposeBackend:
        """A project's first model: from scratch, named pretrained weights, or a file uploaded to the
        project (`weights_dir`: its weights folder, the only place "weights:<sha256>" is looked up)."""
        return cls(start_weights(settings.start_from, weights_dir=weights_dir), settings, device=device)

    @classmethod
    def for_project(cls, project: Any, *, weights: Path | None = None,
                    weights_dir: Path | None = None) -> CellposeBackend:
        """From the weights file `weights`, else from the project's start_from (uploaded weights are
        looked up in `weights_dir` alone). Settings are the project's current ones: thresholds may
        be tuned later."""
        settings = parse_backend_settings(project.backend_settings, model_channels=project.model_channels)
        if weights is not None:
            return cls(weights, settings)
        return cls.from_start(settings, weights_dir=weights_dir)

    @classmethod
    def validate_weights(cls, path: Path) -> WeightsInfo:
        return validate_weights_file(path)

    def _build_model(self) -> Any:
        cp = cellpose_modules()
        # mkldnn=False: with it, CellposeModel.eval converts the network's layers to MKLDNN in place,
        # after which training the same network fails ("MKLDNN backend does not support weight as
        # an MKLDNN tensor during training"); it made no measurable speed difference on CPU.
        options = {"gpu": self.device.type != "cpu", "device": self.device, "mkldnn": False}
        if self.weights is None:
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.settings.seed)
                return cp.models.CellposeModel(pretrained_model=False, **options)
        validate_weights_file(self.weights)
        model = cp.models.CellposeModel(pretrained_model=str(self.weights), **options)
        # Cellpose fixes diam_mean of its built-in "nuclei" file in code (17), not in the file; keep
        # the network's copy equal so weights fine-tuned from it carry the right value.
        model.net.diam_mean.data.fill_(float(model.diam_mean))
        return model

    @property
    def cell_diameter(self) -> float:
        """Mean diameter (px) of the cells the network was trained on; the default prediction scale."""
        return float(self._model.diam_labels)

    @property
    def _normalize(self) -> dict[str, Any]:
        # A fresh dict each call: given a bool, Cellpose mutates its module-level defaults.
        return {"normalize": self.settings.normalize, "norm3D": False, "invert": False}

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "weights": str(self.weights) if self.weights else None,
            "device": str(self.device),
            "diam_mean": float(self._model.diam_mean),
            "diam_labels": self.cell_diameter,
        }

    # -- prediction --

    def predict(self, images: Sequence[np.ndarray], *, augment: bool = False) -> list[CropPrediction]:
        inputs = [model_input(image, self.settings.channels) for image in images]
        results: list[CropPrediction | None] = [None] * len(inputs)
        for indices in _shape_groups(inputs, STACK_SIZE):
            stack = np.stack([inputs[i] for i in indices])
            for i, prediction in zip(indices, self._predict_stack(stack, augment), strict=True):
                results[i] = prediction
        return [r for r in results if r is not None]

    def _predict_stack(self, stack: np.ndarray, augment: bool) -> list[CropPrediction]:
        n, height, width = stack.shape[:3]
        x = stack if n > 1 else stack[0]
        p = self.settings.predict
        masks, flows, styles = self._model.eval(
            x,
            channels=None,
            channel_axis=x.ndim - 1,
            z_axis=0 if n > 1 else None,
            normalize=self._normalize,
            diameter=p.diameter,
            flow_threshold=p.flow_threshold,
            cellprob_threshold=p.cellprob_threshold,
            min_size=p.min_size,
            tile_overlap=p.tile_overlap,
            batch_size=p.batch_size,
            bsize=EVAL_TILE,
            augment=augment,
        )
        masks = _as_uint16(np.asarray(masks).reshape(n, height, width))
        dp = np.asarray(flows[1], np.float32).reshape(2, n, height, width)
        cellprob = np.asarray(flows[2], np.float32).reshape(n, height, width)
        styles = np.asarray(styles, np.float32).reshape(n, -1)
        return [
            CropPrediction(masks=masks[i], cellprob=cellprob[i], flows=np.ascontiguousarray(dp[:, i]), style=styles[i])
            for i in range(n)
        ]

    def flow_errors(self, prediction: CropPrediction) -> dict[int, float]:
        """Per cell: mean squared difference between the flows its mask implies and the predicted flows.

        What Cellpose's flow_threshold compares against (cells above 0.4 are dropped by default).
        """
        ids = np.unique(prediction.masks)
        ids = ids[ids > 0]
        if ids.size == 0:
            return {}
        masks = prediction.masks.astype(np.int32)
        errors, _ = cellpose_modules().metrics.flow_error(masks, prediction.flows, device=self.device)
        return {int(i): float(errors[i - 1]) for i in ids}

    # -- training --

    @property
    def learning_rate(self) -> float:
        """The rate the next training uses: the setting, else lower when fine-tuning trained weights."""
        if self.settings.train.learning_rate is not None:
            return self.settings.train.learning_rate
        return FINETUNE_LEARNING_RATE if self.weights is not None else SCRATCH_LEARNING_RATE

    @property
    def average_last_share(self) -> float:
        """The share of the next training's epochs, from the end, whose weights are averaged."""
        if self.settings.train.average_last_share is not None:
            return self.settings.train.average_last_share
        return FINETUNE_AVERAGE_SHARE if self.weights is not None else 0.0

    @property
    def average_epochs(self) -> int:
        """How many of the next training's last epochs its weights are averaged over (1 = none)."""
        return max(1, round(self.settings.train.n_epochs * self.average_last_share))

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
        train_x, train_y = self._training_set(images, masks, "training")
        val_x, val_y = self._training_set(val_images, val_masks, "validation")
        n_used = self._usable_crops(train_y)
        out_dir = Path(out_dir)
        scratch = out_dir / ".cellpose-train"  # train_seg saves into <save_path>/models/; kept apart
        scratch.mkdir(parents=True, exist_ok=True)
        train_settings = {**dataclasses.asdict(self.settings.train), "learning_rate": self.learning_rate,
                          "average_last_share": self.average_last_share}  # before training adopts new weights
        n_epochs, average_epochs = self.settings.train.n_epochs, self.average_epochs
        average = _WeightAverage(self._model.net, n_epochs, average_epochs) if average_epochs > 1 else None
        monitor = _EpochMonitor(n_epochs, progress, should_stop, average.epoch_ended if average else None)
        cp = cellpose_modules()
        try:
            with monitor.watching(self._model.net, cp.train):
                try:
                    cp.train.train_seg(
                        self._model.net,
                        train_data=train_x,
                        train_labels=train_y,
                        test_data=val_x or None,
                        test_labels=val_y or None,
                        **self._train_seg_options(scratch, n_used),
                    )
                except _StopTraining:
                    pass
            monitor.finish_epoch()
            if average is not None:
                average.apply()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        weights = self.save_weights(out_dir / WEIGHTS_FILE_NAME)
        self._adopt(weights)
        return TrainingResult(
            weights_path=weights,
            history=monitor.history,
            stopped_early=monitor.stopped,
            n_train_crops=n_used,
            cell_diameter=self.cell_diameter,
            train_settings=train_settings,
        )

    def _training_set(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray], what: str
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Crops as (2, H, W) float32, masks as int32 (H, W): what train_seg takes with channels=None."""
        if len(images) != len(masks):
            raise TrainingDataError(f"{len(images)} {what} crops but {len(masks)} masks")
        xs = [model_input(image, self.settings.channels) for image in images]
        ys = [_label_image(mask, x.shape[:2], what) for mask, x in zip(masks, xs, strict=True)]
        return [np.ascontiguousarray(x.transpose(2, 0, 1)) for x in xs], ys

    def _usable_crops(self, masks: Sequence[np.ndarray]) -> int:
        minimum = self.settings.train.min_train_masks
        n_used = sum(_n_cells(mask) >= minimum for mask in masks)
        if n_used == 0:
            raise TrainingDataError(
                f"none of the {len(masks)} training crops has at least {minimum} labelled cells "
                "(train.min_train_masks): label more cells, or lower that setting"
            )
        return n_used

    def _train_seg_options(self, save_path: Path, n_crops: int) -> dict[str, Any]:
        t = self.settings.train
        crops_per_epoch = t.crops_per_epoch or (MIN_CROPS_PER_EPOCH if n_crops < MIN_CROPS_PER_EPOCH else None)
        return {
            "channels": None,
            "normalize": self._normalize,
            "n_epochs": t.n_epochs,
            "learning_rate": self.learning_rate,
            "weight_decay": t.weight_decay,
            "batch_size": t.batch_size,
            "bsize": t.train_tile,
            "min_train_masks": t.min_train_masks,
            "nimg_per_epoch": crops_per_epoch,
            "rescale": t.rescale,
            "save_path": str(save_path),
            "save_every": t.n_epochs,  # no intermediate copies
            "model_name": "model",
        }

    def _adopt(self, weights: Path) -> None:
        """Predict with what was just trained, as if reloaded from `weights` (CellposeModel reads
        diam_labels, the default prediction scale, only when it loads a file)."""
        self._model.diam_labels = float(self._model.net.diam_labels.item())
        self._model.pretrained_model = str(weights)
        self.weights = weights

    def save_weights(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._model.net.save_model(str(path))
        return path
