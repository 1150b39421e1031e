"""Unattended retraining with REAL processes: N new labels make a real Celery worker train, and a
schedule an admin sets while everything runs is fired by a real Celery beat (django-celery-beat's
database scheduler) and run by the worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from active_learning import retraining
from active_learning.models import Job, JobKind, JobStatus, ModelVersion
from annotations import leases, submissions
from annotations.models import Crop, Split
from tests.factories import ingest_u2os_corners, make_project, make_user, true_mask
from tests.worker import REPO, WorkerProcess, start_worker, stop_worker, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIDE = 128  # one 128-px crop per image: the smallest set a training can run on
TINY_TRAINING = {"train": {"n_epochs": 2, "batch_size": 4}, "seed": 1}


@pytest.fixture
def project(u2os_pairs, tmp_path):
    """Two unlabelled train crops and a labelled validation crop: the top-left corners of real U2OS images."""
    project = make_project("triggers", crop_size=SIDE, backend_settings=TINY_TRAINING, retrain_after_annotations=3)
    ingest_u2os_corners(project, u2os_pairs[:3], tmp_path, side=SIDE,
                        splits=(Split.TRAIN, Split.TRAIN, Split.VALIDATION), labelled=(False, False, True))
    return project


def _training(project, trigger: str) -> Job | None:
    return Job.objects.filter(project=project, kind=JobKind.TRAIN, trigger=trigger).first()


def _ended(job: Job) -> Job | None:
    job.refresh_from_db()
    return job if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) else None


def _label(crop: Crop, user) -> None:
    leases.lease_crop(crop=crop, user=user, as_admin=True)
    submissions.submit_annotation(crop=crop, user=user, mask=true_mask(crop))


def start_beat(log_path: Path) -> WorkerProcess:
    cmd = [sys.executable, "-m", "celery", "-A", "labelserver", "beat", "--loglevel", "INFO",
           "--schedule", str(log_path.with_suffix(".schedule"))]
    handle = open(log_path, "w")  # noqa: SIM115  (closed with the process)
    process = subprocess.Popen(cmd, cwd=REPO, env=worker_env(), stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)
    beat = WorkerProcess(process, log_path)
    beat.wait_for(lambda: "beat: Starting" in beat.log(), 60, "beat to start")
    return beat


def test_new_labels_then_a_schedule_retrain_with_a_real_worker_and_beat(project, tmp_path):
    user = make_user("lab", staff=True)
    worker = start_worker(tmp_path / "worker.log")
    beat = None
    try:
        # N = 3: with no model yet every label counts, the imported validation label too, so the
        # second submitted label is the third. Each submission asks the worker to check the trigger.
        train_crops = list(project.crops.filter(split=Split.TRAIN).order_by("id"))
        _label(train_crops[0], user)
        worker.wait_for(lambda: "check_annotation_trigger" in worker.log() and "succeeded" in worker.log(),
                        60, "the worker to check the trigger after one label")
        assert _training(project, "annotations") is None  # two labels are not enough
        _label(train_crops[1], user)
        by_labels = worker.wait_for(lambda: _training(project, "annotations"), 60, "a training after the third label")
        ended = worker.wait_for(lambda: _ended(by_labels), 300, "the training the labels started")
        assert ended.status == JobStatus.SUCCEEDED, ended.error + ended.log

        # An admin sets a schedule while the worker and beat run; beat fires it at the next minute.
        beat = start_beat(tmp_path / "beat.log")
        retraining.set_schedule(project, "* * * * *")
        by_schedule = worker.wait_for(lambda: _training(project, "schedule"), 150, "beat to fire the schedule")
        ended = worker.wait_for(lambda: _ended(by_schedule), 300, "the scheduled training")
        assert ended.status == JobStatus.SUCCEEDED, ended.error + ended.log
        assert "Sending due task" in beat.log() and f"retrain project {project.pk}" in beat.log()
        retraining.set_schedule(project, None)
    finally:
        for process in (beat, worker):
            if process is not None:
                stop_worker(process)
    # The scheduled training fine-tuned from the version the labels produced.
    first, second = (ModelVersion.objects.get(training_job=job) for job in (by_labels, by_schedule))
    assert second.parent_id == first.pk and second.n_train_crops == 2
