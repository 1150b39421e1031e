"""Simulated labelling: does active learning pay, measured on the real loop.

A labelled dataset (images/<id>.png + masks/<id>.png) is ingested into a fresh project per
(strategy, seed). Validation images (a fixed share, chosen by content hash, the same for every
strategy and seed) come with their labels: they are the evaluation set. The train images come
without labels; their ground truth is kept here and "typed in" by a simulated labeller:

* round 0: the same seed set of labelled train crops for every strategy at a given seed,
  then a training job (so every strategy starts from the same model);
* each next round: the labeller asks the queue for its next crop K times (`lease_next_crop`,
  so pins, the random control share and diversity apply as in production) and submits each
  crop's ground truth as its correction (`submit_annotation`, source "simulation"), then a
  training job fine-tunes from the active version, evaluates the candidate on the validation
  crops and promotes it only if it is better; a promotion re-predicts, re-scores and re-ranks.

Every job is a real Job row run by `jobs.run_job` in this process: the simulation is the
project's worker. A round records the candidate's AP whether or not it was promoted, so the
curves are not flattened by the promotion gate. A run that starts from trained weights also
records them as round -1 (no labels): round 0's training job serves and evaluates them first
(active_learning.start_model), and its candidate has to beat them. A promotion queues the
prediction job, which predicts, scores and re-ranks the pool; the simulation runs it before the
next round's labelling.
"""

from __future__ import annotations

import csv
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage

from active_learning import jobs
from active_learning.models import Job, JobKind, JobStatus, ModelVersion, ModelVersionStatus
from active_learning.start_model import ORIGIN_PREFIX as START_ORIGIN_PREFIX
from active_learning.versions import active_version
from annotations import selectors
from annotations import services as crop_services
from annotations.imaging import read_label_image
from annotations.ingest import file_sha256, ingest_image, set_image_split, split_fraction
from annotations.masks import relabel_sequential
from annotations.models import Crop, Image, Project, Split

logger = logging.getLogger(__name__)

WORKER = "simulation"
SOURCE = "simulation"
LABELLER = "simulation"
# The round of the start weights (before any label), in runs that start from trained weights.
START_ROUND = -1
CSV_NAME = "simulation.csv"
PLOT_NAME = "simulation.png"
SUMMARY_NAME = "summary.txt"


class SimulationError(Exception):
    """The simulated loop cannot go on (a job failed, the dataset is unusable)."""


# --- The dataset ---------------------------------------------------------------------------------


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


# --- Settings and results ------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationSettings:
    rounds: int  # labelling rounds after the seed round
    per_round: int  # crops labelled per round
    seed_crops: int = 8
    crop_size: int = 256
    validation_fraction: float = 0.25
    random_fraction: float = 0.1  # the project's random control share, as in production
    backend_settings: Mapping[str, Any] = field(default_factory=dict)  # Project.backend_settings
    keep: bool = False  # keep the simulation projects (default: delete them afterwards)


@dataclass(frozen=True)
class RoundResult:
    strategy: str
    seed: int
    round: int
    n_crops: int  # labelled train crops the candidate trained on
    n_cells: int  # cells in them
    ap50: float  # the candidate's AP on the validation crops, promoted or not
    ap75: float
    promoted: bool
    seconds: float  # wall time of the round: labelling, training, evaluation, prediction, ranking
    active_ap50: float  # AP@0.5 of the version serving after the round


CSV_FIELDS = [f.name for f in fields(RoundResult)]


# --- Project set-up ------------------------------------------------------------------------------


def simulation_labeller() -> tuple[AbstractBaseUser, bool]:
    """The simulated labeller's account, and whether it was created now."""
    user, created = get_user_model().objects.get_or_create(username=LABELLER)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user, created


