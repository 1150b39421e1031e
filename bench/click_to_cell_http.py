"""Click to cell over HTTP: the proposal endpoint's latency, and whether proposals stall `next`
and submit for the other labellers.

It starts the server bench/api_load.py starts (gunicorn, 2 workers x 8 threads, SQLite in a
temporary folder), uploads shipped U2OS images as a project of 256-px crops, and gives every crop
an active model version's prediction with maps. The maps are made from the crop's true labels
(flows from Cellpose's masks_to_flows x 5, cell probability +4 in cells and -6 outside), not by a
network: predicting every crop would take minutes, and a proposal's cost depends on the window
and its foreground, not on what the network said. Then:

  1. one labeller clicks alone: POST propose (point, at a true cell's interior) p50/p95;
  2. two labellers label (next -> 0.5 s -> submit) alone: p50/p95 of next and submit;
  3. the same two while 5 other labellers each click proposals on their own leased crop, without
     pause (a stress test) or --click-pause seconds apart: next/submit p50/p95 again, and the
     proposals' p50/p95 under that load.

    .venv/bin/python bench/click_to_cell_http.py [--images 20] [--seconds 15] [--click-pause 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.api_load import Api, free_port, load_masks, manage, seed_project, start_server  # noqa: E402

MAPS = """
import numpy as np, torch
from cellpose import dynamics
from active_learning.backends.proposals import pack_maps
from active_learning.models import ModelVersion, Prediction
from annotations.masks import encode_png, count_cells
from annotations.models import Project
from PIL import Image
project = Project.objects.get(pk=%d)
version = ModelVersion.objects.create(project=project, number=1, status="active", origin="bench")
rows = []
for crop in project.crops.select_related("image"):
    labels = np.array(Image.open("data/dsb2018_u2os/masks/" + crop.image.original_name))
    truth = labels[crop.y:crop.y + crop.height, crop.x:crop.x + crop.width].astype(np.int32)
    flows = 5 * dynamics.masks_to_flows(truth, device=torch.device("cpu"))
    cellprob = np.where(truth > 0, 4.0, -6.0).astype(np.float32)
    rows.append(Prediction(crop=crop, model_version=version, mask_png=encode_png(truth.astype(np.uint16)),
                           n_cells=count_cells(truth), maps=pack_maps(cellprob, flows)))
