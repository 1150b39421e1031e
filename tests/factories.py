"""Factories and the named actors every test uses."""

from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from rest_framework.test import APIClient

from active_learning import jobs
from active_learning.models import Job, ModelVersion, ModelVersionStatus, Prediction
from annotations.ingest import ingest_image, set_image_split
from annotations.masks import count_cells, encode_png
from annotations.models import Annotation, Crop, CropStatus, Image, Membership, Project, Role, Split

User = get_user_model()
PASSWORD = "correct horse battery staple"


@functools.cache
def _password_hash() -> str:
    """PASSWORD hashed once per test run: the real hasher, without its cost in every test."""
    return make_password(PASSWORD)


def make_user(username: str, *, staff: bool = False) -> User:
    return User.objects.create(username=username, password=_password_hash(), is_staff=staff)


def make_project(name: str = "nuclei", **fields: object) -> Project:
    return Project.objects.create(name=name, **fields)


def ingest_u2os_corners(project: Project, pairs: list[tuple[Path, Path]], folder: Path, *, side: int,
                        splits: tuple[str, ...], labelled: tuple[bool, ...]) -> None:
    """Ingest the top-left side x side of shipped U2OS images (`pairs`: image, label image) into
    `project`, each into its split, with its label image where `labelled`; the cut files go to `folder`."""
    for (image_path, mask_path), split, with_labels in zip(pairs, splits, labelled, strict=True):
        image, mask = folder / image_path.name, folder / f"{image_path.stem}_masks.png"
        PILImage.fromarray(np.array(PILImage.open(image_path))[:side, :side]).save(image)  # true_mask's window
        PILImage.fromarray(np.array(PILImage.open(mask_path))[:side, :side]).save(mask)
        result = ingest_image(project, image, original_name=image.name, mask_source=mask if with_labels else None)
        set_image_split(result.image, split)


def add_member(project: Project, user: User, role: str = Role.LABELLER) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def project(db) -> Project:
    return make_project()


@pytest.fixture
def other_project(db) -> Project:
    return make_project("other")


@pytest.fixture
def admin(project) -> User:
    user = make_user("ada")
    add_member(project, user, Role.ADMIN)
    return user


@pytest.fixture
def labeller(project) -> User:
    user = make_user("lee")
    add_member(project, user, Role.LABELLER)
    return user


@pytest.fixture
def reviewer(project) -> User:
    """`rita`, a reviewer of `project` (not an admin)."""
    user = make_user("rita")
    add_member(project, user, Role.REVIEWER)
    return user


@pytest.fixture
def outsider(other_project) -> User:
    user = make_user("otto")
    add_member(other_project, user, Role.ADMIN)
    return user


@pytest.fixture
def admin_client(admin) -> APIClient:
    return client_for(admin)


@pytest.fixture
def labeller_client(labeller) -> APIClient:
    return client_for(labeller)


@pytest.fixture
def outsider_client(outsider) -> APIClient:
    return client_for(outsider)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


# --- Images, crops, predictions with real pixels ------------------------------------------------
# Built straight into the database and MEDIA_ROOT (as annotations.ingest would leave them), so the
# API tests do not depend on the ingestion code.

U2OS = Path(__file__).resolve().parent.parent / "data" / "dsb2018_u2os"


def u2os_sources() -> list[Path]:
    return sorted((U2OS / "images").glob("*.png"))


