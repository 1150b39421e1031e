"""Celery tasks: thin wrappers that pass ids to plain functions. Safe to run twice."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from active_learning import jobs


@shared_task(acks_late=True, reject_on_worker_lost=True, bind=True)
def run_gpu_job(self, job_id: int) -> str | None:
    """Train, predict or score: routed to the `gpu` queue (see CELERY_TASK_ROUTES)."""
    return jobs.run_job(job_id, worker=self.request.hostname or "worker")


@shared_task
def reap_stale_jobs() -> list[int]:
    return jobs.reap_stale_jobs()


@worker_ready.connect
def _reap_jobs_of_previous_life(sender: object = None, **kwargs: object) -> None:
    # A worker that just started runs nothing: any job still marked running under its name
    # was left by its previous process, which died.
    hostname = getattr(sender, "hostname", None)
    if hostname:
        jobs.reap_stale_jobs(worker=hostname)
