"""Celery tasks: thin wrappers that pass ids to plain functions. Safe to run twice."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from active_learning import jobs, transfers, workers


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


@worker_ready.connect
def _find_out_the_device(sender: object = None, **kwargs: object) -> None:
    # Answered to admins by the `labelserver_worker` remote-control command (active_learning/workers.py).
    workers.start_device_probe()


@shared_task
def scheduled_retrain(project_id: int) -> int | None:
    """Fired by beat on a project's schedule; skipped (with a log line) while a training runs."""
    from active_learning.retraining import start_retraining
    from annotations.models import Project

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    job = start_retraining(project, trigger="schedule")
    return job.pk if job else None


@shared_task
def check_annotation_trigger(project_id: int) -> int | None:
    """Sent after each submitted annotation: retrain once N new annotations have arrived."""
    from active_learning.retraining import retrain_if_enough_new_annotations
    from annotations.models import Project

    project = Project.objects.filter(pk=project_id).first()
    job = retrain_if_enough_new_annotations(project) if project else None
    return job.pk if job else None


@shared_task(acks_late=True, reject_on_worker_lost=True, bind=True)
def run_transfer_job(self, job_id: int) -> str | None:
    """Ingest, import or export (active_learning.transfers): the `default` queue's CPU workers."""
    return jobs.run_job(job_id, worker=self.request.hostname or "worker")


@shared_task
def delete_expired_exports() -> int:
    return transfers.delete_expired_exports()
