"""The active-learning loop's figures on an accelerator; a tiny CPU dry run keeps it honest.

    python bench/gpu/loop.py --device cuda --out "$OUT"     # full sizes, on the device machine (bench/gpu/run.sh)
    python bench/gpu/loop.py --tiny --device cpu --out DIR  # the dry run of tests/test_gpu_bench.py

It drives the model backend (active_learning.backends) and the scoring strategies
(active_learning.strategies) directly, as the training, validation and prediction jobs do, but with
no Django rows: no database, no Celery. In order:

1. start model: a network trained from scratch on the training crops, so that the loop fine-tunes
   trained weights (a project's second round onwards) and its predictions find cells;
2. throughput on 256 px crops, per Cellpose tile batch size (`predict.batch_size`): bare Cellpose
   `eval`, the backend's `predict`, and the scoring, all on the same crops;
3. the loop: load the start model, fine-tune it on the training crops (the backend's default
   epochs), evaluate on the validation crops (predict, score, AP), predict and score the pool in
   the prediction job's batches, and rank the pool. Its total is the headline (goal: <= 60 s on
   one H100 for 100 / 50 / 10,000 crops).

Crops are cut from the shipped images (data/dsb2018_u2os, data/dsb2018_brightfield); images are
split between training and validation, and each set is repeated as rotations and flips to reach
the sizes asked for (the output says how many crops are distinct). The pool is scored with the
ground-truth masks standing in for the previous version's predictions (same shapes, same cost).
Writes gpu_bench.md and gpu_bench.json into --out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from active_learning.backends.base import EpochReport  # noqa: E402
from active_learning.backends.cellpose import (  # noqa: E402
    EVAL_TILE,
    STACK_SIZE,
    CellposeBackend,
    cellpose_modules,
    model_input,
)
from active_learning.backends.settings import BackendSettings, parse_backend_settings  # noqa: E402
from active_learning.diversity import compress_style  # noqa: E402
from active_learning.evaluation import errors_by_crop, evaluate_masks  # noqa: E402
from active_learning.outputs import CropPrediction  # noqa: E402
from active_learning.strategies import (  # noqa: E402
    DEFAULT_STRATEGY,
    Calibration,
    ScoringInput,
    get_strategy,
    scored_strategies,
)
from annotations.masks import count_cells, encode_png  # noqa: E402

DATA = REPO / "data"
SOURCES = ("dsb2018_u2os", "dsb2018_brightfield")
VAL_EVERY = 4  # every 4th source image is a validation image: no pixel is in both sets
JOB_BATCH = 8  # crops per predict call in the prediction job (active_learning.prediction.DEFAULT_BATCH_SIZE)
GOAL_S = 60.0


# --- configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    train: int = 100
    val: int = 50
    pool: int = 10_000
    crop: int = 256
    batch_sizes: tuple[int, ...] = (8, 32, 64)
    throughput_crops: int = 256  # crops timed per batch size
    epochs: int | None = None  # None: the backend's default
    crops_per_epoch: int | None = None  # None: the backend's default
    job_batch: int = JOB_BATCH
    tile_batch: int | None = None  # the loop's Cellpose tile batch; None: the backend's default
    device: str = "auto"
    budget_s: float = 420.0  # the pool stops here; its total is then extrapolated
    out: Path = REPO / "bench" / "out" / "gpu"
    tiny: bool = False


# Small enough for two CPU cores in well under a minute, large enough to run every step.
TINY = {"train": 4, "val": 2, "pool": 4, "crop": 128, "batch_sizes": (2, 4), "throughput_crops": 2,
        "epochs": 2, "crops_per_epoch": 4}


def _int_list(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _epochs(text: str) -> int | None:
    return None if text == "default" else int(text)


def parse_args(argv: Sequence[str] | None = None) -> Config:
    # SUPPRESS: only the options given reach Config, so they win over the --tiny preset and the
    # defaults stay in one place (Config); "--epochs default" gives None explicitly.
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0], argument_default=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", default=False, help="the CPU dry-run sizes")
    parser.add_argument("--train", type=int, help="labelled training crops")
    parser.add_argument("--val", type=int, help="validation crops")
    parser.add_argument("--pool", type=int, help="unlabelled crops the loop predicts and scores")
    parser.add_argument("--crop", type=int, help="crop side, pixels")
    parser.add_argument("--batch-sizes", type=_int_list, help="Cellpose tile batch sizes to time, e.g. 8,32,64")
    parser.add_argument("--throughput-crops", type=int, help="crops timed per batch size")
    parser.add_argument("--epochs", type=_epochs, help="training epochs, or 'default' (the backend's)")
    parser.add_argument("--crops-per-epoch", type=int)
    parser.add_argument("--job-batch", type=int, help="crops per predict call in the loop's pool step")
    parser.add_argument("--tile-batch", type=int, help="the loop's Cellpose tile batch (default: the backend's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--budget-s", type=float, help="seconds after the start at which the pool step stops")
    parser.add_argument("--out", type=Path)
    args = vars(parser.parse_args(argv))
    tiny = args.pop("tiny")
    return Config(**{**(TINY if tiny else {}), **args, "tiny": tiny})


def backend_settings(cfg: Config, *, tile_batch: int | None = None) -> BackendSettings:
    """The project defaults, with the run's epochs, crops per epoch and tile batch where given
    (`tile_batch` for a throughput row, else the loop's)."""
    train: dict[str, Any] = {}
    if cfg.epochs is not None:
        train["n_epochs"] = cfg.epochs
    if cfg.crops_per_epoch is not None:
        train["crops_per_epoch"] = cfg.crops_per_epoch
    tile_batch = tile_batch or cfg.tile_batch
    predict = {} if tile_batch is None else {"batch_size": tile_batch}
    return parse_backend_settings({"train": train, "predict": predict})


# --- data ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crop:
    image: np.ndarray  # uint8 (H, W) or (H, W, 3), as stored
    mask: np.ndarray  # uint16 (H, W)


def _read(path: Path) -> np.ndarray:
    image = Image.open(path)
    return np.asarray(image.convert("RGB") if image.mode in ("P", "RGBA") else image)


def _starts(length: int, size: int) -> list[int]:
    """Crop origins covering `length` with the fewest crops of `size` (evenly overlapping)."""
    count = math.ceil(length / size)
    return [round(i * (length - size) / max(count - 1, 1)) for i in range(count)]


def cut(image: np.ndarray, mask: np.ndarray, size: int) -> list[Crop]:
    h, w = mask.shape
    if min(h, w) < size:
        return []
    return [Crop(image[y : y + size, x : x + size], mask[y : y + size, x : x + size])
            for y in _starts(h, size) for x in _starts(w, size)]


def source_crops(size: int) -> tuple[list[Crop], list[Crop]]:
    """Distinct (training, validation) crops from the shipped images, split by image."""
    train: list[Crop] = []
    val: list[Crop] = []
    for source in SOURCES:
        for i, path in enumerate(sorted((DATA / source / "images").glob("*.png"))):
            crops = cut(_read(path), _read(DATA / source / "masks" / path.name), size)
            (val if i % VAL_EVERY == VAL_EVERY - 1 else train).extend(crops)
    return train, val


def variant(crops: Sequence[Crop], index: int) -> Crop:
    """The index-th crop of `crops` repeated endlessly, each pass under another rotation or flip."""
    crop, turn = crops[index % len(crops)], (index // len(crops)) % 8

    def move(a: np.ndarray) -> np.ndarray:
        a = np.rot90(a, turn % 4)
        return np.ascontiguousarray(a[:, ::-1] if turn >= 4 else a)

    return Crop(move(crop.image), move(crop.mask))


def take(crops: Sequence[Crop], start: int, stop: int) -> list[Crop]:
    return [variant(crops, i) for i in range(start, stop)]


# --- timing and the environment --------------------------------------------------------------------


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def environment(device: str) -> dict[str, Any]:
    from importlib.metadata import version

    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "numpy": np.__version__, "cellpose": version("cellpose"),
                            "cpu_count": os.cpu_count(), "device": device, "cuda": torch.version.cuda}
    if device == "cuda":
        _, info["cuda_init_s"] = timed(lambda: torch.zeros(1, device="cuda").sum().item())
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", cudnn=torch.backends.cudnn.version())
    return info


def resolve(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def peak_gpu_gib(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None


# --- scoring, as active_learning.scoring does it for one batch ---------------------------------------


def strategy_names() -> list[str]:
    """The per-crop strategies the default strategy ranks with (what the jobs score)."""
    return [strategy.name for strategy in scored_strategies(DEFAULT_STRATEGY)]


def score_crops(backend: CellposeBackend, predictions: Sequence[CropPrediction],
                previous: Sequence[np.ndarray | None]) -> dict[str, np.ndarray]:
    """Each strategy's score per crop (NaN where it cannot score), plus the style descriptor every
    crop gets. Not included: scoring.content_weight (the blank-crop guard), which lives in a module
    that needs the Django models; the backend's flow errors are measured only when a strategy needs them."""
    names = strategy_names()
    needs_flow = any("flow_errors" in get_strategy(name).needs for name in names)
    columns = {name: np.full(len(predictions), np.nan) for name in names}
    for i, (prediction, before) in enumerate(zip(predictions, previous, strict=True)):
        item = ScoringInput(crop_id=i, prediction=prediction, previous_masks=before,
                            flow_errors=backend.flow_errors(prediction) if needs_flow else None)
        for name in names:
            result = get_strategy(name).score(item)
            columns[name][i] = np.nan if result is None else result.value
        compress_style(prediction.style)
    return columns


def rank_pool(columns: dict[str, np.ndarray], calibration: Calibration) -> np.ndarray:
    """The pool's order by the default strategy, weighed by the validation crops (as the queue does,
    before its diversity step)."""
    strategy = get_strategy(DEFAULT_STRATEGY)
    n = len(next(iter(columns.values())))
    utility = strategy.utility(np.arange(n), columns, 0, weights=strategy.mix_weights(calibration))
    return np.argsort(-np.nan_to_num(utility, nan=-1.0))


# --- 1. the start model ---------------------------------------------------------------------------------


def epoch_figures(history: Sequence[EpochReport], total_s: float) -> dict[str, Any]:
    """Seconds per epoch: the first (which includes train_seg's set-up) and the median of the rest."""
    ends = [report.elapsed_s or 0.0 for report in history]
    steps = [b - a for a, b in zip(ends, ends[1:], strict=False)]
    return {"epochs": len(history), "total_s": round(total_s, 2), "first_epoch_s": round(ends[0], 2) if ends else None,
            "s_per_epoch": round(statistics.median(steps), 3) if steps else None,
            "loss_first_last": [round(history[0].loss, 4), round(history[-1].loss, 4)] if history else None}


def train(backend: CellposeBackend, train_set: Sequence[Crop], val_set: Sequence[Crop], out_dir: Path) -> Any:
    return backend.train([c.image for c in train_set], [c.mask for c in train_set], out_dir=out_dir,
                         val_images=[c.image for c in val_set], val_masks=[c.mask for c in val_set])


def start_model(cfg: Config, device: str, train_set: list[Crop], val_set: list[Crop], work: Path) -> tuple[Path, dict]:
    backend = CellposeBackend(None, backend_settings(cfg), device=device)
    result, seconds = timed(lambda: train(backend, train_set, val_set, work / "start"))
    figures = {"run": "start model (from scratch)", "crops": len(train_set), "val_crops": len(val_set),
               "learning_rate": result.train_settings["learning_rate"], **epoch_figures(result.history, seconds)}
    return result.weights_path, figures


# --- 2. throughput ---------------------------------------------------------------------------------------


def bare_eval(model: Any, backend: CellposeBackend, images: Sequence[np.ndarray]) -> None:
    """Cellpose's own eval on the backend's prepared inputs, in the backend's stacks, same settings."""
    p = backend.settings.predict
    inputs = [model_input(image, backend.settings.channels) for image in images]
    for start in range(0, len(inputs), STACK_SIZE):
        stack = np.stack(inputs[start : start + STACK_SIZE])
        model.eval(stack, channels=None, channel_axis=3, z_axis=0, diameter=p.diameter,
                   normalize={"normalize": backend.settings.normalize, "norm3D": False, "invert": False},
                   flow_threshold=p.flow_threshold, cellprob_threshold=p.cellprob_threshold, min_size=p.min_size,
                   tile_overlap=p.tile_overlap, batch_size=p.batch_size, bsize=EVAL_TILE)


def throughput_row(cfg: Config, weights: Path, device: str, crops: list[Crop], tile_batch: int) -> dict[str, Any]:
    backend = CellposeBackend(weights, backend_settings(cfg, tile_batch=tile_batch), device=device)
    model = cellpose_modules().models.CellposeModel(pretrained_model=str(weights), gpu=device != "cpu",
                                                    device=backend.device, mkldnn=False)
    images, n = [c.image for c in crops], len(crops)
    bare_eval(model, backend, images[: min(n, STACK_SIZE)])  # warm-up: cuDNN picks its kernels per shape
    _, bare_s = timed(lambda: bare_eval(model, backend, images))
    predictions, predict_s = timed(lambda: backend.predict(images))
    _, score_s = timed(lambda: score_crops(backend, predictions, [c.mask for c in crops]))
    return {"tile_batch": tile_batch, "crops": n, "bare_crops_per_s": round(n / bare_s, 2),
            "predict_crops_per_s": round(n / predict_s, 2), "predict_overhead": round(predict_s / bare_s, 3),
            "score_crops_per_s": round(n / score_s, 2),
            "predict_score_crops_per_s": round(n / (predict_s + score_s), 2),
            "cells_per_crop": round(float(np.mean([count_cells(p.masks) for p in predictions])), 1)}


# --- 3. the loop ------------------------------------------------------------------------------------------


@dataclass
class LoopTimes:
    steps: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def run(self, step: str, call: Callable[[], Any]) -> Any:
        result, self.steps[step] = timed(call)
        return result


def evaluate(backend: CellposeBackend, val_set: list[Crop]) -> tuple[Calibration, dict[str, Any]]:
    """As active_learning.validation: predict, score (the default strategy calibrates), AP."""
    predictions = backend.predict([c.image for c in val_set])
    columns = score_crops(backend, predictions, [c.mask for c in val_set])
    metrics = evaluate_masks([c.mask for c in val_set], [p.masks for p in predictions])
    for i, entry in enumerate(metrics["per_crop"]):
        entry["crop"] = i
    errors = errors_by_crop(metrics)
    calibration = Calibration(columns=columns, errors=np.array([errors[i] for i in range(len(val_set))]))
    return calibration, {k: metrics[k] for k in ("ap50", "ap75", "ap90")}


def store(predictions: Sequence[CropPrediction]) -> None:
    """What active_learning.prediction.store_predictions computes per crop, short of the database insert."""
    for prediction in predictions:
        encode_png(prediction.masks)
        count_cells(prediction.masks)


def predict_pool(cfg: Config, backend: CellposeBackend, pool: list[Crop], deadline: float,
                 times: LoopTimes) -> dict[str, np.ndarray]:
    """The prediction job: predict, store and score in batches of cfg.job_batch, until done or the
    deadline (at least one batch); a stopped pool's times are extrapolated to all of it."""
    parts: list[dict[str, np.ndarray]] = []
    spent = dict.fromkeys(("predict_pool", "store_pool", "score_pool"), 0.0)
    done = 0
    while done < cfg.pool and (done == 0 or time.perf_counter() < deadline):
        batch = take(pool, done, min(done + cfg.job_batch, cfg.pool))
        predictions, seconds = timed(lambda b=batch: backend.predict([c.image for c in b]))
        spent["predict_pool"] += seconds
        spent["store_pool"] += timed(lambda p=predictions: store(p))[1]
        columns, seconds = timed(lambda b=batch, p=predictions: score_crops(backend, p, [c.mask for c in b]))
        spent["score_pool"] += seconds
        parts.append(columns)
        done += len(batch)
    times.steps.update({step: seconds * cfg.pool / done for step, seconds in spent.items()})
    times.notes.update(pool_done=done, pool_extrapolated=done < cfg.pool)
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def run_loop(cfg: Config, device: str, weights: Path, sets: tuple[list[Crop], list[Crop], list[Crop]],
             work: Path, deadline: float) -> dict[str, Any]:
    train_set, val_set, pool = sets
    times = LoopTimes()
    backend = times.run("load_model", lambda: CellposeBackend(weights, backend_settings(cfg), device=device))
    times.notes.update(job_batch=cfg.job_batch, tile_batch=backend.settings.predict.batch_size)
    result = times.run("fine_tune", lambda: train(backend, train_set, val_set, work / "loop"))
    calibration, ap = times.run("evaluate", lambda: evaluate(backend, val_set))
    columns = predict_pool(cfg, backend, pool, deadline, times)
    times.run("rank_pool", lambda: rank_pool(columns, calibration))
    total = sum(times.steps.values())
    return {"steps_s": {k: round(v, 2) for k, v in times.steps.items()}, "total_s": round(total, 2),
            "goal_s": GOAL_S, "meets_goal": total <= GOAL_S, **times.notes, "validation": ap,
            "training": {"run": "loop fine-tune", "crops": len(train_set), "val_crops": len(val_set),
                         "learning_rate": result.train_settings["learning_rate"],
                         **epoch_figures(result.history, times.steps["fine_tune"])}}


# --- the report --------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        if isinstance(value, float):  # learning rates are small: significant digits, not decimals
            return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"
        return "-" if value is None else str(value)

    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)]


def markdown(report: dict[str, Any]) -> str:
    env, data, loop = report["environment"], report["data"], report["loop"]
    where = env.get("gpu") or f"CPU ({env['cpu_count']} cores)"
    steps = [(name, seconds) for name, seconds in loop["steps_s"].items()]
    trainings = [report["start_model"], loop["training"]]
    lines = [
        f"# The active-learning loop on {where}", "",
        f"torch {env['torch']} (CUDA {env['cuda']}), numpy {env['numpy']}, cellpose {env['cellpose']}, "
        f"Python {env['python']}; device {env['device']}" + (f", CUDA start {env['cuda_init_s']:.2f} s" if
                                                                "cuda_init_s" in env else ""),
        f"Crops of {data['crop']} px: {data['train']} training ({data['distinct_train']} distinct), {data['val']} "
        f"validation ({data['distinct_val']} distinct), {data['pool']} pool ({data['distinct_pool']} distinct); "
        "repeats are rotations and flips.", "",
        f"## Loop: total {loop['total_s']:.2f} s (goal <= {loop['goal_s']:.0f} s on one H100)"
        + (f"; pool extrapolated from {loop['pool_done']} crops" if loop["pool_extrapolated"] else ""), "",
        f"Pool predicted {loop['job_batch']} crops per call, tile batch {loop['tile_batch']}.", "",
        *_table(["step", "seconds"], [*steps, ("total", loop["total_s"])]), "",
        f"Validation AP@0.5 / 0.75 / 0.9: {loop['validation']['ap50']} / {loop['validation']['ap75']} / "
        f"{loop['validation']['ap90']}", "",
        "## Training", "",
        *_table(["run", "crops", "epochs", "learning rate", "first epoch s", "s/epoch after", "total s"],
                [(t["run"], t["crops"], t["epochs"], t["learning_rate"], t["first_epoch_s"], t["s_per_epoch"],
                  t["total_s"]) for t in trainings]), "",
        f"## Throughput, crops/s ({data['crop']} px crops)", "",
        *_table(["tile batch", "crops", "bare eval", "predict", "predict/bare time", "score", "predict+score",
                 "cells/crop"],
                [(r["tile_batch"], r["crops"], r["bare_crops_per_s"], r["predict_crops_per_s"], r["predict_overhead"],
                  r["score_crops_per_s"], r["predict_score_crops_per_s"], r["cells_per_crop"])
                 for r in report["throughput"]]), "",
        "Notes:", *(f"- {note}" for note in report["notes"]),
    ]
    return "\n".join(lines) + "\n"


NOTES = (
    "Scoring = the default strategy's per-crop components (the backend's flow errors included) and the style "
    "descriptor; not the blank-crop guard (active_learning.scoring.content_weight), which sits in a module that "
    "needs the Django models.",
    "The pool's previous-version masks are the ground-truth masks (same shapes, same cost).",
    "store_pool: PNG-encoding the masks and counting cells, as the prediction job stores them, without the "
    "database insert.",
    "The loop's pool step predicts in calls of the prediction job's batch of crops (--job-batch), with the "
    "loop's tile batch (--tile-batch, default the backend's); the throughput table varies the tile batch over "
    "whole stacks of crops.",
    "Skipped: the one-click proposal latency (no such tool yet).",
)


def write(report: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    (out / "gpu_bench.md").write_text(text)
    (out / "gpu_bench.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return text


# --- the run ---------------------------------------------------------------------------------------------


def configure_django(models_dir: Path) -> None:
    """Importing labelserver.errors runs labelserver/__init__ (the Celery app), which points
    DJANGO_SETTINGS_MODULE at the full project settings; the backend then reads settings.LABELSERVER.
    Settings configured here, with no apps and no database, keep the project settings (and their
    imports) out: the device machine has none of them."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(LABELSERVER={"CELLPOSE_MODELS_DIR": str(models_dir)})


def imported_distributions() -> list[str]:
    """The installed distributions this run imported (the wheel list is checked against it)."""
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    return sorted({dist for name in list(sys.modules) for dist in owners.get(name.partition(".")[0], [])})


def run(cfg: Config, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    deadline = started + cfg.budget_s
    configure_django(work / "models")
    device = resolve(cfg.device)
    env = environment(device)
    train_src, val_src = source_crops(cfg.crop)
    pool_src = train_src + val_src
    train_set, val_set = take(train_src, 0, cfg.train), take(val_src, 0, cfg.val)
    weights, start_figures = start_model(cfg, device, train_set, val_set, work)
    crops = take(pool_src, 0, cfg.throughput_crops)
    rows = [throughput_row(cfg, weights, device, crops, size) for size in cfg.batch_sizes]
    loop = run_loop(cfg, device, weights, (train_set, val_set, pool_src), work, deadline)
    data = {"crop": cfg.crop, "train": cfg.train, "val": cfg.val, "pool": cfg.pool,
            "distinct_train": min(cfg.train, 8 * len(train_src)), "distinct_val": min(cfg.val, 8 * len(val_src)),
            "distinct_pool": min(cfg.pool, 8 * len(pool_src)), "source_crops": len(pool_src)}
    return {"config": {**asdict(cfg), "out": str(cfg.out)}, "environment": env, "data": data,
            "backend_settings": backend_settings(cfg).to_dict(), "strategy": DEFAULT_STRATEGY,
            "scored_strategies": strategy_names(), "start_model": start_figures,
            "throughput": rows, "loop": loop, "peak_gpu_gib": peak_gpu_gib(device), "notes": list(NOTES),
            "wall_s": round(time.perf_counter() - started, 2), "imported_distributions": imported_distributions()}


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        report = run(cfg, Path(tmp))
    print(write(report, cfg.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