def project_backend_settings(base: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The project's backend settings; the seed fixes a fresh network's initial weights."""
    return {**base, "seed": seed}


def create_simulation_project(name: str, user: AbstractBaseUser, strategy: str, seed: int,
                              config: SimulationSettings) -> Project:
    return crop_services.create_project(
        name=name,
        creator=user,
        description=f"Simulated labelling ({strategy}, seed {seed}); deleted when the simulation ends.",
        crop_size=config.crop_size,
        validation_fraction=config.validation_fraction,
        strategy=strategy,
        random_fraction=config.random_fraction,
        backend_settings=project_backend_settings(config.backend_settings, seed),
    )


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


# --- The simulated labeller ----------------------------------------------------------------------


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


def label_crop(crop: Crop, user: AbstractBaseUser, truth: Mapping[int, np.ndarray]) -> int:
    """Submit the crop's ground truth as the labeller's correction of what it was shown; returns
    the number of cells."""
    prediction = selectors.newest_prediction(crop)
    annotation = crop_services.submit_annotation(
        crop=crop, user=user, mask=crop_truth(crop, truth), source=SOURCE,
        started_from_id=prediction.model_version_id if prediction else None,
    )
    return annotation.n_cells


def label_seed_set(crops: Iterable[Crop], user: AbstractBaseUser, truth: Mapping[int, np.ndarray]) -> None:
    for crop in crops:
        crop_services.lease_crop(crop=crop, user=user, as_admin=True)
        label_crop(crop, user, truth)


def label_from_queue(project: Project, user: AbstractBaseUser, truth: Mapping[int, np.ndarray], k: int) -> int:
    """Label the next `k` crops the queue serves, as a labeller would; returns how many it served."""
    for served in range(k):
        crop_id = crop_services.lease_next_crop(project=project, user=user)
        if crop_id is None:
            return served
        label_crop(Crop.objects.select_related("image").get(pk=crop_id), user, truth)
    return k


# --- The simulation as the project's worker ------------------------------------------------------


def run_one(job: Job) -> None:
    status = jobs.run_job(job.pk, worker=WORKER)
    if status != JobStatus.SUCCEEDED:
        job.refresh_from_db()
        raise SimulationError(f"{job.kind} job {job.pk} of {job.project.name!r} ended {status}: {job.error}")


def run_queued_jobs(project: Project) -> None:
    """Run the project's queued jobs (a promotion's prediction job), oldest first, as its worker would."""
    queued = Job.objects.filter(project=project, status=JobStatus.QUEUED)
    while (job := queued.order_by("created_at", "id").first()) is not None:
        run_one(job)


def train_round(project: Project, user: AbstractBaseUser) -> ModelVersion:
    """One training job (train, evaluate, promote if better), then what it queued."""
    job = jobs.enqueue_job(project, JobKind.TRAIN, user=user, trigger=SOURCE)
    run_one(job)
    candidate = ModelVersion.objects.get(training_job=job)
    run_queued_jobs(project)
    return candidate


# --- One (strategy, seed) run ----------------------------------------------------------------------


def _ap(metrics: Mapping[str, Any], key: str) -> float:
    value = metrics.get(key)
    return float(value) if value is not None else 0.0


def round_result(strategy: str, seed: int, number: int, candidate: ModelVersion, seconds: float) -> RoundResult:
    candidate.refresh_from_db()
    serving = active_version(candidate.project)
    return RoundResult(
        strategy=strategy, seed=seed, round=number, n_crops=candidate.n_train_crops,
        n_cells=candidate.n_train_cells, ap50=_ap(candidate.metrics, "ap50"), ap75=_ap(candidate.metrics, "ap75"),
        promoted=candidate.status == ModelVersionStatus.ACTIVE, seconds=round(seconds, 1),
        active_ap50=_ap(serving.metrics, "ap50") if serving else 0.0,
    )


def start_result(project: Project, strategy: str, seed: int) -> RoundResult | None:
    """The start weights as the curve's first point (round START_ROUND, no labels), for a project
    that starts from trained weights: its first training job served and evaluated them."""
    start = ModelVersion.objects.filter(project=project, origin__startswith=START_ORIGIN_PREFIX).first()
    if start is None or "ap50" not in start.metrics:
        return None
    ap50 = _ap(start.metrics, "ap50")
    return RoundResult(strategy=strategy, seed=seed, round=START_ROUND, n_crops=0, n_cells=0, ap50=ap50,
                       ap75=_ap(start.metrics, "ap75"), promoted=True, seconds=0.0, active_ap50=ap50)


def run_strategy(pairs: Sequence[Pair], validation: set[str], strategy: str, seed: int, config: SimulationSettings,
                 *, name: str, on_round: Callable[[RoundResult], None] | None = None) -> list[RoundResult]:
    """Simulate labelling one fresh project with `strategy`; one result per round."""
    user, _ = simulation_labeller()
    project = create_simulation_project(name, user, strategy, seed, config)
    results: list[RoundResult] = []
    try:
        truth = ingest_dataset(project, pairs, validation, user)
        for number in range(config.rounds + 1):
            started = time.perf_counter()
            if number == 0:
                label_seed_set(choose_seed_crops(project, truth, config.seed_crops, seed), user, truth)
            elif label_from_queue(project, user, truth, config.per_round) == 0:
                break  # every train crop is labelled
            candidate = train_round(project, user)
            rows = [round_result(strategy, seed, number, candidate, time.perf_counter() - started)]
            if number == 0 and (start := start_result(project, strategy, seed)) is not None:
                rows.insert(0, start)
            for row in rows:
                results.append(row)
                if on_round is not None:
                    on_round(row)
    finally:
        if not config.keep:
            discard_project(project)
    return results


def simulate(pairs: Sequence[Pair], strategies: Sequence[str], seeds: Sequence[int], config: SimulationSettings,
             *, tag: str, on_round: Callable[[RoundResult], None] | None = None) -> list[RoundResult]:
    """Every strategy at every seed (seeds outermost, so partial results compare like with like)."""
    validation = validation_names(pairs, config.validation_fraction)
    user, created = simulation_labeller()
    results: list[RoundResult] = []
    try:
        with jobs.run_by_caller():
            for seed in seeds:
                for strategy in strategies:
                    name = f"simulation {tag} {strategy} seed {seed}"
                    results += run_strategy(pairs, validation, strategy, seed, config, name=name, on_round=on_round)
    finally:
        if created and not config.keep and not user.memberships.exists():
            user.delete()
    return results


def discard_project(project: Project) -> None:
    """Delete a simulation project, its rows and its files (an original another project also
    holds stays)."""
    originals = list(Image.objects.filter(project=project).values_list("file", flat=True))
    pk = project.pk
    project.delete()
    media = Path(settings.MEDIA_ROOT)
    for folder in (f"crops/{pk}", f"models/{pk}"):
        shutil.rmtree(media / folder, ignore_errors=True)
    for name in originals:
        if not Image.objects.filter(file=name).exists():
            default_storage.delete(name)


# --- Reading the results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvePoint:
    round: int
    n_crops: float  # means over seeds
    n_cells: float
    ap50: float
    ap50_low: float  # spread over seeds (min, max)
    ap50_high: float
    ap75: float
    n_seeds: int


@dataclass(frozen=True)
class StrategySummary:
    strategy: str
    final_ap50: float
    # The labelled crops it needs to reach random's final AP@0.5, over those random itself needed
    # to first reach it (`share_of_random`); the same in labelled cells; None: not reached.
    crops_fraction: float | None
    cells_fraction: float | None
    worst_gap: float  # min over rounds of (AP@0.5 - random's AP@0.5) at the same round
    worst_gap_round: int
    crops_needed: float | None = None  # labelled crops (mean over seeds) it needed to reach random's final AP@0.5
    final_crops: float = 0.0  # labelled crops at its last round
    # How sure: a 90 % interval over seeds (paired bootstrap, see seed_intervals), when the
    # strategy and random share at least BOOTSTRAP_MIN_SEEDS seeds; inf: not reached.
    n_paired_seeds: int = 0
    crops_fraction_interval: tuple[float, float] | None = None
    final_gap_interval: tuple[float, float] | None = None  # final AP@0.5 - random's final AP@0.5


# What a curve follows: "ap50", each round's candidate (what the labels trained, promoted or not),
# or "active_ap50", the version serving after the round (what the product delivers through the
# promotion gate; it never falls).
METRICS = {"ap50": "candidate models", "active_ap50": "serving models (after the promotion gate)"}


def mean_curve(results: Iterable[RoundResult], strategy: str, metric: str = "ap50") -> list[CurvePoint]:
    """Per round, the mean over seeds; the curve's `ap50` is the `metric` (see METRICS)."""
    by_round: dict[int, list[RoundResult]] = {}
    for result in results:
        if result.strategy == strategy:
            by_round.setdefault(result.round, []).append(result)
    return [_point(number, rows, metric) for number, rows in sorted(by_round.items())]


