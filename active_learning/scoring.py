"""Score crops with a model version's outputs and store the scores, once per (crop, version,
strategy): a key already stored is never computed again, so a job that runs twice, or resumes,
repeats no work.

The prediction job (active_learning.prediction, which also runs JobKind.SCORE) hands each batch's
outputs to `score_predictions`: no extra inference, except the flips the `tta` strategy asks for.

Besides the strategies' scores, each crop gets one `crop_descriptor` row: how much the crop shows
anything at all (its content weight, 0 for a blank field of noise) and its compressed style
vector, which the queue's diversity selection reads. Every uncertainty score is multiplied by the
content weight, so a blank crop never ranks high however unsure the model is about it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Exists, OuterRef, Q, QuerySet
from scipy.ndimage import gaussian_filter

from active_learning.backends import get_backend_class
from active_learning.backends.base import ModelBackend
from active_learning.datasets import unlabelled_crops
from active_learning.diversity import compress_style
from active_learning.evaluation import errors_by_crop
from active_learning.jobs import JobContext
from active_learning.models import CropScore, Job, ModelVersion, Prediction
from active_learning.outputs import CropPrediction
from active_learning.strategies import ScoringInput, get_strategy, scored_strategies
from active_learning.strategies.tta import FLIP_AXES, flip_image, unflip
from annotations.masks import decode_png
from annotations.models import Crop, Project

DESCRIPTOR = "crop_descriptor"  # reserved CropScore.strategy name: content weight + style; not a strategy
# Stored when a strategy cannot score a crop even with every input tried (e.g. no previous
# version predicted it), so the key counts as done; the ranking reads negative scores as missing.
UNAVAILABLE = -1.0

FlowErrorFn = Callable[[CropPrediction], Mapping[int, float]]


# --- How much a crop shows: blank crops are not worth a labeller's time -----------------------

# Structure is measured on the crop smoothed at about a nucleus' radius, against the noise that
# smoothing leaves. Pure noise reaches ~4 (the 99.9th percentile of |N(0, 1)| is 3.3); crops with
# cells on the shipped U2OS images score 200-800, and a contrast-dropped noisy copy 10-80.
STRUCTURE_SIGMA_PX = 4.0
BLANK_SNR, CLEAR_SNR = 4.0, 16.0


def _noise_sigma(channel: np.ndarray) -> float:
    """Pixel noise from the median absolute difference of neighbours (edges barely move it)."""
    diffs = np.abs(np.diff(channel, axis=1))
    floor = 0.5 if np.issubdtype(channel.dtype, np.integer) else 1e-6 * (float(np.abs(channel).max()) + 1e-12)
    return max(1.4826 * float(np.median(diffs)) / np.sqrt(2.0), floor)


def structure_snr(channel: np.ndarray) -> float:
    """The crop's strongest structure (99.9th percentile of the smoothed crop minus its best-fit
    plane, so an uneven background is not structure) over the noise left after smoothing."""
    smooth = gaussian_filter(channel.astype(np.float32), STRUCTURE_SIGMA_PX)
    h, w = smooth.shape
    yy, xx = np.mgrid[0:h, 0:w]
    plane = np.stack([np.ones(h * w), yy.ravel() / h, xx.ravel() / w], axis=1)
    coef, *_ = np.linalg.lstsq(plane, smooth.ravel(), rcond=None)
    structure = float(np.percentile(np.abs(smooth.ravel() - plane @ coef), 99.9))
    left_noise = _noise_sigma(channel) / (2 * STRUCTURE_SIGMA_PX * np.sqrt(np.pi))
    return structure / left_noise


def content_weight(image: np.ndarray) -> tuple[float, float]:
    """(weight in [0, 1], snr): 0 for a crop indistinguishable from noise, 1 for visible structure."""
    channels = image[..., None] if image.ndim == 2 else image
    snr = max(structure_snr(channels[..., c]) for c in range(channels.shape[-1]))
    weight = np.log(max(snr, 1e-9) / BLANK_SNR) / np.log(CLEAR_SNR / BLANK_SNR)
    return float(np.clip(weight, 0.0, 1.0)), snr


# --- Inputs the strategies need beyond the prediction -----------------------------------------


def previous_version(version: ModelVersion) -> ModelVersion | None:
    """The version that served predictions before this one (else the one it was trained from)."""
    earlier = ModelVersion.objects.filter(project_id=version.project_id, promoted_at__isnull=False).exclude(
        pk=version.pk
    )
    if version.promoted_at is not None:
        earlier = earlier.filter(promoted_at__lt=version.promoted_at)
    return earlier.order_by("-promoted_at").first() or version.parent


def previous_masks(version: ModelVersion, crop_ids: Iterable[int]) -> dict[int, np.ndarray]:
    before = previous_version(version)
    if before is None:
        return {}
    rows = Prediction.objects.filter(model_version=before, crop_id__in=list(crop_ids))
    return {crop_id: decode_png(bytes(png)) for crop_id, png in rows.values_list("crop_id", "mask_png")}


def flipped_predictions(backend: ModelBackend, images: Sequence[np.ndarray]) -> list[tuple[CropPrediction, ...]]:
    """Each crop predicted under every flip of FLIP_AXES, mapped back onto the crop."""
    per_flip = [
        [unflip(p, axis) for p in backend.predict([flip_image(image, axis) for image in images])]
        for axis in FLIP_AXES
    ]
    return [tuple(flips) for flips in zip(*per_flip, strict=True)] if per_flip else [() for _ in images]


def backend_flow_errors(backend: ModelBackend | None) -> FlowErrorFn | None:
    """The backend's per-cell flow errors, `flow_errors(prediction)`, when it measures them."""
    if backend is None or type(backend).flow_errors is ModelBackend.flow_errors:
        return None
    return backend.flow_errors


