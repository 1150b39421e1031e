"""Do the editor's yellow rings point at cells the model missed? A model predicts the crops of a
labelled folder (images/<id>.png + masks/<id>.png); the `missed_cells` strategy's places (what
the editor circles) are compared with the true cells the prediction missed (no predicted cell
matches them at IoU 0.5), side by side with as many rings of the same sizes dropped uniformly on
the background the prediction left (outside its cells and their ring): what a labeller would
find by looking at random.

A place "hits" when a missed cell lies within its radius of its centre; a missed cell is "found"
when some place hits it. The ratio is the places' hit rate over the random rings' (1 = no better
than looking anywhere). Each row takes each crop's first k places (largest first, the order the
editor gets them in): circled = places per crop, hit = share of them that hit, found = share of
the missed cells found.

    .venv/bin/python bench/missed_places.py bench/out/fluo-shift/pool --weights bench/out/fluo-shift/base.pth \\
        --crop-size 192 [--max-images 30] [--fine-tune 16] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelserver.settings")  # the image readers' size limit
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from active_learning.backends.cellpose import CellposeBackend  # noqa: E402
from active_learning.backends.settings import parse_backend_settings  # noqa: E402
from active_learning.evaluation import cell_ious  # noqa: E402
from active_learning.strategies.base import ScoringInput  # noqa: E402
from active_learning.strategies.missed_cells import MissedCellsStrategy, Region, near_cells  # noqa: E402
from annotations.imaging import read_label_image, read_pixels  # noqa: E402

BATCH = 8
# Orders of a crop's regions to compare (the editor's is by area, largest first).
ORDERS: dict[str, Callable[[Region], float]] = {
    "area": lambda r: -r.area, "mass": lambda r: -r.mass, "peak": lambda r: -r.peak}
RANDOM_DRAWS = 20  # random ring sets per crop, averaged


def tiles(image: np.ndarray, mask: np.ndarray, size: int):
    """Non-overlapping size x size crops (the image itself when it is smaller)."""
    height, width = mask.shape
    for top in range(0, max(height - size, 0) + 1, size):
        for left in range(0, max(width - size, 0) + 1, size):
            yield image[top : top + size, left : left + size], mask[top : top + size, left : left + size]


def missed_cells(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Ids of the true cells no predicted cell matches at IoU >= 0.5."""
    iou, ids_true, _ = cell_ious(truth, predicted)
    if iou.shape[1] == 0:
        return ids_true
    return ids_true[iou.max(axis=1) < 0.5]