def _point(number: int, rows: list[RoundResult], metric: str) -> CurvePoint:
    ap50 = np.array([getattr(r, metric) for r in rows])
    return CurvePoint(
        round=number, n_crops=float(np.mean([r.n_crops for r in rows])),
        n_cells=float(np.mean([r.n_cells for r in rows])), ap50=float(ap50.mean()), ap50_low=float(ap50.min()),
        ap50_high=float(ap50.max()), ap75=float(np.mean([r.ap75 for r in rows])), n_seeds=len(rows),
    )


def labels_to_reach(curve: Sequence[CurvePoint], target: float, key: str) -> float | None:
    """Labels (`key`: "n_crops" or "n_cells") at which the curve first reaches `target`,
    interpolated linearly between rounds; None when it never does."""
    for i, point in enumerate(curve):
        if point.ap50 >= target:
            if i == 0:
                return getattr(point, key)
            before = curve[i - 1]
            share = (target - before.ap50) / (point.ap50 - before.ap50)
            return getattr(before, key) + share * (getattr(point, key) - getattr(before, key))
    return None


def summarise(results: Sequence[RoundResult], baseline: str = "random", metric: str = "ap50") -> list[StrategySummary]:
    strategies = list(dict.fromkeys(r.strategy for r in results))
    reference = mean_curve(results, baseline, metric)
    summaries = []
    for strategy in strategies:
        curve = mean_curve(results, strategy, metric)
        summary = _summary(strategy, curve, reference)
        if strategy != baseline:
            summary = replace(summary, **seed_intervals(results, strategy, baseline, metric))
        summaries.append(summary)
    return summaries