# --- Scoring a batch ---------------------------------------------------------------------------


@dataclass
class _Batch:
    version: ModelVersion
    crops: Sequence[Crop]
    outputs: Sequence[CropPrediction]
    images: Sequence[np.ndarray] | None
    missing: dict[int, set[str]]  # crop id -> strategy names (and DESCRIPTOR) still to store


def default_strategy_names(project: Project) -> list[str]:
    return [strategy.name for strategy in scored_strategies(project.strategy)]


def _missing(version: ModelVersion, crop_ids: list[int], names: list[str]) -> dict[int, set[str]]:
    done = CropScore.objects.filter(model_version=version, crop_id__in=crop_ids, strategy__in=names)
    stored = set(done.values_list("crop_id", "strategy"))
    return {crop_id: {n for n in names if (crop_id, n) not in stored} for crop_id in crop_ids}


def _needed_inputs(missing: dict[int, set[str]]) -> set[str]:
    names = {name for names in missing.values() for name in names if name != DESCRIPTOR}
    return {need for name in names for need in get_strategy(name).needs}


def _inputs(batch: _Batch, backend: ModelBackend | None) -> tuple[list[ScoringInput], set[str]]:
    """Each crop's strategy inputs, and which kinds of input were attempted (a strategy whose
    needs were all attempted but that still cannot score a crop is marked unavailable for it)."""
    needs = _needed_inputs(batch.missing)
    ids = [crop.pk for crop in batch.crops]
    previous = previous_masks(batch.version, ids) if "previous_masks" in needs else {}
    flow_errors = backend_flow_errors(backend) if "flow_errors" in needs else None
    can_flip = "augmented" in needs and backend is not None and batch.images is not None
    augmented = flipped_predictions(backend, batch.images) if can_flip else [() for _ in ids]
    tried = {"previous_masks": True, "flow_errors": flow_errors is not None, "augmented": can_flip}
    attempted = {need for need, done in tried.items() if done}
    items = [
        ScoringInput(
            crop_id=crop_id,
            prediction=output,
            augmented=flips,
            previous_masks=previous.get(crop_id),
            flow_errors=flow_errors(output) if flow_errors else None,
        )
        for crop_id, output, flips in zip(ids, batch.outputs, augmented, strict=True)
    ]
    return items, attempted


@dataclass
class _Pointers:
    """What the editor points the labeller at on one crop: per-cell uncertainty, and places
    where a cell may have been missed."""

    cells: dict[int, float] = field(default_factory=dict)
    places: list[tuple[float, float, float]] = field(default_factory=list)


def _score_rows(
    batch: _Batch, item: ScoringInput, image: np.ndarray | None, attempted: set[str]
) -> tuple[list[CropScore], _Pointers]:
    """The CropScore rows still missing for one crop, and what the editor should point at."""
    weight, snr = content_weight(image) if image is not None else (1.0, None)
    rows, pointers = [], _Pointers()
    for name in sorted(batch.missing[item.crop_id] - {DESCRIPTOR}):
        strategy = get_strategy(name)
        result = strategy.score(item)
        if result is None:
            if strategy.needs <= attempted:
                rows.append(_row(batch, item.crop_id, name, UNAVAILABLE, {"unavailable": sorted(strategy.needs)}))
            continue
        details = {**result.details, "raw": result.value, "content": weight}
        rows.append(_row(batch, item.crop_id, name, result.value * weight, details))
        for cell, value in result.cells.items():
            pointers.cells[cell] = max(pointers.cells.get(cell, 0.0), value)
        if weight > 0:  # no place to point at on a crop the blank-crop guard finds empty
            pointers.places.extend(result.places)
    if DESCRIPTOR in batch.missing[item.crop_id]:
        style = {"style": compress_style(item.prediction.style), "snr": snr}
        rows.append(_row(batch, item.crop_id, DESCRIPTOR, weight, style))
    return rows, pointers


