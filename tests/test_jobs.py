"""The job lifecycle: one claim per job, cancellation, and failure of jobs whose worker died."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from active_learning import jobs
from active_learning.models import Job, JobKind, JobStatus
from labelserver.errors import Conflict


@pytest.fixture
def train_job(project, admin):
    return jobs.enqueue_job(project, JobKind.TRAIN, user=admin)


def test_it_claims_a_job_once(train_job):
    first = jobs.claim_job(train_job.pk, "gpu@a")
    assert first is not None and first.status == JobStatus.RUNNING
    assert first.worker == f"gpu@a pid={os.getpid()}"
    assert jobs.claim_job(train_job.pk, "gpu@b") is None


def test_it_refuses_a_second_training_of_one_project(project, train_job):
    with pytest.raises(Conflict, match=f"already queued \\(job {train_job.pk}\\)"):
        jobs.enqueue_job(project, JobKind.TRAIN)
    jobs.claim_job(train_job.pk, "gpu@a")
    with pytest.raises(Conflict, match="already running"):
        jobs.enqueue_job(project, JobKind.TRAIN)


def test_it_allows_a_new_training_once_the_last_one_ended(project, train_job):
    jobs.claim_job(train_job.pk, "gpu@a")
    jobs.finish_job(train_job.pk, JobStatus.FAILED, "boom")
    assert jobs.enqueue_job(project, JobKind.TRAIN).status == JobStatus.QUEUED


def test_it_cancels_a_queued_job_at_once(train_job):
    job = jobs.request_cancel(train_job)
    assert job.status == JobStatus.CANCELLED
    assert jobs.claim_job(train_job.pk, "gpu@a") is None


def test_it_asks_a_running_job_to_stop(train_job):
    jobs.claim_job(train_job.pk, "gpu@a")
    assert jobs.request_cancel(train_job).cancel_requested
    assert jobs.set_progress(train_job.pk, epoch=1) is True


def test_it_refuses_to_cancel_a_finished_job(train_job):
    jobs.claim_job(train_job.pk, "gpu@a")
    jobs.finish_job(train_job.pk, JobStatus.SUCCEEDED)
    with pytest.raises(Conflict, match="already ended"):
        jobs.request_cancel(Job.objects.get(pk=train_job.pk))


def test_it_fails_running_jobs_whose_heartbeat_went_stale(settings, train_job, tmp_path):
    jobs.claim_job(train_job.pk, "gpu@a")
    workspace = jobs.job_workspace(train_job.pk)
    workspace.mkdir(parents=True)
    (workspace / "half-trained.pt").write_bytes(b"x")
    assert jobs.reap_stale_jobs() == []
    Job.objects.filter(pk=train_job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert jobs.reap_stale_jobs() == [train_job.pk]
    job = Job.objects.get(pk=train_job.pk)
    assert job.status == JobStatus.FAILED and "stopped" in job.error
    assert not workspace.exists()


def test_it_fails_a_redelivered_job_whose_process_is_gone(train_job):
    dead = subprocess.Popen(["true"])
    dead.wait()
    jobs.claim_job(train_job.pk, "gpu@a")
    Job.objects.filter(pk=train_job.pk).update(worker=f"gpu@a pid={dead.pid}")
    assert jobs.fail_if_orphaned(train_job.pk, "gpu@b") is False
    assert jobs.run_job(train_job.pk, "gpu@a") == JobStatus.FAILED
    assert Job.objects.get(pk=train_job.pk).status == JobStatus.FAILED


def test_a_restarted_worker_fails_the_jobs_it_was_running(train_job):
    jobs.claim_job(train_job.pk, "gpu@a")
    assert jobs.reap_stale_jobs(worker="gpu@other") == []
    assert jobs.reap_stale_jobs(worker="gpu@a") == [train_job.pk]


def test_a_job_that_is_not_queued_is_not_run(train_job):
    jobs.request_cancel(train_job)
    assert jobs.run_job(train_job.pk, "gpu@a") is None


def _broker_messages() -> set[str]:
    from django.conf import settings

    folder = settings.CELERY_BROKER_DIR / "queue"
    return {p.name for p in folder.glob("*")} if folder.exists() else set()


def test_jobs_enqueued_while_the_caller_runs_them_send_no_message(project, django_capture_on_commit_callbacks):
    """`run_by_caller` (the simulation is its own worker): nothing reaches the broker, the job
    stays queued for the caller; outside the block the same call sends one message."""
    before = _broker_messages()
    with jobs.run_by_caller(), django_capture_on_commit_callbacks(execute=True):
        held = jobs.enqueue_job(project, JobKind.PREDICT)
        assert jobs.dispatch_held()
    assert not jobs.dispatch_held()
    assert _broker_messages() == before
    assert Job.objects.get(pk=held.pk).status == JobStatus.QUEUED
    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue_job(project, JobKind.SCORE)
    assert len(_broker_messages() - before) == 1