# Seeds drawn with replacement to say how sure a summary is; below BOOTSTRAP_MIN_SEEDS an
# interval says nothing. The draws are seeded, so the same results always print the same interval.
BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_MIN_SEEDS = 3
INTERVAL = (0.05, 0.95)


def seed_intervals(results: Sequence[RoundResult], strategy: str, baseline: str = "random", metric: str = "ap50",
                   draws: int = BOOTSTRAP_DRAWS) -> dict[str, Any]:
    """A 90 % interval of `strategy`'s share of `baseline`'s labels and of its final gap to
    `baseline`, by a paired bootstrap over seeds: each draw takes the seeds both ran, with
    replacement, the same seeds for both (a seed's runs share their seed set and first model),
    and summarises the draw as `summarise` does. A draw that never reaches the baseline's final
    AP counts as an infinite share. {} when they share fewer than BOOTSTRAP_MIN_SEEDS seeds."""
    runs: dict[tuple[str, int], list[RoundResult]] = {}
    for result in results:
        if result.strategy in (strategy, baseline):
            runs.setdefault((result.strategy, result.seed), []).append(result)
    ran = {name: {seed for run, seed in runs if run == name} for name in (strategy, baseline)}
    seeds = sorted(ran[strategy] & ran[baseline])
    if len(seeds) < BOOTSTRAP_MIN_SEEDS:
        return {}
    rng = np.random.default_rng(0)
    shares, gaps = [], []
    for _ in range(draws):
        drawn = rng.choice(seeds, len(seeds))
        reference = mean_curve([r for seed in drawn for r in runs[baseline, seed]], baseline, metric)
        curve = mean_curve([r for seed in drawn for r in runs[strategy, seed]], strategy, metric)
        summary = _summary(strategy, curve, reference)
        shares.append(np.inf if summary.crops_fraction is None else summary.crops_fraction)
        gaps.append(summary.final_ap50 - reference[-1].ap50)
    low, high = INTERVAL

    def interval(values: list[float]) -> tuple[float, float]:
        return float(np.quantile(values, low, method="lower")), float(np.quantile(values, high, method="higher"))

    return {"n_paired_seeds": len(seeds), "crops_fraction_interval": interval(shares),
            "final_gap_interval": interval(gaps)}


def share_of_random(needed: float | None, random_needed: float | None) -> float | None:
    """The labels a strategy needed to reach random's final AP@0.5 over the labels random itself
    needed to first reach it (None: the strategy never did).

    Of random's first arrival, not of its whole budget: where random's curve stops climbing before
    the last round, the labels it got afterwards bought nothing, and a share of them would flatter
    every other strategy. Where random's labels never lifted it above its first point, both reach
    the target there and the share is 1: no label made a difference."""
    if needed is None or random_needed is None:
        return None
    if random_needed > 0:
        return needed / random_needed
    return 1.0 if needed <= 0 else None


def _summary(strategy: str, curve: list[CurvePoint], reference: list[CurvePoint]) -> StrategySummary:
    gaps = [(p.ap50 - r.ap50, p.round) for p, r in zip(curve, reference, strict=False) if p.round == r.round]
    worst = min(gaps) if gaps else (0.0, 0)
    needed: dict[str, float | None] = {"n_crops": None, "n_cells": None}
    fractions = dict(needed)
    if reference:
        target = reference[-1].ap50
        for key in needed:
            needed[key] = labels_to_reach(curve, target, key)
            fractions[key] = share_of_random(needed[key], labels_to_reach(reference, target, key))
    return StrategySummary(strategy, curve[-1].ap50 if curve else 0.0, fractions["n_crops"], fractions["n_cells"],
                           worst[0], worst[1], needed["n_crops"], curve[-1].n_crops if curve else 0.0)


