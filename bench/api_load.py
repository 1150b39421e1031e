"""Drive the labelling API over HTTP with N concurrent simulated labellers.

Each labeller loops: POST next -> GET the crop's display PNG -> (think) -> POST its annotation
(the shipped ground-truth mask of the crop, as RLE). Printed: throughput, p50/p95/p99 latency per
step, HTTP statuses, and the number of duplicate leases (a crop handed to two labellers; must be
0), then a check through the API that every accepted submission was kept (exit status 1 if not).

`--think-ms 0` (default) is a stress test: all labellers start at once and never pause, so the
figures measure the server's capacity and queueing. A positive think time (+-50% jitter, arrivals
spread over one think time) simulates people, who take seconds per crop; `--pace 5 30` draws each
crop's time uniformly from 5 to 30 s instead (a labeller correcting predictions).

A crop the queue serves blind for its second label (double labelling) goes to a second labeller
by design: such servings are told apart by the crop's `blind` flag, and a duplicate lease is a
crop served twice the same way.

By default it starts its own server (gunicorn, `--workers 2 --threads 8`, DEBUG=1) on a fresh
SQLite database in a temporary folder; `--database-url postgres://...` runs the same server on
PostgreSQL; `--url` targets a server that is already running (the seeding then runs
`manage.py shell` with this process's environment, so give it the server's DATABASE_URL and
LABELSERVER_DATA_DIR). Seeding: a staff user and N labellers with API tokens (manage.py), then a
new project whose shipped U2OS images are uploaded through the API and tiled into crops.

    .venv/bin/python bench/api_load.py --labellers 20
    .venv/bin/python bench/api_load.py --labellers 20 --database-url postgres://u:p@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from PIL import Image as PILImage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from annotations.masks import encode_rle  # noqa: E402  (numpy only; no Django needed)

U2OS = REPO / "data" / "dsb2018_u2os"
BIN = Path(sys.executable).parent

SEED = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
User = get_user_model()
def user(name, staff=False):
    u, _ = User.objects.get_or_create(username=name, defaults={"is_staff": staff})
    return Token.objects.get_or_create(user=u)[0].key
print(json.dumps({"admin": user("bench-admin", True), "labellers": [user(f"bench-l{i:03d}") for i in range(%d)]}))
"""


# --- HTTP --------------------------------------------------------------------------------------


