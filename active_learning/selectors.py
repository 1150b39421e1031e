"""Reads for model versions and jobs, limited to the projects a user belongs to, and a crop as its
labeller sees it (with the model's prediction and its place in the queue)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from active_learning.models import (
    Job,
    ModelVersion,
    ModelVersionStatus,
    Prediction,
    Sweep,
    SweepKind,
    SweepStatus,
    TrialState,
)
from active_learning.queue.serving import queue_rank
from annotations import selectors as annotation_selectors
from annotations.double_labelling import is_blind_for
from annotations.models import Annotation, Crop, Tag
from labelserver.errors import NotFound


def jobs_of(project_id: int) -> QuerySet[Job]:
    return Job.objects.filter(project_id=project_id).select_related("model_version").defer("log")


def job_for(user: AbstractBaseUser, job_id: int) -> Job:
    job = Job.objects.filter(pk=job_id, project__in=annotation_selectors.projects_for(user)).first()
    if job is None:
        raise NotFound(f"Job {job_id} does not exist or is not in one of your projects")
    return job


def versions_of(project_id: int) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project_id=project_id).select_related("parent")


def version_for(user: AbstractBaseUser, version_id: int) -> ModelVersion:
    version = (
        ModelVersion.objects.filter(pk=version_id, project__in=annotation_selectors.projects_for(user))
        .select_related("project", "parent")
        .first()
    )
    if version is None:
        raise NotFound(f"Model version {version_id} does not exist or is not in one of your projects")
    return version


def crop_detail(crop_id: int, viewer: AbstractBaseUser, *, rank: int | None = None) -> Crop:
    """A crop with what `viewer` sees: tag names, its current annotation, the prediction to start
    from and its rank in the queue (counted unless the caller knows it: `next` does when it took
    the open queue's head). A crop waiting for a second, blind label that the viewer may give
    (annotations.double_labelling) is `blind`, and its current annotation is left out, for admins
    too.

    `next` serves one per request, so the crop's row says in the same query whether it has tags,
    a current annotation and predictions at all: a crop from the open queue usually has none, and
    then this is one query; each part that exists costs one more small indexed query."""
    current = Annotation.objects.filter(crop=OuterRef("pk"), is_current=True)
    row = (
        Crop.objects.select_related("image")
        .annotate(
            has_tags=Exists(Crop.tags.through.objects.filter(crop=OuterRef("pk"))),
            has_annotation=Exists(current),
            has_prediction=Exists(Prediction.objects.filter(crop=OuterRef("pk"))),
        )
        .get(pk=crop_id)
    )
    has_tags, has_annotation, has_prediction = row.has_tags, row.has_annotation, row.has_prediction
    crop: Crop = row
    crop.rank = queue_rank(crop) if rank is None else rank
    crop.tag_names = (
        sorted(Tag.objects.filter(crops=crop_id).values_list("name", flat=True)) if has_tags else [])
    crop.blind = is_blind_for(crop, viewer)
    crop.current_annotation = (
        annotation_selectors.current_annotation(crop) if has_annotation and not crop.blind else None)
    crop.prediction = newest_prediction(crop) if has_prediction else None
    return crop


def newest_prediction(crop: Crop) -> Prediction | None:
    """The active model version's prediction if there is one, else the newest model's (a crop
    has one prediction per model version, so a handful at most: chosen here, not in SQL)."""
    # The stored maps (tens of kB) are for proposals, which read them themselves.
    predictions = list(Prediction.objects.filter(crop=crop).select_related("model_version").defer("maps"))
    return max(
        predictions,
        key=lambda p: (p.model_version.status == ModelVersionStatus.ACTIVE, p.model_version.number),
        default=None,
    )


def sweeps_of(project_id: int) -> QuerySet[Sweep]:
    return Sweep.objects.filter(project_id=project_id)


def sweep_for(user: AbstractBaseUser, sweep_id: int) -> Sweep:
    sweep = (
        Sweep.objects.filter(pk=sweep_id, project__in=annotation_selectors.projects_for(user))
        .select_related("project")
        .first()
    )
    if sweep is None:
        raise NotFound(f"Sweep {sweep_id} does not exist or is not in one of your projects")
    return sweep


def sweep_trials(sweep: Sweep) -> list[dict[str, Any]]:
    """Each trial with its job's state and how long it ran, in trial order."""
    rows = []
    for trial in sweep.trials.select_related("job").order_by("number"):
        job = trial.job
        ran = (job.finished_at or timezone.now()) - job.started_at if job and job.started_at else None
        rows.append({
            "number": trial.number, "state": trial.state, "params": trial.params, "ap50": trial.ap50,
            "ap75": trial.ap75, "value": trial.value, "n_train_crops": trial.n_train_crops,
            "n_train_cells": trial.n_train_cells, "job": job.pk if job else None,
            "job_status": job.status if job else None, "progress": job.progress if job else {},
            "duration_s": round(ran.total_seconds(), 1) if ran is not None else None,
            "epochs_run": len(trial.history), "finished_at": trial.finished_at,
        })
    return rows


def best_so_far(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The best objective after each completed trial, in the order they finished."""
    done = sorted((t for t in trials if t["state"] == TrialState.COMPLETE and t["value"] is not None),
                  key=lambda t: (t["finished_at"] or timezone.now(), t["number"]))
    curve, best = [], float("-inf")
    for index, trial in enumerate(done, start=1):
        best = max(best, trial["value"])
        curve.append({"completed": index, "number": trial["number"], "value": trial["value"], "best": best})
    return curve


def sweep_importances(sweep: Sweep) -> dict[str, float] | None:
    from active_learning.studies import MIN_IMPORTANCE_TRIALS, importances, load_study

    if sweep.kind != SweepKind.SEARCH or sweep.trials.filter(state=TrialState.COMPLETE).count() < MIN_IMPORTANCE_TRIALS:
        return None  # too few trials for an estimate (and no need to open the study)
    return importances(load_study(sweep.study_name))


def latest_subsample_study(project_id: int) -> tuple[Sweep | None, Sweep | None]:
    """(the newest finished subsample study, a newer one still running or None)."""
    studies = Sweep.objects.filter(project_id=project_id, kind=SweepKind.SUBSAMPLE)
    done = studies.filter(status=SweepStatus.SUCCEEDED).first()
    running = studies.filter(status__in=(SweepStatus.RUNNING, SweepStatus.FINISHING)).first()
    return done, running