def hit_flags(places: np.ndarray, near_missed: np.ndarray, labels_near: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """For each place (rows x, y, radius): whether a missed cell lies within its radius of its
    centre, and which cell (0: none)."""
    flags, cells = np.zeros(len(places), bool), []
    for k, (x, y, radius) in enumerate(places):
        px, py = min(int(x), near_missed.shape[1] - 1), min(int(y), near_missed.shape[0] - 1)
        flags[k] = near_missed[py, px] <= radius
        cells.append(int(labels_near[py, px]) if flags[k] else 0)
    return flags, cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument("--max-images", type=int)
    parser.add_argument("--torch-threads", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fine-tune", type=int, default=0, metavar="N",
                        help="first fine-tune the weights on N of the crops (drawn by --seed; backend defaults, "
                             "--epochs epochs), as a project's serving model is, and measure on the others")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    rng = np.random.default_rng(args.seed)
    backend = CellposeBackend(args.weights, parse_backend_settings({"train": {"n_epochs": args.epochs}}), device="cpu")
    strategy = MissedCellsStrategy()
    paths = sorted((args.dataset / "images").glob("*.png"))[: args.max_images]
    crops = [crop for path in paths
             for crop in tiles(read_pixels(path), read_label_image(args.dataset / "masks" / path.name), args.crop_size)]
    if args.fine_tune:
        order = rng.permutation(len(crops))
        train = [crops[i] for i in order[: args.fine_tune]]
        crops = [crops[i] for i in sorted(order[args.fine_tune :])]
        with tempfile.TemporaryDirectory() as out:
            backend.train([image for image, _ in train], [mask for _, mask in train], out_dir=Path(out))
        print(f"fine-tuned on {len(train)} crops for {args.epochs} epochs")
    firsts = (1, 3, 5, 10, None)  # each crop's first k places (largest first, as the editor lists them)
    n = {"crops": 0, "true": 0, "missed": 0}
    places_k = dict.fromkeys(firsts, 0)
    hits_k, chance_k = dict.fromkeys(firsts, 0.0), dict.fromkeys(firsts, 0.0)
    found_k, chance_found_k = dict.fromkeys(firsts, 0.0), dict.fromkeys(firsts, 0.0)
    by_order = {(name, k): [0.0, 0.0] for name in ORDERS for k in firsts[:3]}  # hits, missed cells found
    for start in range(0, len(crops), BATCH):
        batch = crops[start : start + BATCH]
        for (_, truth), prediction in zip(batch, backend.predict([image for image, _ in batch]), strict=True):
            truth = truth.astype(np.int64)
            missed = missed_cells(truth, prediction.masks)
            item = ScoringInput(0, prediction)
            places = np.array(strategy.score(item).places, dtype=float).reshape(-1, 3)
            missed_mask = np.isin(truth, missed) & (truth > 0)
            # Distance from every pixel to the nearest missed-cell pixel, and which cell that is.
            distance, (iy, ix) = ndimage.distance_transform_edt(~missed_mask, return_indices=True)
            nearest = truth[iy, ix]
            flags, cells = hit_flags(places, distance, nearest)
            # The same rings dropped at random on the background the prediction left.
            background = np.argwhere(item.cells_with_ring == 0)
            draws = []
            if len(places) and len(background):
                for _ in range(RANDOM_DRAWS):
                    spots = background[rng.integers(0, len(background), len(places))]
                    drawn = np.column_stack([spots[:, 1] + 0.5, spots[:, 0] + 0.5, places[:, 2]])
                    draws.append(hit_flags(drawn, distance, nearest))
            # The same regions in other orders: which should the editor list first?
            _, regions = near_cells(item)
            for name, key in ORDERS.items():
                ranked = sorted(regions, key=key)
                others = np.array([(r.x, r.y, r.radius) for r in ranked], dtype=float).reshape(-1, 3)
                order_flags, order_cells = hit_flags(others, distance, nearest)
                for k in firsts[:3]:
                    by_order[name, k][0] += float(order_flags[:k].sum())
                    by_order[name, k][1] += len({c for c in order_cells[:k] if c})
            for k in firsts:
                places_k[k] += len(places[:k])
                hits_k[k] += float(flags[:k].sum())
                found_k[k] += len({c for c in cells[:k] if c})
                for random_flags, random_cells in draws:
                    chance_k[k] += float(random_flags[:k].sum()) / RANDOM_DRAWS
                    chance_found_k[k] += len({c for c in random_cells[:k] if c}) / RANDOM_DRAWS
            n["crops"] += 1
            n["true"] += int(len(np.unique(truth)) - (truth == 0).any())
            n["missed"] += len(missed)
    model = args.weights.name + (f", fine-tuned on {args.fine_tune} crops" if args.fine_tune else "")
    print(f"{args.dataset} with {model}: {n['crops']} crops of {args.crop_size} px, "
          f"{n['true']} true cells, {n['missed']} missed at IoU 0.5 ({n['missed'] / max(n['true'], 1):.0%})")
    print(f"{'places per crop':18} {'circled':>8} {'hit':>6} {'random':>7} {'ratio':>6} {'found':>6} {'random':>7}")
    for k in firsts:
        rate, chance = hits_k[k] / max(places_k[k], 1), chance_k[k] / max(places_k[k], 1)
        print(f"{'first ' + str(k) if k else 'all':18} {places_k[k] / max(n['crops'], 1):8.1f} {rate:6.0%} "
              f"{chance:7.0%} {rate / max(chance, 1e-9):6.2f} {found_k[k] / max(n['missed'], 1):6.0%} "
              f"{chance_found_k[k] / max(n['missed'], 1):7.0%}")
    print("other orders, each crop's first k places: hit / found")
    for name in ORDERS:
        print(f"  by {name:5}" + "".join(
            f"   first {k}: {by_order[name, k][0] / max(places_k[k], 1):4.0%} / "
            f"{by_order[name, k][1] / max(n['missed'], 1):4.0%}" for k in firsts[:3]))


if __name__ == "__main__":
    main()