class Connection(http.client.HTTPConnection):
    """http.client sends a request's headers and body in two writes; without TCP_NODELAY the body
    waits for the server's delayed ACK (~40 ms on Linux). Browsers set TCP_NODELAY too."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Api:
    """One keep-alive connection with a token, as one labeller's browser would hold."""

    def __init__(self, base: str, token: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.conn = Connection(self.host, self.port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None):
        headers = dict(self.headers, **({"Content-Type": ctype} if ctype else {}))
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = Connection(self.host, self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self.request(method, path, body, "application/json" if body else None)
        return status, (json.loads(data) if data else None)


# --- Server and seeding ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args[:1])} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def start_server(env: dict[str, str], port: int, args: argparse.Namespace) -> subprocess.Popen:
    cmd = [str(BIN / "gunicorn"), "labelserver.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
           "--threads", str(args.threads), "--log-level", "warning",
           # Its own control socket: the default one in the home folder is shared with `make run`.
           "--control-socket", str(Path(env["LABELSERVER_DATA_DIR"]) / "gunicorn.ctl"), *args.gunicorn_arg]
    server = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("gunicorn did not start")


def seed_project(base: str, env: dict[str, str], tokens: dict[str, Any], crop_size: int, n_images: int) -> int:
    admin = Api(base, tokens["admin"])
    status, project = admin.json("POST", "/api/projects/", {"name": f"bench-{uuid.uuid4().hex[:8]}",
                                                           "crop_size": crop_size, "validation_fraction": 0})
    assert status == 201, project
    for i in range(len(tokens["labellers"])):
        status, body = admin.json("POST", f"/api/projects/{project['id']}/members/", {"username": f"bench-l{i:03d}"})
        assert status == 201, body
    # An upload is ingested by a Celery job; this run starts no worker, so the images come in
    # the way a command line does it, straight into the same database.
    images = [str(path) for path in sorted((U2OS / "images").glob("*.png"))[:n_images]]
    manage(env, "import_images", str(project["id"]), *images)
    return project["id"]


# --- The simulated labellers -------------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    served: list[tuple[int, int, bool]] = field(default_factory=list)  # (crop id, labeller, blind)
    submitted: int = 0
    blind_submitted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, step: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies[step].append(seconds)
            self.statuses[(step, status)] += 1


def load_masks() -> dict[str, np.ndarray]:
    masks = {}
    for path in sorted((U2OS / "masks").glob("*.png")):
        with PILImage.open(path) as image:
            masks[path.name] = np.array(image).astype(np.uint16)
    return masks


def timed(tally: Tally, step: str, call) -> tuple[int, Any]:
    start = time.perf_counter()
    status, body = call()
    tally.record(step, time.perf_counter() - start, status)
    return status, body


def labeller(i: int, base: str, token: str, project: int, cycles: int, pace: tuple[float, float],
             masks: dict[str, np.ndarray], tally: Tally, start: threading.Barrier) -> None:
    api = Api(base, token)
    api.json("GET", "/api/me/")  # warm-up, unmeasured: both workers import the URLconf on first use
    start.wait()
    time.sleep(random.uniform(0, pace[1]))  # labellers arrive over one crop's time, not all at once
    for _ in range(cycles):
        status, crop = timed(tally, "next", lambda: api.json("POST", f"/api/projects/{project}/next/"))
        if status != 200:
            break
        with tally.lock:
            tally.served.append((crop["id"], i, bool(crop.get("blind"))))
        timed(tally, "image", lambda crop=crop: api.request("GET", crop["display_url"]))
        x, y, w, h = crop["x"], crop["y"], crop["width"], crop["height"]
        seconds = random.uniform(*pace)  # jitter, so labellers do not march in step
        payload = {"mask": encode_rle(masks[crop["image_name"]][y : y + h, x : x + w]), "seconds_spent": seconds}
        time.sleep(seconds)
        path = f"/api/crops/{crop['id']}/annotations/"
        status, saved = timed(tally, "submit", lambda path=path, payload=payload: api.json("POST", path, payload))
        if status == 201:
            with tally.lock:
                if saved.get("blind"):
                    tally.blind_submitted += 1
                else:
                    tally.submitted += 1


def drive(base: str, tokens: dict[str, Any], project: int, cycles: int, pace: tuple[float, float]
          ) -> tuple[Tally, float]:
    masks, tally = load_masks(), Tally()
    n = len(tokens["labellers"])
    barrier = threading.Barrier(n + 1)
    threads = [
        threading.Thread(target=labeller, args=(i, base, token, project, cycles, pace, masks, tally, barrier))
        for i, token in enumerate(tokens["labellers"])
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - began


# --- Report ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def duplicates(served: list[tuple[int, int, bool]]) -> int:
    """Crops served the same way (from the queue, or blind for a second label) to two labellers."""
    holders: dict[tuple[int, bool], set[int]] = defaultdict(set)
    for crop_id, who, blind in served:
        holders[(crop_id, blind)].add(who)
    return sum(len(who) - 1 for who in holders.values())


def report(label: str, tally: Tally, elapsed: float, kept: int, n: int, pace: tuple[float, float]) -> None:
    cycles = len(tally.latencies["submit"])
    requests = sum(len(v) for v in tally.latencies.values())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n== {label}: {n} labellers, {pace[0]:g}-{pace[1]:g} s per crop, {elapsed:.1f} s, "
          f"{os.cpu_count()} CPUs, load average {load} ==")
    print(f"throughput: {cycles / elapsed:.1f} labelled crops/s, {requests / elapsed:.1f} requests/s")
    print(f"{'step':8} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8}")
    for step in ("next", "image", "submit"):
        values = tally.latencies[step]
        mean = statistics.fmean(values) * 1000 if values else float("nan")
        print(f"{step:8} {len(values):6d} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
              f"{percentile(values, 99):8.1f} {percentile(values, 100):8.1f} {mean:8.1f}")
    print("statuses:", dict(sorted(tally.statuses.items())))
    print(f"duplicate leases: {duplicates(tally.served)}; served blind for a second label: "
          f"{sum(blind for _, _, blind in tally.served)}, second labels accepted: {tally.blind_submitted}")
    print(f"submissions accepted: {tally.submitted}, labelled crops on the server: {kept}"
          f"{'' if kept == tally.submitted else '  <-- LOST SUBMISSIONS'}")


# --- Main --------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labellers", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=40, help="crops each labeller labels (default 40)")
    parser.add_argument("--think-ms", type=float, default=0,
                        help="mean pause between image and submit, +-50%% (default 0: a stress test)")
    parser.add_argument("--pace", type=float, nargs=2, metavar=("MIN_S", "MAX_S"),
                        help="seconds per crop, drawn uniformly (e.g. 5 30); overrides --think-ms")
    parser.add_argument("--crop-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=20, help="shipped U2OS images to upload (max 20)")
    parser.add_argument("--database-url", help="run the server on this database (default: SQLite in a temp dir)")
    parser.add_argument("--url", help="target an already running server instead of starting one")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--gunicorn-arg", action="append", default=[],
                        help="extra gunicorn argument, repeatable (e.g. --gunicorn-arg=--access-logfile=-)")
    parser.add_argument("--debug", choices=("0", "1"), default="1",
                        help="DEBUG for the server it starts (0 sets a throwaway SECRET_KEY)")
    return parser.parse_args()


def environment(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ, DEBUG=args.debug, LABELSERVER_DATA_DIR=str(data_dir))
    if args.debug == "0":
        env["SECRET_KEY"] = uuid.uuid4().hex * 2
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    elif not args.url:
        env.pop("DATABASE_URL", None)
    return env


def main() -> int:
    args = arguments()
    data_dir = Path(tempfile.mkdtemp(prefix="api-load-"))
    env = environment(args, data_dir) if not args.url else dict(os.environ)
    server = None
    try:
        manage(env, "migrate", "--noinput")
        tokens = json.loads(manage(env, "shell", "-c", SEED % args.labellers).strip().splitlines()[-1])
        base = args.url
        if base is None:
            port = free_port()
            server = start_server(env, port, args)
            base = f"http://127.0.0.1:{port}"
        project = seed_project(base, env, tokens, args.crop_size, args.images)
        think = args.think_ms / 1000
        pace = (args.pace[0], args.pace[1]) if args.pace else (0.5 * think, 1.5 * think)
        tally, elapsed = drive(base, tokens, project, args.cycles, pace)
        _, detail = Api(base, tokens["admin"]).json("GET", f"/api/projects/{project}/")
        database = "PostgreSQL" if "postgres" in env.get("DATABASE_URL", "") else "SQLite"
        report(database, tally, elapsed, detail["crop_counts"]["labelled"], args.labellers, pace)
        return 0 if duplicates(tally.served) == 0 and detail["crop_counts"]["labelled"] == tally.submitted else 1
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
