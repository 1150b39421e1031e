"""Shared fixtures: named actors, real shipped images, a settings sandbox per test, and the run's
small trained Cellpose model.

Actors (see tests/factories.py): `admin` (project admin), `labeller` (project member),
`outsider` (a user of another project), and anonymous clients. The model: `nuclei_model` (see
tests/nuclei_model.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


def _share_the_cores_between_xdist_workers() -> None:
    """Under pytest-xdist each worker gets its share of the CPUs for PyTorch (and so do the Celery
    worker processes it starts, which inherit OMP_NUM_THREADS): two processes that each run a
    2-thread model on 2 CPUs do not just share them, they stall each other's thread barriers
    (measured beside another 2-thread training: the backend tests' training took 3.3x the wall
    time and 4x the CPU time of a 1-thread run)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


_share_the_cores_between_xdist_workers()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (make test) the slow tests come first, so the many short ones fill in at
    the end instead of a long one running alone at the end. pytest-django then puts the tests in
    Django's order (plain database tests, transactional ones, the rest), keeping this order within
    each kind. Without xdist the order is left as collected."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_sessionfinish(session):
    """The process's own data folder (tests/settings.py) goes when its run ends, after the test
    database is torn down: in each pytest-xdist worker, and in the controller, which makes one too."""
    from django.conf import settings

    if settings.configured and settings.DATA_DIR.name.startswith("run-"):
        shutil.rmtree(settings.DATA_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Every test writes uploads, crops and weights under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()


@pytest.fixture(autouse=True)
def _no_cached_login_failures():
    """The login throttles count failures in the cache, which outlives a test (the database rolls
    back): wrong passwords one test sends (the API fuzzing) must not lock the next one out."""
    yield
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def u2os_pairs() -> list[tuple[Path, Path]]:
    """The 20 shipped U2OS fluorescence images (520x696, 8-bit) with their uint16 label images."""
    images = sorted((DATA / "dsb2018_u2os" / "images").glob("*.png"))
    return [(p, DATA / "dsb2018_u2os" / "masks" / p.name) for p in images]


@pytest.fixture
def brightfield_pairs() -> list[tuple[Path, Path]]:
    """Four shipped brightfield RGB images (256x320) with their label images."""
    images = sorted((DATA / "dsb2018_brightfield" / "images").glob("*.png"))
    return [(p, DATA / "dsb2018_brightfield" / "masks" / p.name) for p in images]


@pytest.fixture(scope="session")
def cpnet_file(tmp_path_factory) -> Path:
    """A fresh random CPnet saved as Cellpose saves its weights: a real weights file, a few seconds
    to make (tests that take it are marked slow)."""
    import torch
    from cellpose import resnet_torch  # a fixture: product code imports cellpose only in backends/

    torch.manual_seed(0)
    net = resnet_torch.CPnet([2, 32, 64, 128, 256], 3, sz=3, mkldnn=False, max_pool=True, diam_mean=30.0)
    path = tmp_path_factory.mktemp("weights") / "random_cpnet"
    net.save_model(str(path))
    return path


from tests.factories import *  # noqa: E402,F401,F403  (fixtures: admin, labeller, reviewer, outsider, project, clients)
from tests.nuclei_model import nuclei_model  # noqa: E402,F401  (the run's trained Cellpose model)
from tests.s3_server import s3_endpoint, s3_storage  # noqa: E402,F401  (an S3 server on loopback; a bucket per test)
