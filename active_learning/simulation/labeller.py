"""The simulated labeller: an account that labels the crops it is served with their ground truth."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from active_learning import selectors
from active_learning.effort import NO_EFFORT, Assist, CropEffort, crop_effort
from active_learning.models import Prediction
from active_learning.queue import serving
from active_learning.simulation import SimulationError
from annotations import leases, submissions
from annotations.masks import decode_png, relabel_sequential
from annotations.models import Crop, Project, Split

LABELLER = "simulation"  # the account's username
SOURCE = "simulation"  # its annotations' source, and its training jobs' trigger

# What the assisted tools can do on a crop, given the prediction it was served with (if any).
AssistFor = Callable[[Crop, Prediction | None], Assist]


def simulation_labeller() -> tuple[AbstractBaseUser, bool]:
    """The simulated labeller's account, and whether it was created now."""
    user, created = get_user_model().objects.get_or_create(username=LABELLER)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user, created


def crop_truth(crop: Crop, truth: Mapping[int, np.ndarray]) -> np.ndarray:
    x0, y0, x1, y1 = crop.bbox
    return relabel_sequential(truth[crop.image_id][y0:y1, x0:x1])


def _crop_key(crop: Crop) -> tuple[str, int, int]:
    """What identifies a crop across projects: its image's name and its place in it."""
    return crop.image.original_name, crop.y, crop.x


def choose_seed_crops(project: Project, truth: Mapping[int, np.ndarray], n: int, seed: int) -> list[Crop]:
    """`n` train crops drawn at random (by `seed`) among those with at least one cell, so round
    0 can train; identified by image name and position, so every strategy gets the same set."""
    crops = Crop.objects.filter(project=project, split=Split.TRAIN).select_related("image")
    candidates = sorted((c for c in crops if crop_truth(c, truth).any()), key=_crop_key)
    if len(candidates) < n:
        raise SimulationError(f"only {len(candidates)} train crops hold cells; cannot draw {n} seed crops")
    picks = np.random.default_rng(seed).choice(len(candidates), size=n, replace=False)
    return [candidates[i] for i in sorted(picks)]


def label_crop(crop: Crop, user: AbstractBaseUser, truth: Mapping[int, np.ndarray],
               assist_for: AssistFor | None = None) -> CropEffort:
    """Submit the crop's ground truth as the labeller's correction of what it was shown; returns
    the actions that correction takes (active_learning.effort), without and with the tools."""
    prediction = selectors.newest_prediction(crop)
    true = crop_truth(crop, truth)
    effort = served_effort(crop, prediction, true, assist_for)
    submissions.submit_annotation(
        crop=crop, user=user, mask=true, source=SOURCE,
        started_from_id=prediction.model_version_id if prediction else None,
    )
    return effort


def served_effort(crop: Crop, prediction: Prediction | None, true: np.ndarray,
                  assist_for: AssistFor | None) -> CropEffort:
    """The actions from the served prediction (none served: an empty crop to draw) to the truth;
    with no `assist_for`, the tools help nowhere."""
    served = decode_png(bytes(prediction.mask_png)) if prediction is not None else np.zeros_like(true)
    assist = assist_for(crop, prediction) if assist_for is not None else None
    return crop_effort(true, served, assist)


def label_seed_set(crops: Iterable[Crop], user: AbstractBaseUser, truth: Mapping[int, np.ndarray],
                   assist_for: AssistFor | None = None) -> CropEffort:
    effort = NO_EFFORT
    for crop in crops:
        leases.lease_crop(crop=crop, user=user, as_admin=True)
        effort += label_crop(crop, user, truth, assist_for)
    return effort


def label_from_queue(project: Project, user: AbstractBaseUser, truth: Mapping[int, np.ndarray], k: int,
                     assist_for: AssistFor | None = None) -> CropEffort:
    """Label the next `k` crops the queue serves, as a labeller would; returns their effort (its
    n_crops: how many the queue served)."""
    effort = NO_EFFORT
    for _ in range(k):
        served = serving.lease_next_crop(project=project, user=user)
        if served is None:
            break
        effort += label_crop(Crop.objects.select_related("image").get(pk=served.crop_id), user, truth, assist_for)
    return effort
