"""The labelled folder a simulation reads, its validation split, and its ingestion into a project."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.contrib.auth.models import AbstractBaseUser

from active_learning.simulation import SimulationError
from annotations.imaging import read_label_image
from annotations.ingest import file_sha256, ingest_image, set_image_split, split_fraction
from annotations.models import Project, Split


@dataclass(frozen=True)
class Pair:
    name: str
    image: Path
    mask: Path


def dataset_pairs(folder: Path, max_images: int | None = None) -> list[Pair]:
    """(image, label image) pairs of the layout images/<id>.png + masks/<id>.png, by name."""
    images = sorted((Path(folder) / "images").glob("*.png"))
    if not images:
        raise SimulationError(f"no images under {Path(folder) / 'images'} (expected images/<id>.png)")
    missing = [p.name for p in images if not (Path(folder) / "masks" / p.name).exists()]
    if missing:
        raise SimulationError(f"no label image masks/<id>.png for {', '.join(missing[:5])}")
    pairs = [Pair(p.stem, p, Path(folder) / "masks" / p.name) for p in images]
    return pairs[:max_images] if max_images else pairs


def validation_names(pairs: Sequence[Pair], fraction: float) -> set[str]:
    """The held-out images: those whose content hash lies lowest (ingestion's split rule, made
    exact: round(fraction * n) images, at least one, leaving at least one for training)."""
    if len(pairs) < 2:
        raise SimulationError("a simulation needs at least two images: one to train on, one to validate on")
    count = min(max(1, round(fraction * len(pairs))), len(pairs) - 1)
    ranked = sorted(pairs, key=lambda pair: (split_fraction(file_sha256(pair.image)), pair.name))
    return {pair.name for pair in ranked[:count]}


def ingest_dataset(project: Project, pairs: Sequence[Pair], validation: set[str],
                   user: AbstractBaseUser) -> dict[int, np.ndarray]:
    """Ingest every image, validation images with their labels; returns the ground truth of the
    train images (image id -> label image), which only the simulated labeller reads."""
    truth: dict[int, np.ndarray] = {}
    for pair in pairs:
        held_out = pair.name in validation
        result = ingest_image(project, pair.image, original_name=pair.image.name,
                              mask_source=pair.mask if held_out else None, user=user)
        set_image_split(result.image, Split.VALIDATION if held_out else Split.TRAIN)
        if not held_out:
            truth[result.image.pk] = read_label_image(pair.mask, (result.image.height, result.image.width))
    return truth