Prediction.objects.bulk_create(rows)
print(len(rows))
"""


CLICK_PAUSE_S = 0.0  # between one labeller's clicks (--click-pause)
THINK_S = 0.5  # a labeller's pause between next and submit: latency is measured, not the server's capacity


def cell_points(masks: dict[str, np.ndarray], crop: dict[str, Any]) -> list[tuple[float, float]]:
    """A pixel inside each true cell of the crop (its centroid when that lies inside)."""
    x, y, w, h = crop["x"], crop["y"], crop["width"], crop["height"]
    truth = masks[crop["image_name"]][y : y + h, x : x + w]
    points = []
    for cell in np.unique(truth[truth > 0]):
        rows, cols = np.nonzero(truth == cell)
        i = len(rows) // 2
        points.append((cols[i] + 0.5, rows[i] + 0.5))
    return points


def timed(latencies: list[float], call) -> tuple[int, Any]:
    start = time.perf_counter()
    status, body = call()
    latencies.append(1000 * (time.perf_counter() - start))
    return status, body


def clicker(api: Api, project: int, masks: dict[str, np.ndarray], stop: threading.Event, out: list[float],
            statuses: list[int]) -> None:
    status, crop = api.json("POST", f"/api/projects/{project}/next/")
    assert status == 200, crop
    points = cell_points(masks, crop)
    while not stop.is_set():
        x, y = random.choice(points)
        body = {"mode": "point", "x": x, "y": y}
        status, _ = timed(out, lambda body=body: api.json("POST", f"/api/crops/{crop['id']}/propose/", body))
        statuses.append(status)
        time.sleep(CLICK_PAUSE_S)


def labeller(api: Api, project: int, masks: dict[str, np.ndarray], stop: threading.Event,
             nexts: list[float], submits: list[float]) -> None:
    from annotations.masks import encode_rle

    while not stop.is_set():
        status, crop = timed(nexts, lambda: api.json("POST", f"/api/projects/{project}/next/"))
        if status != 200:
            return
        x, y, w, h = crop["x"], crop["y"], crop["width"], crop["height"]
        payload = {"mask": encode_rle(masks[crop["image_name"]][y : y + h, x : x + w]), "seconds_spent": 1}
        time.sleep(THINK_S)
        timed(submits, lambda crop=crop, payload=payload: api.json("POST", f"/api/crops/{crop['id']}/annotations/",
                                                                 payload))


def run_threads(targets: list[tuple[Any, tuple]], seconds: float) -> None:
    stop = threading.Event()
    # Every target is (api, project, masks, stop, *outputs).
    threads = [threading.Thread(target=fn, args=(*args[:3], stop, *args[3:])) for fn, args in targets]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()


def line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    return f"{name}: n={len(values)} p50 {np.percentile(values, 50):.0f} ms, p95 {np.percentile(values, 95):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20, help="9 crops each; the labellers must not run out")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clickers", type=int, default=5)
    parser.add_argument("--labellers", type=int, default=2)
    parser.add_argument("--click-pause", type=float, default=0.0,
                        help="seconds between one clicker's proposals in step 3 (0: a stress test)")
    args = parser.parse_args()
    args.workers, args.threads, args.gunicorn_arg = 2, 8, []
    data_dir = Path(tempfile.mkdtemp(prefix="click-http-"))
    env = dict(os.environ, DEBUG="1", LABELSERVER_DATA_DIR=str(data_dir))
    env.pop("DATABASE_URL", None)
    server = None
    n_users = 1 + args.clickers + args.labellers
    try:
        manage(env, "migrate", "--noinput")
        from bench.api_load import SEED

        tokens = json.loads(manage(env, "shell", "-c", SEED % n_users).strip().splitlines()[-1])
        port = free_port()
        server = start_server(env, port, args)
        base = f"http://127.0.0.1:{port}"
        project = seed_project(base, tokens, 256, args.images)
        print("predictions with maps:", manage(env, "shell", "-c", MAPS % project).strip().splitlines()[-1])
        masks = load_masks()
        apis = [Api(base, token) for token in tokens["labellers"]]
        # Each gunicorn worker imports Cellpose on its first proposal (7-10 s, stalling that worker's
        # other requests): warm both up first, over several connections (one keeps to one worker).
        warm: list[float] = []
        run_threads([(clicker, (api, project, masks, warm, [])) for api in apis[-4:]], 20)
        alone: list[float] = []
        run_threads([(clicker, (apis[0], project, masks, alone, []))], args.seconds)
        print(line(f"propose, one labeller alone (after {len(warm)} warm-up clicks)", alone))
        labellers = apis[1 : 1 + args.labellers]
        nexts0: list[float] = []
        submits0: list[float] = []
        run_threads([(labeller, (api, project, masks, nexts0, submits0)) for api in labellers], args.seconds)
        print(line(f"next, {len(labellers)} labellers, no proposals", nexts0))
        print(line(f"submit, {len(labellers)} labellers, no proposals", submits0))
        nexts1: list[float] = []
        submits1: list[float] = []
        clicks: list[float] = []
        statuses: list[int] = []
        clickers = apis[1 + args.labellers : 1 + args.labellers + args.clickers]
        global CLICK_PAUSE_S
        CLICK_PAUSE_S = args.click_pause
        run_threads([(labeller, (api, project, masks, nexts1, submits1)) for api in labellers]
                    + [(clicker, (api, project, masks, clicks, statuses)) for api in clickers], args.seconds)
        print(line(f"next, {len(labellers)} labellers, {len(clickers)} clicking at once", nexts1))
        print(line(f"submit, {len(labellers)} labellers, {len(clickers)} clicking at once", submits1))
        print(line(f"propose, {len(clickers)} clicking at once", clicks), "statuses", sorted(set(statuses)))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
