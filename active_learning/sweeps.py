"""Sweeps: many trainings of one project, each an ordinary job (claimed once, cancellable, under
the same time limits), run by whichever workers take the `gpu` queue.

- A **search** is an Optuna study over the training settings (active_learning.search_space), kept
  in the project's database (active_learning.studies). Each trial job asks the study for settings,
  trains, reports its validation loss per epoch to the pruner (which may stop it early), measures
  AP on the validation crops and tells the study. The best trial's weights become a candidate
  version through the promotion gate of ordinary training (training.decide_promotion).
- A **subsample study** retrains from the project's start point on nested shares of the labelled
  train crops, with several seeds, and fits a learning curve (active_learning.learning_curve) to
  say what the next labelled cells would buy.

A sweep keeps `parallel` trial jobs queued or running: each trial that ends queues the next, and
the last one queues the sweep's finishing job. A slot is claimed with a conditional UPDATE on the
sweep row, so two trials ending at once never queue the same one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
import optuna
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from active_learning import search_space, studies
from active_learning.backends.base import EpochReport, TrainingResult
from active_learning.backends.settings import MIN_CROPS_PER_EPOCH
from active_learning.datasets import LabelledCrop, current_annotations, labelled_crops
from active_learning.evaluation import evaluate_masks
from active_learning.jobs import JobContext, JobFailed, enqueue_job, request_cancel
from active_learning.learning_curve import fit_learning_curve
from active_learning.models import (
    ACTIVE_JOB_STATUSES,
    Job,
    JobKind,
    JobStatus,
    ModelVersion,
    ModelVersionStatus,
    Sweep,
    SweepKind,
    SweepStatus,
    SweepTrial,
    TrialState,
)
from active_learning.training import decide_promotion
from active_learning.versions import active_version, create_version, load_backend
from annotations import projects
from annotations.models import Project, Split
from labelserver import storage
from labelserver.errors import Conflict, DomainError

DEFAULT_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
DEFAULT_SEEDS = (0, 1)
MAX_TRIALS = 500
MAX_PARALLEL = 64
NEXT_CELLS = 100  # "what would the next 100 labelled cells buy?"


def sweep_folder(sweep_id: int) -> str:
    """Where a search keeps the weights of its best trials so far, until the sweep ends: in the
    storage (labelserver.storage), which every worker reaches, whichever host runs the finish."""
    return f"sweeps/{sweep_id}"


def _trial_weights_name(sweep_id: int, number: int) -> str:
    return f"{sweep_folder(sweep_id)}/trial-{number}.pt"


# --- starting, cancelling, resuming, adopting ---------------------------------------------------------


def start_search(project: Project, *, n_trials: int, search: dict[str, Any] | None = None, parallel: int = 1,
                 user: Any = None) -> Sweep:
    """A sweep over the training settings: `search` overrides the default space, parameter by parameter."""
    space = search_space.merged_space(search)
    problems = search_space.check_space(space, project.backend_settings, project.model_channels,
                                        has_active=active_version(project) is not None)
    if problems:
        raise search_space.SearchSpaceError(problems)
    _require_labelled_crops(project)
    name = f"labelserver-project-{project.pk}-{uuid4().hex[:12]}"  # unique in the database's Optuna tables
    return _start(project, SweepKind.SEARCH, n_trials, parallel, space, name, user)


def start_subsample_study(project: Project, *, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                          seeds: Sequence[int] = DEFAULT_SEEDS, parallel: int = 1, user: Any = None) -> Sweep:
    """Retrain on each share of the labelled train crops with each seed (nested shares per seed)."""
    shares = sorted(set(float(f) for f in fractions))
    if len(shares) < 3 or not all(0 < f <= 1 for f in shares):
        raise DomainError("fractions must hold at least 3 different shares in (0, 1], e.g. [0.25, 0.5, 0.75, 1]")
    if len(set(seeds)) < 1:
        raise DomainError("seeds must hold at least one seed")
    _require_labelled_crops(project)
    seeds_used = sorted(set(int(s) for s in seeds))
    plan: dict[str, Any] = {"fractions": shares, "seeds": seeds_used}
    n_trials = len(shares) * len(seeds_used)
    return _start(project, SweepKind.SUBSAMPLE, n_trials, parallel, plan, "", user)


def _start(project: Project, kind: str, n_trials: int, parallel: int, space: dict[str, Any], name: str,
           user: Any) -> Sweep:
    if not 1 <= n_trials <= MAX_TRIALS or not 1 <= parallel <= MAX_PARALLEL:
        raise DomainError(f"n_trials must be 1..{MAX_TRIALS} and parallel 1..{MAX_PARALLEL}")
    with transaction.atomic():
        sweep = Sweep.objects.create(project=project, kind=kind, n_trials=n_trials, parallel=parallel,
                                     search_space=space, study_name=name, created_by=user)
        _launch(sweep, parallel)
    return sweep


def _require_labelled_crops(project: Project) -> None:
    if not current_annotations(project, Split.TRAIN).exists():
        raise Conflict("a sweep needs labelled crops in the train split: label or import some first")
    if not current_annotations(project, Split.VALIDATION).exists():
        raise Conflict("a sweep measures each trial on labelled validation crops, and the project has none yet")


def _launch(sweep: Sweep, count: int) -> int:
    """Queue up to `count` more trial jobs, as many as the sweep still has slots for."""
    launched = 0
    for _ in range(count):
        if not Sweep.objects.filter(pk=sweep.pk, status=SweepStatus.RUNNING, n_launched__lt=F("n_trials")).update(
            n_launched=F("n_launched") + 1
        ):
            break
        enqueue_job(sweep.project, JobKind.SWEEP_TRIAL, sweep=sweep, trigger="sweep", user=sweep.created_by)
        launched += 1
    return launched


def cancel_sweep(sweep: Sweep) -> Sweep:
    """Stop the sweep: queued trials are cancelled at once, running ones at their next epoch."""
    if not Sweep.objects.filter(pk=sweep.pk, status__in=(SweepStatus.RUNNING, SweepStatus.FINISHING)).update(
        status=SweepStatus.CANCELLED, finished_at=timezone.now(), error="cancelled by an admin"
    ):
        raise Conflict(f"sweep {sweep.pk} has already ended ({sweep.status})")
    for job in sweep.jobs.filter(status__in=ACTIVE_JOB_STATUSES):
        try:
            request_cancel(job)
        except Conflict:
            pass  # it ended meanwhile
    sweep.refresh_from_db()
    return sweep


def resume_sweep(sweep: Sweep) -> Sweep:
    """Run the trials a cancelled, failed or stalled sweep has left (failed trials run again)."""
    if sweep.jobs.filter(status__in=ACTIVE_JOB_STATUSES).exists():
        raise Conflict(f"sweep {sweep.pk} still has jobs queued or running; cancel it first, or wait")
    if sweep.status == SweepStatus.SUCCEEDED:
        raise Conflict(f"sweep {sweep.pk} has finished; start a new one")
    _fail_stale_trials(sweep)
    counted = sweep.trials.filter(state__in=(TrialState.COMPLETE, TrialState.PRUNED)).count()
    with transaction.atomic():
        Sweep.objects.filter(pk=sweep.pk).update(status=SweepStatus.RUNNING, n_launched=counted, error="",
                                                 finished_at=None)
        sweep.refresh_from_db()
        if not _launch(sweep, sweep.parallel):
            _queue_finish(sweep)  # every trial has run: only the finishing step is left
    sweep.refresh_from_db()
    return sweep


def _fail_stale_trials(sweep: Sweep) -> None:
    """With no job of the sweep alive, every trial still marked running died with its worker."""
    sweep.trials.filter(state=TrialState.RUNNING).update(state=TrialState.FAILED, finished_at=timezone.now())
    if sweep.kind == SweepKind.SUBSAMPLE:
        sweep.trials.filter(state=TrialState.FAILED).delete()  # their shares and seeds run again
        return
    if not sweep.jobs.filter(kind=JobKind.SWEEP_TRIAL, started_at__isnull=False).exists():
        return  # no trial has asked the study for settings: it may not even exist yet
    study = studies.load_study(sweep.study_name)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        studies.fail_trial(study, trial.number)


def adopt_best_settings(sweep: Sweep) -> Project:
    """Make the best trial's settings the project's own, checked as the settings API checks them."""
    if sweep.kind != SweepKind.SEARCH:
        raise Conflict("only a settings search has settings to adopt")
    best = best_trial(sweep)
    if best is None:
        raise Conflict(f"sweep {sweep.pk} has no completed trial yet")
    project = sweep.project
    backend_settings, _ = search_space.trial_settings(project.backend_settings, best.params)
    return projects.update_project(project=project, backend_settings=backend_settings)


def best_trial(sweep: Sweep) -> SweepTrial | None:
    return sweep.trials.filter(state=TrialState.COMPLETE, value__isnull=False).order_by("-value", "number").first()


# --- a trial -------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    result: TrainingResult
    history: list[dict[str, Any]]
    metrics: dict[str, Any] = field(default_factory=dict)
    pruned: bool = False


def run_sweep_trial(job: Job, context: JobContext) -> None:
    sweep = Sweep.objects.select_related("project").get(pk=job.sweep_id or 0)
    if sweep.status != SweepStatus.RUNNING:
        context.log(f"sweep {sweep.pk} is {sweep.status}: no trial to run")
        return
    project = sweep.project
    train = labelled_crops(project, Split.TRAIN)
    validation = labelled_crops(project, Split.VALIDATION)
    if not train or not validation:
        raise JobFailed("a sweep trial needs labelled train and validation crops")
    if sweep.kind == SweepKind.SEARCH:
        _run_search_trial(job, sweep, context, train, validation)
    else:
        _run_subsample_trial(job, sweep, context, train, validation)


def _run_search_trial(job: Job, sweep: Sweep, context: JobContext, train: list[LabelledCrop],
                      validation: list[LabelledCrop]) -> None:
    study = studies.load_study(sweep.study_name, seed=job.pk)
    trial = study.ask(search_space.distributions(sweep.search_space))
    record: SweepTrial | None = None
    try:
        values = {**search_space.fixed_values(sweep.search_space), **trial.params}
        backend_settings, start = search_space.trial_settings(sweep.project.backend_settings, values)
        parent = _start_version(sweep.project, start)
        record = SweepTrial.objects.create(
            sweep=sweep, job=job, number=trial.number, params=values, settings=backend_settings,
            start_version=parent, n_train_crops=len(train), n_train_cells=_cells(train),
            trained_on=[e.annotation.pk for e in train],
        )
        context.log(f"trial {trial.number}: {_describe(values)}, from "
                    f"{f'version {parent.number}' if parent else backend_settings.get('start_from', 'scratch')}")
        pruning = studies.TrialPruning(trial)
        outcome = _train_and_measure(context, sweep.project, backend_settings, parent, train, validation, pruning)
    except BaseException:
        studies.fail_trial(study, trial.number)
        if record is not None:
            _end_record(record, TrialState.FAILED)
        raise
    if outcome.pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        _end_record(record, TrialState.PRUNED, history=outcome.history)
        context.log(f"trial {trial.number} pruned after epoch {pruning.pruned_at}: its validation loss was "
                    "worse than the other trials' median at that epoch")
        return
    ap50, ap75 = _aps(outcome.metrics)
    value = studies.objective(ap50, ap75)
    _keep_weights(sweep, record, outcome.result.weights_path)
    study.tell(trial, value)
    _end_record(record, TrialState.COMPLETE, history=outcome.history, ap50=ap50, ap75=ap75, value=value)
    _drop_worse_weights(sweep)
    context.log(f"trial {trial.number}: AP@0.5 {ap50:.3f}, AP@0.75 {ap75:.3f}")


def _start_version(project: Project, start: str | None) -> ModelVersion | None:
    """The version a trial fine-tunes: the active one for "active" (and when the start point is not
    searched, as an ordinary training does); none for a named start point."""
    if start is not None and start != search_space.START_ACTIVE:
        return None
    active = active_version(project)
    if active is None and start == search_space.START_ACTIVE:
        raise JobFailed("the trial starts from the active version, and the project has none now")
    return active


def _run_subsample_trial(job: Job, sweep: Sweep, context: JobContext, train: list[LabelledCrop],
                         validation: list[LabelledCrop]) -> None:
    record = _claim_plan_entry(sweep, job)
    if record is None:
        context.log("every share and seed of the study is taken: nothing to run")
        return
    fraction, seed = record.params["fraction"], record.params["seed"]
    subset = nested_subset(train, fraction, seed)
    backend_settings = subsample_settings(sweep.project.backend_settings, seed, n_full=len(train))
    record.settings, record.n_train_crops, record.n_train_cells = backend_settings, len(subset), _cells(subset)
    record.trained_on = [e.annotation.pk for e in subset]
    record.save(update_fields=["settings", "n_train_crops", "n_train_cells", "trained_on"])
    context.log(f"share {fraction:g} (seed {seed}): {len(subset)} of {len(train)} crops, {record.n_train_cells} cells")
    try:
        outcome = _train_and_measure(context, sweep.project, backend_settings, None, subset, validation, None)
    except BaseException:
        _end_record(record, TrialState.FAILED)
        raise
    ap50, ap75 = _aps(outcome.metrics)
    _end_record(record, TrialState.COMPLETE, history=outcome.history, ap50=ap50, ap75=ap75,
                value=studies.objective(ap50, ap75))
    context.log(f"share {fraction:g} (seed {seed}): AP@0.5 {ap50:.3f}, AP@0.75 {ap75:.3f}")


def _claim_plan_entry(sweep: Sweep, job: Job) -> SweepTrial | None:
    """The first (share, seed) of the plan no trial has taken, recorded as this job's; the unique
    (sweep, number) constraint settles two jobs reaching for the same one."""
    plan = [(f, s) for f in sweep.search_space["fractions"] for s in sweep.search_space["seeds"]]
    taken = set(sweep.trials.values_list("number", flat=True))
    for number, (fraction, seed) in enumerate(plan):
        if number in taken:
            continue
        try:
            with transaction.atomic():
                return SweepTrial.objects.create(sweep=sweep, job=job, number=number,
                                                 params={"fraction": fraction, "seed": seed})
        except IntegrityError:
            continue
    return None


def nested_subset(crops: Sequence[LabelledCrop], fraction: float, seed: int) -> list[LabelledCrop]:
    """The first `fraction` of the crops in an order drawn from `seed`: a seed's smaller shares are
    subsets of its larger ones, so the curve measures added labels, not a different draw."""
    order = np.random.default_rng(seed).permutation(len(crops))
    n = max(1, math.ceil(round(fraction * len(crops), 6)))
    return [crops[i] for i in sorted(order[:n].tolist())]


def subsample_settings(base: dict[str, Any], seed: int, *, n_full: int) -> dict[str, Any]:
    """The project's settings with the seed of a fresh network varied, and the same number of crops
    drawn per epoch at every share (the full set's): each share gets as many optimiser steps, so the
    curve measures what labels add, not what extra steps add."""
    backend_settings = copy.deepcopy(base)
    backend_settings["seed"] = int(base.get("seed", 0)) + seed
    given = backend_settings.get("train")
    train: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    if train.get("crops_per_epoch") is None:
        train = {**train, "crops_per_epoch": max(n_full, MIN_CROPS_PER_EPOCH)}
    backend_settings["train"] = train
    return backend_settings


def _train_and_measure(context: JobContext, project: Project, backend_settings: dict[str, Any],
                       parent: ModelVersion | None, train: list[LabelledCrop], validation: list[LabelledCrop],
                       pruning: studies.TrialPruning | None) -> _Outcome:
    trial_project = copy.copy(project)  # unsaved: the backend reads its settings from the project
    trial_project.backend_settings = backend_settings
    backend = load_backend(trial_project, parent)

    def epoch_ended(report: EpochReport) -> None:
        context.progress(stage="training", epoch=report.epoch, n_epochs=report.n_epochs, loss=report.loss,
                         val_loss=report.val_loss)
        if pruning is not None:
            pruning.report(report)

    stop: Callable[[], bool] = (lambda: context.should_stop() or pruning.should_stop()) if pruning else \
        context.should_stop
    result = backend.train(
        [e.image for e in train], [e.mask for e in train], out_dir=context.workspace,
        val_images=[e.image for e in validation], val_masks=[e.mask for e in validation],
        progress=epoch_ended, should_stop=stop,
    )
    context.check_cancelled()
    history = [vars(h) for h in result.history]
    if pruning is not None and pruning.should_stop():
        return _Outcome(result, history, pruned=True)
    context.progress(stage="evaluating")
    predictions = backend.predict([e.image for e in validation])
    metrics = evaluate_masks([e.mask for e in validation], [p.masks for p in predictions])
    return _Outcome(result, history, metrics)


def _end_record(record: SweepTrial, state: str, **values: Any) -> None:
    SweepTrial.objects.filter(pk=record.pk).update(state=state, finished_at=timezone.now(), **values)


def _keep_weights(sweep: Sweep, record: SweepTrial, weights: Path) -> None:
    storage.save_local_file(_trial_weights_name(sweep.pk, record.number), weights)


def _drop_worse_weights(sweep: Sweep) -> None:
    """Keep only the weights of the best trials so far (a trial still running keeps its file)."""
    values = {number: float(value or 0.0) for number, value in
              sweep.trials.filter(state=TrialState.COMPLETE, value__isnull=False).values_list("number", "value")}
    if not values:
        return
    best = max(values.values())
    try:
        _, files = default_storage.listdir(sweep_folder(sweep.pk))
    except FileNotFoundError:  # a local storage's folder that no trial has written yet
        return
    for file in files:
        number = int(file.removeprefix("trial-").removesuffix(".pt"))
        if number in values and values[number] < best:
            storage.delete(_trial_weights_name(sweep.pk, number))


def _aps(metrics: dict[str, Any]) -> tuple[float, float]:
    # AP is undefined (None) only when neither the truth nor the prediction has a cell: nothing found.
    return float(metrics.get("ap50") or 0.0), float(metrics.get("ap75") or 0.0)


def _cells(crops: Sequence[LabelledCrop]) -> int:
    return sum(e.annotation.n_cells for e in crops)


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


# --- after each job, and the end of a sweep ---------------------------------------------------------


def job_ended(job_id: int) -> None:
    """A trial or finishing job has ended (its row says so): record a dead trial, queue the next
    trial, or the finishing step after the last."""
    job = Job.objects.select_related("sweep", "sweep__project").get(pk=job_id)
    sweep = job.sweep
    if sweep is None:
        return
    if job.kind == JobKind.SWEEP_FINISH:
        if job.status != JobStatus.SUCCEEDED:
            Sweep.objects.filter(pk=sweep.pk, status=SweepStatus.FINISHING).update(
                status=SweepStatus.FAILED, error=job.error or job.status, finished_at=timezone.now()
            )
        return
    _record_dead_trial(job)
    if sweep.status != SweepStatus.RUNNING or _launch(sweep, 1):
        return
    if not sweep.jobs.filter(kind=JobKind.SWEEP_TRIAL, status__in=ACTIVE_JOB_STATUSES).exists():
        _queue_finish(sweep)


def _record_dead_trial(job: Job) -> None:
    """A trial whose process died never told the study: it failed."""
    record = SweepTrial.objects.filter(job=job, state=TrialState.RUNNING).first()
    if record is None or job.status in ACTIVE_JOB_STATUSES:
        return
    _end_record(record, TrialState.FAILED)
    if job.sweep is not None and job.sweep.kind == SweepKind.SEARCH:
        studies.fail_trial(studies.load_study(job.sweep.study_name), record.number)


def _queue_finish(sweep: Sweep) -> None:
    with transaction.atomic():
        if Sweep.objects.filter(pk=sweep.pk, status=SweepStatus.RUNNING).update(status=SweepStatus.FINISHING):
            enqueue_job(sweep.project, JobKind.SWEEP_FINISH, sweep=sweep, trigger="sweep", user=sweep.created_by)


def run_sweep_finish(job: Job, context: JobContext) -> None:
    sweep = Sweep.objects.select_related("project").get(pk=job.sweep_id or 0)
    if sweep.status != SweepStatus.FINISHING:
        context.log(f"sweep {sweep.pk} is {sweep.status}: nothing to finish")
        return
    result = _finish_search(sweep, job, context) if sweep.kind == SweepKind.SEARCH else _finish_subsample(sweep,
                                                                                                          context)
    Sweep.objects.filter(pk=sweep.pk, status=SweepStatus.FINISHING).update(
        status=SweepStatus.SUCCEEDED, result=result, finished_at=timezone.now()
    )
    storage.delete_folder(sweep_folder(sweep.pk))


def _finish_search(sweep: Sweep, job: Job, context: JobContext) -> dict[str, Any]:
    """The best trial's weights as a candidate version, promoted only if it beats the active one."""
    best = best_trial(sweep)
    if best is None:
        raise JobFailed("no trial of the sweep completed: there is nothing to make a version of")
    try:
        weights = storage.local_path(_trial_weights_name(sweep.pk, best.number))
    except FileNotFoundError:
        raise JobFailed(f"the weights of the best trial ({best.number}) are gone from the storage "
                        f"({sweep_folder(sweep.pk)})") from None
    project = sweep.project
    with transaction.atomic():
        candidate = create_version(
            project, weights, backend=project.backend, parent=best.start_version, training_job=best.job,
            origin=f"sweep:{sweep.pk}", settings=best.settings, history=best.history,
            n_train_crops=best.n_train_crops, n_train_cells=best.n_train_cells,
        )
        candidate.trained_on.set(best.trained_on)
    context.log(f"best trial {best.number} ({_describe(best.params)}) saved as version {candidate.number}; "
                "evaluating it on the validation crops")
    decide_promotion(candidate, labelled_crops(project, Split.VALIDATION), context)
    candidate.refresh_from_db(fields=["status"])
    return {"best_trial": best.number, "candidate": candidate.pk, "candidate_number": candidate.number,
            "promoted": candidate.status == ModelVersionStatus.ACTIVE}


def _finish_subsample(sweep: Sweep, context: JobContext) -> dict[str, Any]:
    result = subsample_result(list(sweep.trials.filter(state=TrialState.COMPLETE)),
                              n_cells_now=_cells_labelled(sweep.project))
    context.log(f"subsample study: {result['answer']}")
    return result


def _cells_labelled(project: Project) -> int:
    return int(current_annotations(project, Split.TRAIN).aggregate(n=Sum("n_cells"))["n"] or 0)


def subsample_result(trials: Sequence[SweepTrial], *, n_cells_now: int) -> dict[str, Any]:
    """The study's points, the fitted curve, and its answer for the next NEXT_CELLS labelled cells."""
    points = [{"fraction": t.params["fraction"], "seed": t.params["seed"], "n_cells": t.n_train_cells,
               "n_crops": t.n_train_crops, "ap50": t.ap50, "ap75": t.ap75} for t in trials if t.ap50 is not None]
    fit = fit_learning_curve([p["n_cells"] for p in points], [p["ap50"] for p in points])
    result: dict[str, Any] = {"points": points, "n_cells": n_cells_now, "next_cells": NEXT_CELLS,
                              "fit": fit.to_dict() if fit else None}
    if fit is None or n_cells_now <= 0:
        result["answer"] = "too few distinct subset sizes (or a fit that did not converge) to say"
        return result
    result.update(ap_now=round(fit.ap(n_cells_now), 4), ap_next=round(fit.ap(n_cells_now + NEXT_CELLS), 4),
                  gain_next=round(fit.gain(n_cells_now, NEXT_CELLS), 4), ceiling=round(fit.a, 4))
    result["answer"] = (f"the next {NEXT_CELLS} labelled cells would raise AP@0.5 by about {result['gain_next']:+.3f} "
                        f"(from {result['ap_now']:.3f} at {n_cells_now} cells; the curve levels off at "
                        f"{result['ceiling']:.3f})")
    if fit.flat:
        result["flat"] = True
        result["answer"] += (f", but AP did not rise with the labelled cells beyond its scatter between retrainings "
                             f"(rmse {fit.rmse:.3f}): labels are not what limits this model now; longer training "
                             "or other settings may be")
    return result
