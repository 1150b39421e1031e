"""Model jobs on a REAL Redis broker with REAL Celery worker processes, as in production: a worker
killed in the middle of a job, and the broker stopped and started again in the middle of one.

What happens, and why:
- The process running a job is SIGKILLed (the kernel's OOM killer does this): the worker's main
  process sees it die and, the tasks being `acks_late` with `reject_on_worker_lost`, gives the
  message back to Redis, which delivers it again at once. That delivery finds the job running
  under a process that no longer exists and fails it (`jobs.fail_if_orphaned`): a job that killed
  its process is not run again, where it would kill the next one too.
- The whole worker is SIGKILLed: its message stays unacknowledged in Redis until the visibility
  timeout; the worker, started again under its name, fails the job as it becomes ready; the
  message delivered again later finds the job ended and does nothing.
- Redis stops and starts while a job runs: the job runs on (it needs the database, not the
  broker), the worker connects again, messages waiting in Redis survive in its append-only file
  and run, an annotation submitted meanwhile is saved, and a job queued meanwhile fails at once
  with the reason instead of waiting forever for a message that never went.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.conf import settings
from kombu import Connection

from active_learning import jobs
from active_learning.models import ACTIVE_JOB_STATUSES, Job, JobKind, JobStatus
from annotations import leases, submissions
from annotations.models import Annotation, CropStatus, Split
from tests.factories import ingest_u2os_corners, make_project, make_user, true_mask
from tests.redis_broker import PrivateRedis, private_redis, redis_url  # noqa: F401  (fixtures)
from tests.worker import WorkerProcess, start_worker, stop_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIDE = 256  # each image is the top-left 256x256 of a shipped U2OS image: four 128-px crops
QUICK = {"train": {"n_epochs": 2, "batch_size": 4, "crops_per_epoch": 4}, "predict": {"diameter": 30}, "seed": 1}


def _training(epochs: int) -> dict:
    return {**QUICK, "train": {**QUICK["train"], "n_epochs": epochs}}


def _project(name: str, pairs, folder, epochs: int = 2):
    """A labelled train image, a labelled validation image and an unlabelled train image."""
    project = make_project(name, crop_size=128, backend_settings=_training(epochs))
    folder.mkdir()
    ingest_u2os_corners(project, pairs, folder, side=SIDE, splits=(Split.TRAIN, Split.VALIDATION, Split.TRAIN),
                        labelled=(True, True, False))
    return project


def _ended(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.status not in ACTIVE_JOB_STATUSES else None


def _training_started(worker: WorkerProcess, job_id: int) -> Job:
    return worker.wait_for(lambda: (job := Job.objects.get(pk=job_id)).progress.get("epoch", 0) >= 1 and job,
                           90, "the training to run its first epoch")


def _gpu_messages(client) -> tuple[int, int]:
    """(messages waiting in the gpu queue, messages delivered but not yet acknowledged)."""
    return client.llen("gpu"), client.hlen("unacked")


def _deliver_unacknowledged_now(url: str) -> None:
    """What Redis does once the visibility timeout has passed: unacknowledged messages go back to their queue."""
    with Connection(url, transport_options={"visibility_timeout": 0}) as connection:
        connection.default_channel.qos.restore_visible()


def test_a_killed_job_process_fails_the_job_at_once_and_a_killed_worker_leaves_a_harmless_message(
        u2os_pairs, redis_url, tmp_path):  # noqa: F811
    import redis

    client = redis.Redis.from_url(redis_url)
    project = _project("killed", u2os_pairs[:3], tmp_path / "images", epochs=500)
    worker = start_worker(tmp_path / "worker.log", CELERY_BROKER_URL=redis_url)
    try:
        first = _training_started(worker, jobs.enqueue_job(project, JobKind.TRAIN).pk)
        os.kill(int(first.worker.rsplit("pid=", 1)[1]), signal.SIGKILL)  # the job's process, not the worker
        failed = worker.wait_for(lambda: _ended(first.pk), 30, "the job of the killed process to end")
        assert failed.status == JobStatus.FAILED and "stopped" in failed.error, failed.error + failed.log
        worker.wait_for(lambda: _gpu_messages(client) == (0, 0), 10, "the message to be acknowledged")
        assert worker.process.poll() is None

        # The whole worker this time, started again under its name (a restarted container).
        second = _training_started(worker, jobs.enqueue_job(project, JobKind.TRAIN).pk)
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
        assert _gpu_messages(client) == (0, 1)
        worker = start_worker(tmp_path / "restarted.log", CELERY_BROKER_URL=redis_url)
        failed = worker.wait_for(lambda: _ended(second.pk), 30, "the restarted worker to fail the dead job")
        assert failed.status == JobStatus.FAILED and "stopped" in failed.error
        _deliver_unacknowledged_now(redis_url)
        worker.wait_for(lambda: "was not queued (already taken, finished or cancelled); nothing to do" in worker.log(),
                        30, "the late delivery to find the job ended")
        worker.wait_for(lambda: _gpu_messages(client) == (0, 0), 10, "the late delivery to be acknowledged")
        assert Job.objects.get(pk=second.pk).status == JobStatus.FAILED
        assert not list((settings.MEDIA_ROOT / "models").glob("**/*.pt*"))
    finally:
        stop_worker(worker)


def _label(crop, user) -> None:
    leases.lease_crop(crop=crop, user=user, as_admin=True)
    submissions.submit_annotation(crop=crop, user=user, mask=true_mask(crop))


def test_a_broker_restart_in_the_middle_of_a_job_loses_nothing(u2os_pairs, private_redis: PrivateRedis,  # noqa: F811
                                                              tmp_path):
    running = _project("running", u2os_pairs[:3], tmp_path / "running", epochs=8)
    waiting = _project("waiting", u2os_pairs[3:6], tmp_path / "waiting")
    user = make_user("lab", staff=True)
    worker = start_worker(tmp_path / "worker.log", CELERY_BROKER_URL=private_redis.url)
    try:
        train = _training_started(worker, jobs.enqueue_job(running, JobKind.TRAIN).pk)
        queued = jobs.enqueue_job(waiting, JobKind.TRAIN)  # waits in Redis: the worker runs one job at a time

        private_redis.stop()
        crop = running.crops.filter(status=CropStatus.UNLABELLED).first()
        _label(crop, user)  # saved, though the retraining check cannot be sent
        unsent = jobs.enqueue_job(waiting, JobKind.PREDICT)
        time.sleep(0.5)
        private_redis.start()

        assert Job.objects.get(pk=train.pk).status == JobStatus.RUNNING
        for job in (train, queued):
            ended = worker.wait_for(lambda job=job: _ended(job.pk), 120, f"{job} to end")
            assert ended.status == JobStatus.SUCCEEDED, ended.error + ended.log
        # Each promoted version's prediction job, sent after the restart, runs too.
        worker.wait_for(lambda: not Job.objects.filter(status__in=ACTIVE_JOB_STATUSES).exists(), 120,
                        "every job to end")
        # The running job's message, which the lost connection could not acknowledge, is
        # acknowledged on the new one (or delivered again, finding the job ended).
        worker.wait_for(lambda: _gpu_messages(private_redis.client()) == (0, 0), 30, "no message left")
    finally:
        stop_worker(worker)
    unsent.refresh_from_db()
    assert unsent.status == JobStatus.FAILED and "broker is unreachable" in unsent.error
    assert set(Job.objects.exclude(pk=unsent.pk).values_list("status", flat=True)) == {JobStatus.SUCCEEDED}
    assert Job.objects.filter(kind=JobKind.PREDICT, trigger="promotion").count() == 2
    assert Annotation.objects.filter(crop=crop, author=user).exists()
