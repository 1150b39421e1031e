"""A big project: ingest one 10,000 x 10,000 16-bit two-channel image, then a project of ~100,000
crops with their label image, and export it; wall time and peak memory of each step.

The image is built from the shipped U2OS tiles (real nuclei, mirrored to fill the side; the second
channel is the first flipped, as a stand-in for a cytoplasm stain), 8-bit values scaled to 16 bits,
written as a tiled, deflate-compressed TIFF without ever holding the whole image in memory. Its
label image is built the same way from the shipped masks, with cell ids made unique per tile.

Each step runs in a fresh Python process (Django set up on a fresh SQLite database in a temporary
folder, or --database-url), so the peak resident memory it reports is that step's own. Each is
what an upload or an export through the API costs: the request's part (check the headers, store
the upload, queue the job; active_learning.transfers) and the worker's job, run in the same
process (`jobs.run_by_caller`):

* ingest: the image alone (crop size 256: ~1,500 crops);
* ingest with labels: the image and its label image into a project cut at crop size 32 (~100k
  crops, each with its display PNG and first annotation);
* export: that project in the Cellpose format, the zip stored for download.

The goal: memory bounded by a few crops, not by the image (the image is 400 MB decoded, its
label image 200 MB).

    .venv/bin/python bench/big_project.py                 # the 10,000-pixel image
    .venv/bin/python bench/big_project.py --side 3000     # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image as PILImage

REPO = Path(__file__).resolve().parent.parent
U2OS = REPO / "data" / "dsb2018_u2os"
TILE = 512  # the TIFF's tile side


def _sources() -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, masks = [], []
    for path in sorted((U2OS / "images").glob("*.png")):
        with PILImage.open(path) as image:
            images.append(np.asarray(image.convert("L")))
        with PILImage.open(U2OS / "masks" / path.name) as mask:
            masks.append(np.asarray(mask).astype(np.uint32))
    return images, masks


def _mosaic_row_tiles(side: int, sources: list[np.ndarray], row: int, *, labels: bool) -> Iterator[np.ndarray]:
    """The TIFF tiles of one tile row, left to right: each a window of a mosaic that repeats the
    source images (mirrored every other time, so the seams are not straight copies)."""
    h, w = sources[0].shape
    for col in range(0, side, TILE):
        tile = np.zeros((TILE, TILE), np.uint32 if labels else np.uint16)
        ys, xs = np.arange(row, row + TILE), np.arange(col, col + TILE)
        ty, tx = ys // h, xs // w  # which source tile each pixel falls in
        for sy in np.unique(ty):
            for sx in np.unique(tx):
                rows, cols = np.nonzero(ty == sy)[0], np.nonzero(tx == sx)[0]
                k = int(sy * 997 + sx) % len(sources)
                src = sources[k][:, ::-1] if (sy + sx) % 2 else sources[k]
                block = src[np.ix_(ys[rows] - sy * h, xs[cols] - sx * w)]
                if labels:
                    # Unique ids per source tile: offset by the tile's index in the mosaic.
                    block = np.where(block > 0, block + int(sy * 1000 + sx) * 100, 0)
                else:
                    block = block.astype(np.uint16) * 257
                tile[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = block
        tile[max(0, side - row) :, :] = 0
        tile[:, max(0, side - col) :] = 0
        yield tile


def build_image(path: Path, side: int) -> None:
    images, _ = _sources()

    def tiles() -> Iterator[np.ndarray]:
        for row in range(0, side, TILE):
            for tile in _mosaic_row_tiles(side, images, row, labels=False):
                yield np.stack([tile, tile[::-1, ::-1]], axis=-1)  # two channels, interleaved

    tifffile.imwrite(path, tiles(), shape=(side, side, 2), dtype=np.uint16, tile=(TILE, TILE),
                     compression="zlib", photometric="minisblack", planarconfig="contig")


def build_labels(path: Path, side: int) -> int:
    """The label image: ids renumbered 1..n in order of first appearance would need the whole
    image; instead each source tile's ids get an offset, then ids are packed below 65,536 by a
    lookup table built from the tiles' ids (the mosaic has ~10,000 nuclei at 10,000 pixels)."""
    _, masks = _sources()
    seen: set[int] = set()
    for row in range(0, side, TILE):
        for tile in _mosaic_row_tiles(side, masks, row, labels=True):
            seen.update(np.unique(tile[tile > 0]).tolist())
    ids = np.array(sorted(seen), np.uint32)
    if len(ids) >= 65_536:
        raise SystemExit(f"{len(ids)} cells do not fit a 16-bit label image")

    def tiles() -> Iterator[np.ndarray]:
        for row in range(0, side, TILE):
            for tile in _mosaic_row_tiles(side, masks, row, labels=True):
                packed = np.zeros(tile.shape, np.uint16)
                cells = tile > 0
                packed[cells] = np.searchsorted(ids, tile[cells]) + 1
                yield packed

    tifffile.imwrite(path, tiles(), shape=(side, side), dtype=np.uint16, tile=(TILE, TILE), compression="zlib")
    return len(ids)