def _row(batch: _Batch, crop_id: int, strategy: str, score: float, details: dict[str, Any]) -> CropScore:
    clean = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in details.items()}
    return CropScore(crop_id=crop_id, model_version=batch.version, strategy=strategy, score=float(score), details=clean)


def _store_pointers(version: ModelVersion, pointers_by_crop: dict[int, _Pointers]) -> None:
    """Fill Prediction.cell_uncertainty ({"<cell id>": score in [0, 1]}) and
    Prediction.possible_missed_cells ([[x, y, radius], ...]) where still empty."""
    predictions = Prediction.objects.filter(model_version=version, crop_id__in=list(pointers_by_crop))
    changed = []
    for prediction in predictions.only("id", "crop_id", "cell_uncertainty", "possible_missed_cells"):
        pointers = pointers_by_crop[prediction.crop_id]
        fill_cells = bool(pointers.cells) and not prediction.cell_uncertainty
        fill_places = bool(pointers.places) and not prediction.possible_missed_cells
        if fill_cells:
            prediction.cell_uncertainty = {str(c): round(v, 4) for c, v in sorted(pointers.cells.items())}
        if fill_places:
            prediction.possible_missed_cells = [list(place) for place in pointers.places]
        if fill_cells or fill_places:
            changed.append(prediction)
    Prediction.objects.bulk_update(changed, ["cell_uncertainty", "possible_missed_cells"])


def score_predictions(
    version: ModelVersion,
    crops: Sequence[Crop],
    outputs: Sequence[CropPrediction],
    *,
    images: Sequence[np.ndarray] | None = None,
    backend: ModelBackend | None = None,
    strategies: Sequence[str] | None = None,
) -> int:
    """Store the scores of `version`'s `outputs` on `crops` that are not stored yet; returns how
    many rows were added. `strategies` defaults to those the project's strategy ranks with.
    `images` (the crops' pixels, as predicted) feed the blank-crop guard and the flip predictions;
    `backend` is needed for `tta` (it predicts the flips) and `flow_error` (its flow errors)."""
    names = [*(strategies if strategies is not None else default_strategy_names(version.project)), DESCRIPTOR]
    missing = _missing(version, [crop.pk for crop in crops], names)
    if not any(missing.values()):
        return 0
    batch = _Batch(version, crops, outputs, images, missing)
    items, attempted = _inputs(batch, backend)
    rows, pointers_by_crop = [], {}
    for index, item in enumerate(items):
        image = images[index] if images is not None else None
        crop_rows, pointers_by_crop[item.crop_id] = _score_rows(batch, item, image, attempted)
        rows.extend(crop_rows)
    created = CropScore.objects.bulk_create(rows, ignore_conflicts=True)
    _store_pointers(version, pointers_by_crop)
    return len(created)


# --- The scoring job ---------------------------------------------------------------------------


def lacking_scores(crops: QuerySet[Crop], version: ModelVersion, names: Sequence[str]) -> QuerySet[Crop]:
    """Those of `crops` that lack any of the scores `names` (or the descriptor) of `version`."""

    def has(name: str) -> Exists:
        return Exists(CropScore.objects.filter(crop=OuterRef("pk"), model_version=version, strategy=name))

    lacking = Q()
    for name in [*names, DESCRIPTOR]:
        lacking |= ~has(name)
    return crops.filter(lacking)


def unscored_crops(project: Project, version: ModelVersion, names: Sequence[str]) -> QuerySet[Crop]:
    """Crops still in the queue that lack any of the scores `names` (or the descriptor) of `version`."""
    return lacking_scores(unlabelled_crops(project), version, names)


def unscored_evaluated_crops(version: ModelVersion, names: Sequence[str]) -> QuerySet[Crop]:
    """The validation crops `version` was evaluated on (its stored per-crop metrics) that lack
    any of the scores `names`: a calibrating strategy reads them (active_learning.validation
    scores them as it evaluates; a project that switched to such a strategy since has none)."""
    ids = list(errors_by_crop(version.metrics))
    crops = Crop.objects.filter(project_id=version.project_id, pk__in=ids).select_related("image").order_by("id")
    return lacking_scores(crops, version, names)


def job_strategy_names(job: Job, context: JobContext) -> list[str]:
    """The strategies a prediction job scores with: the job's own list, else the project's."""
    names = list(job.params.get("strategies") or default_strategy_names(job.project))
    backend_class = get_backend_class(job.project.backend)
    if "flow_error" in names and backend_class.flow_errors is ModelBackend.flow_errors:
        context.log(f"the {job.project.backend} backend reports no flow errors: flow_error is left out")
        names.remove("flow_error")
    return names
