"""bench/gpu: the device-machine benchmark, kept from rotting by a tiny CPU dry run.

The dry run sees only what the device machine will have: its preinstalled packages (torch,
numpy, scipy, scikit-image, opencv, tifffile and what they depend on) and the wheels listed in
bench/gpu/wheels.txt. It runs without the site packages (python -S), on a folder that links just
those distributions, so a new import in the backend or the strategies that the wheel folder lacks
fails here, not on the device, while optional imports (matplotlib, imagecodecs) find nothing, as there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench" / "gpu"
# What the device machine has before the wheels (opencv: the headless build here, either there).
DEVICE_PACKAGES = ("torch", "numpy", "scipy", "scikit-image", "opencv-python-headless", "opencv-python", "tifffile")

def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of the `name==version` lines of a requirements-style file."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            requirement = Requirement(line)
            found[norm(requirement.name)] = next(iter(requirement.specifier)).version
    return found


def closure(names: tuple[str, ...]) -> set[str]:
    """The installed distributions `names` are, and everything they require (no extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = norm(todo.pop())
        if name in seen:
            continue
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        seen.add(name)
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def device_site(folder: Path, names: set[str]) -> Path:
    """A folder linking the installed files of the distributions `names` (and nothing else)."""
    folder.mkdir()
    for name in sorted(names):
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        for top in sorted({Path(file).parts[0] for file in dist.files or []} - {"..", "__pycache__"}):
            source, link = Path(str(dist.locate_file(top))), folder / top
            if source.exists() and not link.exists():
                link.symlink_to(source)
    return folder


def dry_run(tmp_path: Path, *args: str) -> tuple[dict, str]:
    """Run loop.py --tiny with only the device's packages; its JSON report and markdown table."""
    site = device_site(tmp_path / "site", closure(DEVICE_PACKAGES) | set(pins(BENCH / "wheels.txt")))
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # as on the device: the benchmark configures Django itself
    out = tmp_path / "out"
    command = [sys.executable, "-S", str(BENCH / "loop.py"), "--tiny", "--out", str(out), *args]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((out / "gpu_bench.json").read_text()), (out / "gpu_bench.md").read_text()


def check_report(report: dict, table: str) -> None:
    config = report["config"]
    assert report["strategy"] == "combined_fitted" and "flow_error" in report["scored_strategies"]
    assert report["data"]["train"] == config["train"] and report["data"]["pool"] == config["pool"]
    loop = report["loop"]
    assert set(loop["steps_s"]) == {"load_model", "fine_tune", "evaluate", "predict_pool", "store_pool", "score_pool",
                                 "rank_pool"}
    assert loop["pool_done"] == config["pool"] and not loop["pool_extrapolated"]
    assert loop["total_s"] == pytest.approx(sum(loop["steps_s"].values()), abs=0.05)
    assert set(loop["validation"]) == {"ap50", "ap75", "ap90"}
    for training in (report["start_model"], loop["training"]):
        assert training["epochs"] == config["epochs"] and training["s_per_epoch"] > 0
    assert [row["tile_batch"] for row in report["throughput"]] == config["batch_sizes"]
    for row in report["throughput"]:
        assert min(row["bare_crops_per_s"], row["predict_crops_per_s"], row["score_crops_per_s"]) > 0
    for heading in ("## Loop: total", "## Training", "## Throughput", "| predict_pool |", "| total |"):
        assert heading in table


def test_wheel_pins_match_requirements() -> None:
    wheels, app = pins(BENCH / "wheels.txt"), pins(REPO / "requirements.txt")
    assert "cellpose" in wheels and not {"torch", "numpy", "scipy", "scikit-image", "tifffile"} & set(wheels)
    assert {name: version for name, version in wheels.items() if app.get(name, version) != version} == {}


def test_scripts_parse() -> None:
    for script in ("run.sh", "fetch_wheels.sh"):
        subprocess.run(["bash", "-n", str(BENCH / script)], check=True)


@pytest.mark.slow
def test_tiny_dry_run_on_cpu(tmp_path: Path) -> None:
    report, table = dry_run(tmp_path, "--device", "cpu")
    check_report(report, table)
    assert report["environment"]["device"] == "cpu" and report["peak_gpu_gib"] is None
    # Every carried wheel is used: the folder holds nothing the benchmark does not import.
    assert set(pins(BENCH / "wheels.txt")) <= {norm(name) for name in report["imported_distributions"]}


@pytest.mark.slow
def test_tiny_dry_run_on_cuda(tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the GPU figures (device name, memory, CUDA start) are measured on the device")
    report, table = dry_run(tmp_path, "--device", "cuda")
    check_report(report, table)
    assert report["environment"]["gpu"] and report["peak_gpu_gib"] > 0