def _display_png(pixels: np.ndarray) -> bytes:
    """8-bit greyscale with 1-99 percentile contrast, as the display renderer makes it."""
    low, high = np.percentile(pixels, (1, 99))
    scaled = np.clip((pixels.astype(np.float32) - low) / max(float(high - low), 1e-6), 0, 1)
    buffer = io.BytesIO()
    PILImage.fromarray((scaled * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _grey(path: Path) -> np.ndarray:
    with PILImage.open(path) as image:
        pixels = np.array(image)
    return pixels if pixels.ndim == 2 else pixels[..., 0]


def _windows(height: int, width: int, size: int) -> list[tuple[int, int, int, int]]:
    starts = [(x, y) for y in range(0, height, size) for x in range(0, width, size)]
    return [(x, y, min(size, width - x), min(size, height - y)) for x, y in starts]


def make_image(
    project: Project,
    *,
    source: int = 0,
    crop_size: int | None = None,
    n_crops: int | None = None,
    split: str = Split.TRAIN,
    copy: int = 0,
) -> Image:
    """A shipped U2OS image (520x696) tiled into crops of `crop_size` (default: the project's),
    each with its display PNG in MEDIA_ROOT. `n_crops` keeps only the first tiles; `copy` lets
    one source appear more than once in a project."""
    path = u2os_sources()[source]
    pixels = _grey(path)
    data = path.read_bytes()
    sha = hashlib.sha256(data + str(copy).encode()).hexdigest()
    image = Image.objects.create(
        project=project, sha256=sha, file=default_storage.save(f"images/{sha}.png", ContentFile(data)),
        original_name=path.name, width=pixels.shape[1], height=pixels.shape[0], channels=1,
        dtype=str(pixels.dtype), split=split,
    )
    windows = _windows(*pixels.shape, crop_size or project.crop_size)[:n_crops]
    Crop.objects.bulk_create([_crop(image, pixels, window) for window in windows])
    return image


def _crop(image: Image, pixels: np.ndarray, window: tuple[int, int, int, int]) -> Crop:
    x, y, w, h = window
    display = ContentFile(_display_png(pixels[y : y + h, x : x + w]))
    name = default_storage.save(f"crops/{image.sha256[:16]}_{x}_{y}.png", display)
    return Crop(project=image.project, image=image, x=x, y=y, width=w, height=h, split=image.split, display=name)


def make_crops(project: Project, n: int, *, crop_size: int = 32, split: str = Split.TRAIN) -> list[Crop]:
    """`n` crops of real pixels (small tiles, so many fit in one image), oldest first."""
    per_image = len(_windows(520, 696, crop_size))
    for done in range(0, n, per_image):
        source, left = (done // per_image) % 20, min(per_image, n - done)
        make_image(project, source=source, crop_size=crop_size, n_crops=left, split=split, copy=done)
    return list(Crop.objects.filter(project=project).order_by("-id")[:n])[::-1]


def make_annotation(crop: Crop, author: User, **fields: object) -> Annotation:
    """The crop's current annotation (its true mask, by `author`), as a submission leaves it: the crop labelled."""
    Crop.objects.filter(pk=crop.pk).update(status=CropStatus.LABELLED)
    crop.refresh_from_db()
    mask = true_mask(crop)
    version = Annotation.objects.filter(crop=crop).count() + 1
    Annotation.objects.filter(crop=crop).update(is_current=False)
    return Annotation.objects.create(crop=crop, version=version, author=author, mask_png=encode_png(mask),
                                     n_cells=count_cells(mask), **fields)


def true_mask(crop: Crop) -> np.ndarray:
    """The shipped ground-truth label image under the crop."""
    with PILImage.open(U2OS / "masks" / crop.image.original_name) as mask:
        labels = np.array(mask)
    x0, y0, x1, y1 = crop.bbox
    return labels[y0:y1, x0:x1].astype(np.uint16)


def make_model_version(project: Project, number: int = 1, status: str = ModelVersionStatus.ACTIVE) -> ModelVersion:
    return ModelVersion.objects.create(project=project, number=number, status=status, origin="pretrained:nuclei")


def make_prediction(crop: Crop, version: ModelVersion, mask: np.ndarray | None = None) -> Prediction:
    mask = true_mask(crop) if mask is None else mask
    return Prediction.objects.create(
        crop=crop, model_version=version, mask_png=encode_png(mask), n_cells=count_cells(mask)
    )


@pytest.fixture
def staff(db) -> User:
    return make_user("stella", staff=True)


@pytest.fixture
def staff_client(staff) -> APIClient:
    return client_for(staff)


@pytest.fixture
def image(project) -> Image:
    """One U2OS image in `project`, tiled into 128-px crops (30, the last row and column cut short)."""
    return make_image(project, crop_size=128)


@pytest.fixture
def crop(image) -> Crop:
    return image.crops.order_by("id").first()


# --- Maps a model would store for proposals -----------------------------------------------------


def faint_cell(truth: np.ndarray) -> int:
    """The largest true cell away from the crop's edge: the one the model 'missed'."""
    ids, counts = np.unique(truth[8:-8, 8:-8], return_counts=True)
    return int(ids[1:][np.argmax(counts[1:])])


def maps_of(truth: np.ndarray, faint: int) -> bytes:
    """Maps a model would predict for the true cells, with one cell's probability under threshold 0."""
    import torch
    from cellpose import dynamics  # a fixture: product code imports cellpose only in backends/

    from active_learning.backends.proposals import pack_maps

    flows = 5 * dynamics.masks_to_flows(truth.astype(np.int32), device=torch.device("cpu"))
    cellprob = np.where(truth > 0, 4.0, -6.0).astype(np.float32)
    cellprob[truth == faint] = -1.5
    return pack_maps(cellprob, flows)


def run_queued(answer) -> Job:
    """Run the job a 202 answer queued, here, the way a worker runs it (inside a test's transaction
    its on-commit message is never sent), and return it as it ended."""
    assert answer.status_code == 202, answer.json()
    job_id = answer.json()["id"]
    jobs.run_job(job_id, worker="test")
    return Job.objects.get(pk=job_id)
