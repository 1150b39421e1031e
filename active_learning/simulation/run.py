"""The loop: per (strategy, seed), a fresh project labelled round by round, with the simulation
as the project's worker (every job a real Job row, run in this process)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage

from active_learning import jobs
from active_learning.backends.settings import START_SCRATCH
from active_learning.backends.weights import SHA256_HEX
from active_learning.effort import NO_EFFORT, CropEffort
from active_learning.models import Job, JobKind, JobStatus, ModelVersion, ModelVersionStatus
from active_learning.simulation import SimulationError
from active_learning.simulation.assist import editor_assist_for
from active_learning.simulation.dataset import Pair, ingest_dataset, validation_names
from active_learning.simulation.labeller import (
    SOURCE,
    AssistFor,
    choose_seed_crops,
    label_from_queue,
    label_seed_set,
    simulation_labeller,
)
from active_learning.simulation.results import START_ROUND, RoundResult
from active_learning.start_model import ORIGIN_PREFIX as START_ORIGIN_PREFIX
from active_learning.versions import active_version, store_weights
from annotations import projects
from annotations.models import Image, Project
from labelserver import storage

WORKER = "simulation"  # the worker name its jobs record


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
    # Count the actions with the assisted tools (the editor's proposals for each missed or poorly
    # outlined cell: see simulation.assist); False: the tools help nowhere (faster).
    assist: bool = True


OnRound = Callable[[RoundResult], None]  # called as each round's row is recorded


# --- Projects ------------------------------------------------------------------------------------


def project_backend_settings(base: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The project's backend settings; the seed fixes a fresh network's initial weights."""
    return {**base, "seed": seed}


def create_simulation_project(name: str, user: AbstractBaseUser, strategy: str, seed: int,
                              config: SimulationSettings) -> Project:
    backend_settings = project_backend_settings(config.backend_settings, seed)
    start_file = _start_file(backend_settings)
    if start_file is not None:  # uploaded once the project exists, then named by its hash
        backend_settings["start_from"] = START_SCRATCH
    project = projects.create_project(
        name=name,
        creator=user,
        description=f"Simulated labelling ({strategy}, seed {seed}); deleted when the simulation ends.",
        crop_size=config.crop_size,
        validation_fraction=config.validation_fraction,
        strategy=strategy,
        random_fraction=config.random_fraction,
        backend_settings=backend_settings,
    )
    if start_file is not None:
        _, sha = store_weights(project, start_file)
        projects.update_project(project=project, backend_settings={**backend_settings, "start_from": f"weights:{sha}"})
    return project


def _start_file(backend_settings: Mapping[str, Any]) -> Path | None:
    """The operator's `--start-from weights:<path>`: a file on this machine, which each simulation
    project gets as its own upload (a project's settings name uploaded weights by hash, never a path)."""
    start = str(backend_settings.get("start_from", ""))
    value = start.removeprefix("weights:")
    if not start.startswith("weights:") or SHA256_HEX.fullmatch(value):
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise SimulationError(f"--start-from {start}: no such weights file")
    return path


def discard_project(project: Project) -> None:
    """Delete a simulation project, its rows and its files (an original another project also
    holds stays)."""
    originals = list(Image.objects.filter(project=project).values_list("file", flat=True))
    pk = project.pk
    project.delete()
    for folder in (f"crops/{pk}", f"models/{pk}"):
        storage.delete_folder(folder)
    for name in originals:
        if not Image.objects.filter(file=name).exists():
            default_storage.delete(name)


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


def label_and_train(project: Project, user: AbstractBaseUser, truth: Mapping[int, np.ndarray], number: int,
                    seed: int, config: SimulationSettings,
                    assist_for: AssistFor | None = None) -> tuple[ModelVersion, CropEffort] | None:
    """Round `number`'s labels (round 0: the seed set; then the queue's next crops) and its
    training job; returns the candidate and the labels' effort, or None when the queue served
    nothing to label."""
    if number == 0:
        crops = choose_seed_crops(project, truth, config.seed_crops, seed)
        effort = label_seed_set(crops, user, truth, assist_for)
    else:
        effort = label_from_queue(project, user, truth, config.per_round, assist_for)
        if effort.n_crops == 0:
            return None
    return train_round(project, user), effort


# --- A round's row -------------------------------------------------------------------------------


def _ap(metrics: Mapping[str, Any], key: str) -> float:
    value = metrics.get(key)
    return float(value) if value is not None else 0.0


def round_result(strategy: str, seed: int, number: int, candidate: ModelVersion, seconds: float,
                 effort: CropEffort = NO_EFFORT, so_far: CropEffort = NO_EFFORT) -> RoundResult:
    """The round's row: `effort` is its labels', `so_far` the run's up to and with this round."""
    candidate.refresh_from_db()
    serving = active_version(candidate.project)
    return RoundResult(
        strategy=strategy, seed=seed, round=number, n_crops=candidate.n_train_crops,
        n_cells=candidate.n_train_cells, ap50=_ap(candidate.metrics, "ap50"), ap75=_ap(candidate.metrics, "ap75"),
        promoted=candidate.status == ModelVersionStatus.ACTIVE, seconds=round(seconds, 1),
        active_ap50=_ap(serving.metrics, "ap50") if serving else 0.0,
        round_crops=effort.n_crops, round_cells=effort.n_true, round_actions=effort.manual.total,
        round_actions_assisted=effort.assisted.total, n_actions=so_far.manual.total,
        n_actions_assisted=so_far.assisted.total, round_clicks=effort.manual.in_clicks,
        round_clicks_assisted=effort.assisted.in_clicks,
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


# --- Runs ----------------------------------------------------------------------------------------


def run_strategy(pairs: Sequence[Pair], validation: set[str], strategy: str, seed: int, config: SimulationSettings,
                 *, name: str, on_round: OnRound | None = None) -> list[RoundResult]:
    """Simulate labelling one fresh project with `strategy`; one result per round."""
    user, _ = simulation_labeller()
    project = create_simulation_project(name, user, strategy, seed, config)
    results: list[RoundResult] = []
    try:
        truth = ingest_dataset(project, pairs, validation, user)
        assist_for, so_far = editor_assist_for(user) if config.assist else None, NO_EFFORT
        for number in range(config.rounds + 1):
            started = time.perf_counter()
            labelled = label_and_train(project, user, truth, number, seed, config, assist_for)
            if labelled is None:
                break  # every train crop is labelled
            candidate, effort = labelled
            so_far += effort
            rows = [round_result(strategy, seed, number, candidate, time.perf_counter() - started, effort, so_far)]
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
             *, tag: str, on_round: OnRound | None = None) -> list[RoundResult]:
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
