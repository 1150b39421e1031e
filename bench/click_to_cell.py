"""One click turns a missed cell into a mask: how often, how well, how fast.

A model (bench/click_to_cell_model.py: a base from scratch plus two fine-tunes, as a project's
after two rounds) predicts 256-px crops of the shipped U2OS images it never trained on. For every
true cell the prediction misses (no predicted cell at IoU >= 0.5), one click at the cell's most
interior point is simulated and the proposal compared with the truth: the share recovered at IoU
>= 0.5 and >= 0.75, the median IoU, the proposals that spill into other true cells (>= 10 % of the
proposal's pixels in them), and the latency of the proposal itself. Rows:

  baseline -2    the issue's calibration: one Cellpose reconstruction at cellprob threshold -2 in
                 a 96-px window, the cell under the click;
  flows          the shipped rule (backends/proposals.propose_point) on the maps as predicted;
  flows int8     the same on the maps as stored (quantised: what the server uses);
  best candidate the best of the rule's candidates (what a perfect choice would reach);
  classical      no model: threshold + watershed of the crop's pixels around the click; also
                 on every true cell (where it serves: a project with no model has no misses).

Then a click on each yellow ring (the missed_cells strategy's places, what the editor circles)
instead of on the truth, and the bytes the stored maps take. Over HTTP: bench/click_to_cell_http.py.

    .venv/bin/python bench/click_to_cell.py [--weights bench/out/click-to-cell/round2/cellpose_weights.pth]
        [--images 13,15,16,17,18,19] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelserver.settings")
os.environ.setdefault("DEBUG", "1")

from active_learning.backends import proposals as P  # noqa: E402
from active_learning.backends.cellpose import CellposeBackend  # noqa: E402
from active_learning.backends.settings import parse_backend_settings  # noqa: E402
from active_learning.evaluation import cell_ious  # noqa: E402
from active_learning.outputs import CropPrediction  # noqa: E402
from active_learning.strategies.base import ScoringInput  # noqa: E402
from active_learning.strategies.missed_cells import near_cells  # noqa: E402
from tests.nuclei_model import u2os_window  # noqa: E402

CROP = 256
SPILL = 0.10  # a proposal spills when this share of its pixels lies in other true cells


@dataclass
class Crop:
    image: np.ndarray
    truth: np.ndarray
    prediction: CropPrediction
    maps: P.Maps
    stored: P.Maps  # after int8 quantisation
    diameter: float


@dataclass
class Outcome:
    iou: float
    spill: bool
    ms: float


def pool(images: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Four 256-px crops of each image (its top-left 512 x 512)."""
    return [u2os_window(i, top, left, CROP) for i in images for top in (0, 256) for left in (0, 256)]


def median_diameter(labels: np.ndarray) -> float:
    _, counts = np.unique(labels[labels > 0], return_counts=True)
    return float(2 * np.sqrt(np.median(counts) / np.pi)) if counts.size else 30.0


def missed(truth: np.ndarray, predicted: np.ndarray) -> list[int]:
    iou, true_ids, _ = cell_ious(truth, predicted)
    best = iou.max(axis=1) if iou.shape[1] else np.zeros(len(true_ids))
    return [int(t) for t, b in zip(true_ids, best, strict=True) if b < 0.5]


def interior_point(cell: np.ndarray) -> tuple[float, float]:
    """(x, y) of the cell's pixel farthest from its edge, at the pixel's centre."""
    row, col = np.unravel_index(np.argmax(ndimage.distance_transform_edt(cell)), cell.shape)
    return col + 0.5, row + 0.5


def judge(mask: np.ndarray, truth: np.ndarray, cell_id: int) -> tuple[float, bool]:
    """IoU with the true cell and whether it spills into other true cells."""
    proposed = mask > 0
    if not proposed.any():
        return 0.0, False
    true = truth == cell_id
    iou = np.count_nonzero(proposed & true) / np.count_nonzero(proposed | true)
    others = np.count_nonzero(proposed & (truth > 0) & ~true) / np.count_nonzero(proposed)
    return float(iou), others >= SPILL


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    mask = fn()
    return mask, 1000 * (time.perf_counter() - t0)


def baseline(maps: P.Maps, x: float, y: float) -> np.ndarray:
    """The issue's calibration: Cellpose at threshold -2 in a 96-px window, the cell under the click."""
    window = P.box_window(maps.shape, (x - 48, y - 48, x + 48, y + 48))
    inds, ends = P.follow(maps, window, -2.0)
    labels = P.reconstruct(inds, ends, np.ones(inds.shape[1], bool), (window.height, window.width))
    seed = P._seed(window, x, y)
    out = np.zeros(maps.shape, np.uint16)
    if labels[seed]:
        out[window.slices] = labels == labels[seed]
    return out


def best_candidate(maps: P.Maps, x: float, y: float, diameter: float, truth: np.ndarray, cell_id: int) -> np.ndarray:
    window = P.cell_window(maps.shape, x, y, diameter)
    found = P.candidates_at(maps, window, P._seed(window, x, y), diameter, P.Deadline(None))
    out = np.zeros(maps.shape, np.uint16)
    scored = [(judge(P._placed(maps.shape, window, [c.mask]).mask, truth, cell_id)[0], c) for c in found]
    if scored:
        out[window.slices] = max(scored, key=lambda s: s[0])[1].mask
    return out


