"""Model jobs in a REAL Celery worker process on the embedded broker: the whole loop, and what
happens when the worker dies in the middle of a training."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.conf import settings

from active_learning import jobs
from active_learning.models import CropScore, Job, JobKind, JobStatus, ModelVersion, ModelVersionStatus, Prediction
from active_learning.strategies import DEFAULT_STRATEGY
from active_learning.versions import active_version
from annotations.models import Annotation, CropStatus, Split
from labelserver.errors import Conflict
from tests.factories import ingest_u2os_corners, make_project
from tests.worker import start_worker, stop_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIDE = 256  # each test image is the top-left 256x256 of a shipped 520x696 U2OS image
# The jobs are under test here, not what the network learns: each epoch is one optimiser step over
# the four train crops (without crops_per_epoch, a handful of crops is drawn up to 32 per epoch),
# two epochs are the least a training runs, and the crops are predicted at the network's own scale
# (diameter 30 px): one 144-px tile per 128-px crop, where the scale of the cells it was trained on
# (~18 px) would blow each crop up to 211 px, four 224-px tiles (10x the pixels).
FAST_TRAINING = {"train": {"n_epochs": 2, "batch_size": 4, "crops_per_epoch": 4}, "predict": {"diameter": 30},
                 "seed": 1}


@pytest.fixture
def small_project(u2os_pairs, tmp_path):
    """Crops of 128 px: one labelled train image, one labelled validation image, one unlabelled."""
    project = make_project("worker", crop_size=128, backend_settings=FAST_TRAINING)
    ingest_u2os_corners(project, u2os_pairs[:3], tmp_path, side=SIDE,
                        splits=(Split.TRAIN, Split.VALIDATION, Split.TRAIN), labelled=(True, True, False))
    return project


def _job_ended(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) else None


def test_a_worker_trains_evaluates_promotes_and_repredicts(small_project, tmp_path):
    worker = start_worker(tmp_path / "worker.log")
    try:
        train = jobs.enqueue_job(small_project, JobKind.TRAIN)
        ended = worker.wait_for(lambda: _job_ended(train.pk), 600, "the training job")
        assert ended.status == JobStatus.SUCCEEDED, ended.error + ended.log
        assert ended.progress["epoch"] == 2 and ended.progress["n_epochs"] == 2
        predict = Job.objects.get(kind=JobKind.PREDICT, trigger="promotion")
        ended = worker.wait_for(lambda: _job_ended(predict.pk), 300, "the prediction job")
        assert ended.status == JobStatus.SUCCEEDED, ended.error + ended.log
    finally:
        stop_worker(worker)

    version = active_version(small_project)
    assert version is not None and version.number == 1 and version.training_job_id == train.pk
    assert set(version.metrics) >= {"ap50", "ap75", "ap90", "per_crop"}
    assert len(version.metrics["per_crop"]) == 4  # the validation image's four crops
    assert version.n_train_crops == 4 and version.trained_on.count() == 4
    weights = Path(version.weights.path)
    assert weights.is_file() and weights.stem == version.weights_sha256
    unlabelled = small_project.crops.filter(status=CropStatus.UNLABELLED)
    assert unlabelled.count() == 4
    assert Prediction.objects.filter(crop__in=unlabelled, model_version=version).count() == 4
    # The prediction job scored every waiting crop with the project's strategies and ranked the
    # queue; the default strategy fits its weights on the validation crops, which the evaluation scored.
    scored = CropScore.objects.filter(model_version=version, strategy="cellprob")
    validation = {entry["crop"] for entry in version.metrics["per_crop"]}
    assert set(scored.values_list("crop", flat=True)) == set(unlabelled.values_list("pk", flat=True)) | validation
    assert all(crop.queue_score > 0 and crop.queue_reason for crop in unlabelled)
    log = Job.objects.get(pk=predict.pk).log
    assert f"ranked 4 crops with {DEFAULT_STRATEGY} (version 1)" in log and "weights fitted" in log
    assert not (Path(settings.MEDIA_ROOT) / "tmp" / f"job-{train.pk}").exists()


def test_two_gpu_workers_train_two_projects_at_once_and_a_project_never_trains_twice(u2os_pairs, tmp_path):
    projects = []
    for i in range(2):
        project = make_project(f"worker-{i}", crop_size=128, backend_settings=FAST_TRAINING)
        folder = tmp_path / f"images-{i}"
        folder.mkdir()
        ingest_u2os_corners(project, u2os_pairs[3 * i : 3 * i + 3], folder, side=SIDE,
                            splits=(Split.TRAIN, Split.VALIDATION, Split.TRAIN), labelled=(True, True, False))
        projects.append(project)
    workers = [start_worker(tmp_path / f"gpu-{i}.log", queues="gpu", name=f"gpu-{i}-{os.getpid()}")
               for i in range(2)]
    try:
        trainings = [jobs.enqueue_job(project, JobKind.TRAIN) for project in projects]
        with pytest.raises(Conflict):
            jobs.enqueue_job(projects[0], JobKind.TRAIN)  # one active training per project
        ended = [workers[0].wait_for(lambda job=job: _job_ended(job.pk), 600, f"training {job.pk}")
                 for job in trainings]
    finally:
        for worker in workers:
            stop_worker(worker)
    assert [job.status for job in ended] == [JobStatus.SUCCEEDED] * 2, [job.error for job in ended]
    # At once: each started before the other finished (a worker runs one job at a time).
    first, second = ended
    assert first.started_at < second.finished_at and second.started_at < first.finished_at
    assert Job.objects.filter(kind=JobKind.TRAIN).count() == 2


def test_a_worker_killed_during_training_leaves_the_job_failed_and_nothing_behind(small_project, tmp_path):
    small_project.backend_settings = {"train": {"n_epochs": 500, "batch_size": 4, "crops_per_epoch": 4}}
    small_project.save()
    worker = start_worker(tmp_path / "worker.log")
    train = jobs.enqueue_job(small_project, JobKind.TRAIN)
    worker.wait_for(lambda: Job.objects.get(pk=train.pk).progress.get("epoch", 0) >= 1, 600, "training to start")
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    assert Job.objects.get(pk=train.pk).status == JobStatus.RUNNING

    # The restarted worker knows it runs nothing, so the job it was running died with it.
    restarted = start_worker(tmp_path / "restarted.log")
    try:
        failed = restarted.wait_for(lambda: _job_ended(train.pk), 60, "the dead job to be failed")
    finally:
        stop_worker(restarted)
    assert failed.status == JobStatus.FAILED and "stopped" in failed.error
    assert not ModelVersion.objects.exists() and active_version(small_project) is None
    assert not (Path(settings.MEDIA_ROOT) / "tmp" / f"job-{train.pk}").exists()
    assert not list((Path(settings.MEDIA_ROOT) / "models").glob("**/*.pt*"))
    # A new training can start again at once.
    assert jobs.enqueue_job(small_project, JobKind.TRAIN).status == JobStatus.QUEUED


def test_a_failed_training_leaves_the_active_version_and_says_why(small_project, tmp_path):
    Annotation.objects.filter(crop__split=Split.TRAIN).delete()
    small_project.crops.filter(split=Split.TRAIN).update(status=CropStatus.UNLABELLED)
    worker = start_worker(tmp_path / "worker.log")
    try:
        train = jobs.enqueue_job(small_project, JobKind.TRAIN)
        ended = worker.wait_for(lambda: _job_ended(train.pk), 120, "the training job")
    finally:
        stop_worker(worker)
    assert ended.status == JobStatus.FAILED
    assert "no labelled crops in the train split" in ended.error
    assert not ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).exists()
