"""Shared fixtures: named actors, real shipped images, a settings sandbox per test, and the run's
small trained Cellpose model.

Actors (see tests/factories.py): `admin` (project admin), `labeller` (project member),
`outsider` (a user of another project), and anonymous clients. The model: `nuclei_model` (see
tests/nuclei_model.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


@pytest.fixture(scope="session", autouse=True)
def _remove_run_data_dir():
    """The run's own data folder (tests/settings.py) goes when the run ends."""
    yield
    from django.conf import settings

    if settings.DATA_DIR.name.startswith("run-"):
        shutil.rmtree(settings.DATA_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Every test writes uploads, crops and weights under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()


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


from tests.factories import *  # noqa: E402,F401,F403  (fixtures: admin, labeller, outsider, project, clients)
from tests.nuclei_model import nuclei_model  # noqa: E402,F401  (the run's trained Cellpose model)