# --- Steps, each in its own process -------------------------------------------------------------

STEP = r"""
import json, os, shutil, sys, time, resource
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelserver.settings")
django.setup()
from django.core.files import File
from active_learning import jobs, transfers
from annotations.models import Crop, Project


class Upload(File):
    # What Django hands a view for a big upload: a file spooled to disk (the storage moves it).
    def temporary_file_path(self):
        return self.file.name


def upload(path):
    copy = shutil.copy(path, path + ".upload")
    return Upload(open(copy, "rb"), name=os.path.basename(path))


def run(job):
    assert jobs.run_job(job.pk, worker="bench") == "succeeded", type(job).objects.get(pk=job.pk).error
    return type(job).objects.get(pk=job.pk).result


step, image, labels, out = sys.argv[1:5]
began = time.perf_counter()
result = {}
with jobs.run_by_caller():
    if step == "ingest":
        project = Project.objects.create(name="big", crop_size=256, validation_fraction=0)
        run(transfers.queue_ingest(project, upload(image)))
        result["crops"] = Crop.objects.filter(project=project).count()
    elif step == "ingest-labelled":
        project = Project.objects.create(name="big-labelled", crop_size=32, validation_fraction=0)
        done = run(transfers.queue_ingest(project, upload(image), mask=upload(labels)))
        result["crops"] = Crop.objects.filter(project=project).count()
        result["annotations"] = done["imported_annotations"]
    elif step == "export":
        project = Project.objects.get(name="big-labelled")
        result["bytes"] = run(transfers.queue_export(project, {"format": "cellpose"}))["size"]
result["seconds"] = time.perf_counter() - began
result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def run_step(step: str, env: dict[str, str], image: Path, labels: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", STEP, step, str(image), str(labels), str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="big-project-"))
    env = dict(os.environ, DEBUG="1", SECRET_KEY="bench-" + "x" * 40, LABELSERVER_DATA_DIR=str(folder))
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    else:
        env.pop("DATABASE_URL", None)
    image, labels, out = folder / "big.tif", folder / "big_labels.tif", folder / "export.zip"

    began = time.perf_counter()
    build_image(image, args.side)
    n_cells = build_labels(labels, args.side)
    print(f"built a {args.side}x{args.side} 2-channel 16-bit image ({image.stat().st_size / 2**20:.0f} MB on disk, "
          f"{2 * 2 * args.side**2 / 2**20:.0f} MB decoded) and its label image ({n_cells} cells) in "
          f"{time.perf_counter() - began:.0f} s")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    baseline = run_step_baseline(env)
    print(f"a process with Django set up and nothing done: {baseline:.0f} MB peak")
    for step in ("ingest", "ingest-labelled", "export"):
        result = run_step(step, env, image, labels, out)
        figures = ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items())
        print(f"{step}: {figures}")
    print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if not args.keep:
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"kept {folder}")


def run_step_baseline(env: dict[str, str]) -> float:
    code = ("import os, resource, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'labelserver.settings'); "
            "django.setup(); import active_learning.transfers; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
