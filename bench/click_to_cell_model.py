"""The model bench/click_to_cell.py measures proposals with: a small Cellpose model fine-tuned as a
project's would be after two rounds. A base trained from scratch on six U2OS crops (the test run's
nuclei model recipe, tests/nuclei_model.py), then two fine-tunes from it, each on the crops
labelled so far plus eight new 192-px crops from images it has not seen, as a retraining after a
round of labelling does. Images 13 and 15-19 are never trained on: they are the unlabelled pool.

    .venv/bin/python bench/click_to_cell_model.py [--out bench/out/click-to-cell] [--torch-threads 1]

Writes <out>/round2/cellpose_weights.pth (and base/, round1/); ~5-8 CPU-minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from active_learning.backends.cellpose import CellposeBackend  # noqa: E402
from active_learning.backends.settings import parse_backend_settings  # noqa: E402
from tests.nuclei_model import RECIPE, TRAIN_IMAGES, u2os_window  # noqa: E402

# Two crops per image (top-left and bottom-right parts), eight per round.
ROUNDS = ((1, 3, 5, 7), (9, 11, 12, 14))
POOL_IMAGES = (13, 15, 16, 17, 18, 19)
FINETUNE = {"train": {"n_epochs": 16, "batch_size": 4, "crops_per_epoch": 16, "train_tile": 112}}


def round_crops(images: tuple[int, ...]) -> list:
    return [u2os_window(i, top, left) for i in images for top, left in ((20, 40), (300, 480))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "click-to-cell")
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.torch_threads)
    crops = [u2os_window(i) for i in TRAIN_IMAGES]
    t0 = time.process_time()
    backend = CellposeBackend(None, parse_backend_settings(RECIPE), device="cpu")
    backend.train([c[0] for c in crops], [c[1] for c in crops], out_dir=args.out / "base")
    print(f"base: {len(crops)} crops, {time.process_time() - t0:.0f} CPU-s", flush=True)
    for n, images in enumerate(ROUNDS, 1):
        crops += round_crops(images)
        tuned = CellposeBackend(backend.weights, parse_backend_settings(FINETUNE), device="cpu")
        tuned.train([c[0] for c in crops], [c[1] for c in crops], out_dir=args.out / f"round{n}")
        backend = tuned
        print(f"round {n}: {len(crops)} crops, {time.process_time() - t0:.0f} CPU-s", flush=True)


if __name__ == "__main__":
    main()