def summary_lines(summaries: Sequence[StrategySummary], baseline: str = "random") -> list[str]:
    reference = next((s for s in summaries if s.strategy == baseline), None)
    if reference is None:
        return [f"{s.strategy}: final AP@0.5 {s.final_ap50:.3f} (no {baseline} run to compare with)" for s in summaries]
    width = max(len(s.strategy) for s in summaries)
    return [_summary_line(s, reference.final_ap50, width, s is reference) for s in summaries]


def _summary_line(s: StrategySummary, target: float, width: int, is_baseline: bool = False) -> str:
    if is_baseline:  # the reference (its share is 1 by definition): how soon its labels stopped paying
        return (f"{s.strategy:<{width}}  final AP@0.5 {s.final_ap50:.3f}; first reached with {s.crops_needed:.0f} "
                f"of its {s.final_crops:.0f} labelled crops (the other strategies' shares are of those)")
    if s.crops_fraction is None:
        reach = f"does not reach random's final AP@0.5 ({target:.3f}): not reached"
    else:
        cells = f"{s.cells_fraction:.0%}" if s.cells_fraction is not None else "not reached"
        reach = (f"reaches random's final AP@0.5 ({target:.3f}) with {s.crops_fraction:.0%} of random's labelled "
                 f"crops ({cells} of its cells)")
    line = (f"{s.strategy:<{width}}  final AP@0.5 {s.final_ap50:.3f}; {reach}; "
            f"worst gap to random {s.worst_gap:+.3f} (round {s.worst_gap_round})")
    if s.crops_fraction_interval is None or s.final_gap_interval is None:
        return line
    low, high = (f"{x:.0%}" if np.isfinite(x) else "not reached" for x in s.crops_fraction_interval)
    gap_low, gap_high = s.final_gap_interval
    return (f"{line}; 90% interval over {s.n_paired_seeds} seeds: share {low} to {high}, "
            f"final gap {gap_low:+.3f} to {gap_high:+.3f}")


def write_csv(results: Iterable[RoundResult], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerow({**asdict(result), "ap50": f"{result.ap50:.4f}", "ap75": f"{result.ap75:.4f}",
                             "active_ap50": f"{result.active_ap50:.4f}", "promoted": int(result.promoted)})
    return path


def read_csv(path: Path) -> list[RoundResult]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    casts: dict[str, Callable[[str], Any]] = {
        "strategy": str, "seed": int, "round": int, "n_crops": int, "n_cells": int, "ap50": float, "ap75": float,
        "promoted": lambda v: v in ("1", "True", "true"), "seconds": float, "active_ap50": float,
    }
    return [RoundResult(**{k: casts[k](row[k]) for k in CSV_FIELDS}) for row in rows]


def plot(results: Sequence[RoundResult], path: Path, *, title: str = "") -> Path:
    """AP@0.5 against labelled cells (left) and crops (right), per strategy: the serving models
    (solid, shaded from the worst to the best seed) and the candidates (dashed), means over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for strategy in dict.fromkeys(r.strategy for r in results):
        serving, candidates = mean_curve(results, strategy, "active_ap50"), mean_curve(results, strategy)
        for ax, key in zip(axes, ("n_cells", "n_crops"), strict=True):
            x = [getattr(p, key) for p in serving]
            line = ax.plot(x, [p.ap50 for p in serving], marker="o", label=f"{strategy} (serving)")[0]
            ax.fill_between(x, [p.ap50_low for p in serving], [p.ap50_high for p in serving], alpha=0.2,
                            color=line.get_color())
            ax.plot([getattr(p, key) for p in candidates], [p.ap50 for p in candidates], linestyle="--",
                    marker=".", color=line.get_color(), alpha=0.7, label=f"{strategy} (candidates)")
    for ax, label in zip(axes, ("labelled cells", "labelled crops"), strict=True):
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("AP@0.5 on the validation crops")
    axes[0].legend()
    n_seeds = len({r.seed for r in results})
    figure.suptitle(f"{title} (mean of {n_seeds} seed{'s' if n_seeds != 1 else ''}; band: min-max)".strip())
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
