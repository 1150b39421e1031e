"""Prepare a fine-tuning simulation: a base model trained on some experiments of a labelled set,
and a pool of the other experiments to label.

    .venv/bin/python bench/domain_shift.py ../shared/data/dsb2018_fluo --pool-shapes 360x360,512x640 \\
        --out bench/out/fluo-shift
    .venv/bin/python bench/domain_shift.py ../shared/data/dsb2018_brightfield --base-images 15 \\
        --out bench/out/bf-shift

Labs fine-tune a pretrained model (Cellpose's `nuclei`, `cyto3`) on their own images; that is the
case active learning is for. Those weights cannot be downloaded on this machine, so this script
makes a stand-in: it splits a dataset (layout images/<id>.png + masks/<id>.png + meta.csv with
id,height,width as in ../shared/data) by image shape, which in the Data Science Bowl sets follows
the experiment, or by name, then

* links the images of the `--pool-shapes` into OUT/pool/{images,masks} (the simulation's dataset),
  or, for a set of one shape (`dsb2018_brightfield`), all but the `--base-images N` whose ids sort
  first (a split by name: the same experiments on both sides, a base model that has seen few images),
* trains a Cellpose network from scratch on all the other images, with the backend's default
  training settings (or --epochs), and saves it as OUT/base.pth with OUT/base.json (the images it
  saw, its training history and seconds).

Then run the simulation from that start:

    python manage.py simulate_labelling bench/out/fluo-shift/pool \\
        --start-from weights:$PWD/bench/out/fluo-shift/base.pth ...
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from active_learning.backends.cellpose import CellposeBackend  # noqa: E402
from active_learning.backends.settings import parse_backend_settings  # noqa: E402


def read_meta(dataset: Path) -> list[dict[str, str]]:
    meta = dataset / "meta.csv"
    if not meta.exists():
        sys.exit(f"{meta} is missing: the split needs each image's height and width (id,height,width,...)")
    with open(meta, newline="") as handle:
        return list(csv.DictReader(handle))


def shape_of(row: dict[str, str]) -> str:
    return f"{row['height']}x{row['width']}"


def link_pool(dataset: Path, ids: list[str], out: Path) -> None:
    for folder in ("images", "masks"):
        target = out / folder
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob("*.png"):
            stale.unlink()
        for name in ids:
            (target / f"{name}.png").symlink_to((dataset / folder / f"{name}.png").resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    split = parser.add_mutually_exclusive_group(required=True)
    split.add_argument("--pool-shapes", help="comma-separated HxW shapes kept for the pool")
    split.add_argument("--base-images", type=int, help="train the base on the N images whose ids sort first")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "domain-shift")
    parser.add_argument("--epochs", type=int, help="train.n_epochs of the base model (default: the backend's)")
    parser.add_argument("--seed", type=int, default=0, help="the base network's initial weights")
    parser.add_argument("--torch-threads", type=int)
    args = parser.parse_args()

    rows = read_meta(args.dataset)
    if args.pool_shapes is not None:
        pool_shapes = {s.strip() for s in args.pool_shapes.split(",") if s.strip()}
        unknown = pool_shapes - {shape_of(r) for r in rows}
        if unknown:
            sys.exit(f"no images of shape {', '.join(sorted(unknown))} in {args.dataset / 'meta.csv'}")
        pool = sorted(r["id"] for r in rows if shape_of(r) in pool_shapes)
        base = sorted(r["id"] for r in rows if shape_of(r) not in pool_shapes)
        described = f"of {', '.join(sorted(pool_shapes))}"
    else:
        ids = sorted(r["id"] for r in rows)
        if not 0 < args.base_images < len(ids):
            sys.exit(f"--base-images must be between 1 and {len(ids) - 1}: {args.dataset} has {len(ids)} images")
        base, pool = ids[: args.base_images], ids[args.base_images :]
        pool_shapes, described = set(), f"whose ids sort after the base's {len(base)}"
    link_pool(args.dataset, pool, args.out / "pool")
    print(f"pool: {len(pool)} images {described} -> {args.out / 'pool'}")

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    images = [np.array(Image.open(args.dataset / "images" / f"{name}.png")) for name in base]
    masks = [np.array(Image.open(args.dataset / "masks" / f"{name}.png")) for name in base]
    settings = {"seed": args.seed, "train": {"n_epochs": args.epochs} if args.epochs else {}}
    backend = CellposeBackend(None, parse_backend_settings(settings))
    n_cells = sum(int(m.max()) for m in masks)
    print(f"base: training from scratch on {len(base)} images ({n_cells} cells)", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        result = backend.train(
            images, masks, out_dir=Path(scratch),
            progress=lambda r: print(f"  epoch {r.epoch}/{r.n_epochs} loss {r.loss:.3f}", flush=True),
        )
        args.out.mkdir(parents=True, exist_ok=True)
        weights = args.out / "base.pth"
        weights.write_bytes(Path(result.weights_path).read_bytes())
    seconds = time.perf_counter() - started
    report = {
        "dataset": str(args.dataset), "pool_shapes": sorted(pool_shapes), "pool": pool, "base_images": base,
        "base_cells": n_cells, "settings": backend.settings.to_dict(), "seconds": round(seconds, 1),
        "cell_diameter": result.cell_diameter, "history": [vars(h) for h in result.history],
    }
    (args.out / "base.json").write_text(json.dumps(report, indent=1))
    print(f"base: {weights} in {seconds / 60:.1f} min (cell diameter {result.cell_diameter:.1f} px)")


if __name__ == "__main__":
    main()