def methods(crop: Crop, x: float, y: float, cell_id: int) -> dict[str, Callable[[], np.ndarray]]:
    d = crop.diameter
    return {
        "baseline -2": lambda: baseline(crop.maps, x, y),
        "flows": lambda: P.propose_point(crop.maps, x, y, diameter=d).mask,
        "flows int8": lambda: P.propose_point(crop.stored, x, y, diameter=d).mask,
        "best candidate": lambda: best_candidate(crop.stored, x, y, d, crop.truth, cell_id),
        "classical": lambda: P.classical_point(crop.image, x, y, diameter=d).mask,
    }


def summary(name: str, outcomes: list[Outcome]) -> str:
    ious = np.array([o.iou for o in outcomes])
    ms = np.array([o.ms for o in outcomes])
    return (f"| {name} | {np.mean(ious >= 0.5):.0%} | {np.mean(ious >= 0.75):.0%} | {np.median(ious):.2f} | "
            f"{np.mean([o.spill for o in outcomes]):.0%} | {np.percentile(ms, 50):.0f} | {np.percentile(ms, 95):.0f} |")


def load_crops(weights: Path, images: list[int]) -> list[Crop]:
    """The pool's crops with the model's predictions (kept beside the weights: predicting is the slow part)."""
    pairs = pool(images)
    cache = weights.parent / f"pool-{'-'.join(map(str, images))}.npz"
    if cache.exists():
        with np.load(cache) as saved:
            predictions = [CropPrediction(saved["masks"][i], saved["cellprob"][i], saved["flows"][i], saved["style"][i])
                           for i in range(len(pairs))]
    else:
        backend = CellposeBackend(weights, parse_backend_settings({}), device="cpu")
        predictions = backend.predict([image for image, _ in pairs])
        np.savez(cache, **{name: np.stack([getattr(p, name) for p in predictions])
                           for name in ("masks", "cellprob", "flows", "style")})
    crops = []
    for (image, truth), prediction in zip(pairs, predictions, strict=True):
        maps = P.Maps(prediction.cellprob, prediction.flows)
        diameter = median_diameter(prediction.masks)
        crops.append(Crop(image, truth, prediction, maps, P.quantised(maps), diameter))
    return crops


def click_on_truth(crops: list[Crop]) -> dict[str, list[Outcome]]:
    results: dict[str, list[Outcome]] = {}
    for crop in crops:
        for cell_id in missed(crop.truth, crop.prediction.masks):
            x, y = interior_point(crop.truth == cell_id)
            for name, fn in methods(crop, x, y, cell_id).items():
                mask, ms = timed(fn)
                results.setdefault(name, []).append(Outcome(*judge(mask, crop.truth, cell_id), ms))
    return results


def click_on_rings(crops: list[Crop]) -> str:
    """Each ring's click: does it give a missed cell (IoU >= 0.5 with one)? Which missed cells do
    the rings' clicks recover?"""
    n_rings = hits = recovered = n_missed = 0
    for crop in crops:
        misses = missed(crop.truth, crop.prediction.masks)
        n_missed += len(misses)
        found: set[int] = set()
        for region in near_cells(ScoringInput(0, crop.prediction))[1]:
            n_rings += 1
            mask = P.propose_point(crop.stored, region.x, region.y, diameter=crop.diameter).mask
            best = max(((judge(mask, crop.truth, c)[0], c) for c in misses), default=(0.0, 0))
            if best[0] >= 0.5:
                hits += 1
                found.add(best[1])
        recovered += len(found)
    return (f"rings: {n_rings} in {len(crops)} crops; {hits / max(n_rings, 1):.0%} of ring clicks give a missed "
            f"cell at IoU >= 0.5; ring clicks recover {recovered} of {n_missed} missed cells "
            f"({recovered / max(n_missed, 1):.0%})")


def classical_on_any_cell(crops: list[Crop]) -> list[Outcome]:
    """The classical proposal where it is used, with no model yet: a click on any true cell."""
    outcomes = []
    for crop in crops:
        for cell_id in np.unique(crop.truth[crop.truth > 0]):
            x, y = interior_point(crop.truth == cell_id)
            d = crop.diameter
            mask, ms = timed(lambda x=x, y=y, crop=crop, d=d: P.classical_point(crop.image, x, y, diameter=d).mask)
            outcomes.append(Outcome(*judge(mask, crop.truth, int(cell_id)), ms))
    return outcomes


def storage(crops: list[Crop]) -> str:
    sizes = [len(P.pack_maps(c.prediction.cellprob, c.prediction.flows)) for c in crops]
    mean = float(np.mean(sizes))
    return (f"stored maps: {mean / 1000:.1f} kB per 256-px crop (min {min(sizes) / 1000:.1f}, max "
            f"{max(sizes) / 1000:.1f}); {mean * 10_000 / 1e9:.2f} GB per 10,000 crops")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path,
                        default=REPO / "bench" / "out" / "click-to-cell" / "round2" / "cellpose_weights.pth")
    parser.add_argument("--images", default="13,15,16,17,18,19")
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    import django
    import torch

    django.setup()
    torch.set_num_threads(args.torch_threads)
    crops = load_crops(args.weights, [int(i) for i in args.images.split(",")])
    P.warm_up()
    results = click_on_truth(crops)
    n = len(next(iter(results.values()), []))
    n_true = sum(len(np.unique(c.truth)) - 1 for c in crops)
    print(f"{len(crops)} crops, {n_true} true cells, {n} missed by the prediction ({n / max(n_true, 1):.0%})")
    print("| proposal | recovered IoU>=0.5 | IoU>=0.75 | median IoU | spills | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, outcomes in results.items():
        print(summary(name, outcomes))
    print(summary("classical, any true cell", classical_on_any_cell(crops)))
    print(click_on_rings(crops))
    print(storage(crops))


if __name__ == "__main__":
    main()
