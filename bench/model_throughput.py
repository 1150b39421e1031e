"""Model throughput: bare Cellpose `eval` vs this project's backend `predict` on the same crops, and
training seconds per epoch.

    .venv/bin/python bench/model_throughput.py                  # 16 crops of 256 px, CPU or CUDA (auto)
    .venv/bin/python bench/model_throughput.py --crops 64 --size 256 --device cuda --train-crops 32

It first trains a model from scratch on real U2OS nuclei crops (that measures seconds per epoch,
and, with the default 40 epochs of batch size 2, gives a model that finds the cells, so building
masks costs what it costs in real use; or pass --weights to predict with another model), then
times each prediction pipeline on the same crops, interleaving the rounds so machine load affects
them alike, and reports the median. The overhead ratio is bare crops/s divided by the
pipeline's crops/s (goal: <= 1.2). Pipelines are entries of `pipelines()`: the prediction job (crop
pixels from the database, masks stored back) can be added as a third.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from active_learning.backends.cellpose import CellposeBackend, cellpose_modules  # noqa: E402
from active_learning.backends.settings import BackendSettings, parse_backend_settings  # noqa: E402

DATA = REPO / "data" / "dsb2018_u2os"
Pipeline = Callable[[Sequence[np.ndarray]], object]


def load_crops(count: int, size: int, *, skip_images: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`count` crops of size x size, tiled over the shipped images (after the first `skip_images`)."""
    images, masks = [], []
    for path in sorted((DATA / "images").glob("*.png"))[skip_images:]:
        image, mask = np.array(Image.open(path)), np.array(Image.open(DATA / "masks" / path.name))
        for top in range(0, image.shape[0] - size + 1, size):
            for left in range(0, image.shape[1] - size + 1, size):
                images.append(image[top : top + size, left : left + size])
                masks.append(mask[top : top + size, left : left + size])
                if len(images) == count:
                    return images, masks
    raise SystemExit(f"the shipped images hold fewer than {count} crops of {size} px")


def measure_training(backend: CellposeBackend, crops: list[np.ndarray], masks: list[np.ndarray], out: Path) -> dict:
    reports = []
    started = time.perf_counter()
    backend.train(crops, masks, out_dir=out, progress=reports.append)
    total = time.perf_counter() - started
    # Epoch 1 includes train_seg's set-up (flows, diameters, normalisation); later epochs are pure training.
    per_epoch = (reports[-1].elapsed_s - reports[0].elapsed_s) / (len(reports) - 1)
    return {
        "train_crops": len(crops),
        "epochs": len(reports),
        "train_tile": backend.settings.train.train_tile,
        "s_per_epoch": per_epoch,
        "s_per_crop_epoch": per_epoch / len(crops),
        "setup_s": total - per_epoch * (len(reports) - 1),
        "loss_first_last": (reports[0].loss, reports[-1].loss),
    }


def pipelines(weights: Path, settings: BackendSettings, device: str, batch: int) -> dict[str, Pipeline]:
    """Each way of predicting crops to compare, by name; the first is the reference."""
    models = cellpose_modules().models
    backend = CellposeBackend(weights, settings, device=device)
    p = settings.predict
    bare = models.CellposeModel(pretrained_model=str(weights), device=backend.device, gpu=backend.device.type != "cpu")

    def bare_eval(crops: Sequence[np.ndarray]) -> object:
        # How a Cellpose user predicts a list of grey crops.
        return bare.eval(list(crops), channels=[0, 0], diameter=p.diameter, flow_threshold=p.flow_threshold,
                         cellprob_threshold=p.cellprob_threshold, batch_size=p.batch_size)  # fmt: skip

    def backend_predict(crops: Sequence[np.ndarray]) -> object:
        # As the prediction job calls it: batches of crops.
        return [backend.predict(crops[i : i + batch]) for i in range(0, len(crops), batch)]

    return {"bare cellpose eval": bare_eval, "backend predict": backend_predict}


def time_pipelines(runs: dict[str, Pipeline], crops: list[np.ndarray], rounds: int) -> dict[str, float]:
    """Median crops/s of each pipeline; rounds interleave the pipelines so load hits them alike."""
    for run in runs.values():
        run(crops[:1])  # warm-up: first-call costs (allocations, numba, cuDNN autotuning)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run(crops)
            seconds[name].append(time.perf_counter() - started)
    return {name: len(crops) / statistics.median(values) for name, values in seconds.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crops", type=int, default=16, help="crops to predict (default 16)")
    parser.add_argument("--size", type=int, default=256, help="crop side in pixels (default 256)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--batch", type=int, default=8, help="crops per backend.predict call (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds per pipeline (default 3)")
    parser.add_argument("--train-crops", type=int, default=8, help="crops to train on (default 8)")
    parser.add_argument("--train-epochs", type=int, default=40, help="epochs to train (>= 3; default 40)")
    parser.add_argument("--train-batch", type=int, default=2, help="training batch size (default 2)")
    parser.add_argument("--train-tile", type=int, default=112, help="training tile side (default 112)")
    parser.add_argument("--weights", type=Path, help="predict with this weights file, not the model trained here")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    import torch

    torch.manual_seed(0)
    started = time.perf_counter()
    cellpose_modules()
    import_s = time.perf_counter() - started
    train = {"n_epochs": args.train_epochs, "batch_size": args.train_batch, "train_tile": args.train_tile,
             "crops_per_epoch": args.train_crops}  # fmt: skip
    settings = parse_backend_settings({"train": train})
    train_crops, train_masks = load_crops(args.train_crops, args.size)
    crops, _ = load_crops(args.crops, args.size, skip_images=10)  # others than the training crops

    backend = CellposeBackend(None, settings, device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        training = measure_training(backend, train_crops, train_masks, Path(tmp))
        runs = pipelines(args.weights or backend.weights, settings, args.device, args.batch)
        speeds = time_pipelines(runs, crops, args.rounds)
    if args.weights:
        backend = CellposeBackend(args.weights, settings, device=args.device)
    n_cells = sum(int(p.masks.max()) for p in backend.predict(crops[:4]))
    report(args, backend, import_s, training, speeds, n_cells)


def report(args: argparse.Namespace, backend: CellposeBackend, import_s: float, training: dict,
           speeds: dict[str, float], n_cells: int) -> None:  # fmt: skip
    reference = next(iter(speeds.values()))
    device = str(backend.device)
    if backend.device.type == "cuda":
        import torch

        device += f" ({torch.cuda.get_device_name(backend.device)})"
    print(f"device: {device}; cellpose import {import_s:.1f} s")
    print(f"training: {training['train_crops']} crops of {args.size} px, {training['epochs']} epochs, "
          f"{training['train_tile']} px tiles: {training['s_per_epoch']:.2f} s/epoch "
          f"({training['s_per_crop_epoch']:.3f} s per crop-epoch; set-up {training['setup_s']:.1f} s; "
          f"loss {training['loss_first_last'][0]:.3f} -> {training['loss_first_last'][1]:.3f})")  # fmt: skip
    print(f"prediction: {args.crops} crops of {args.size} px, median of {args.rounds} rounds "
          f"({n_cells} cells found in the first 4 crops)")  # fmt: skip
    print(f"  {'pipeline':<24}{'crops/s':>10}{'s/crop':>10}{'overhead':>10}")
    for name, speed in speeds.items():
        print(f"  {name:<24}{speed:>10.2f}{1 / speed:>10.3f}{reference / speed:>9.2f}x")
    if args.json:
        figures = {"device": device, "import_s": import_s, "training": training, "crops_per_s": speeds,
                   "crops": args.crops, "size": args.size}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
