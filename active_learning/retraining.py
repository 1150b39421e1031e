"""When to retrain: on an admin's schedule (django-celery-beat, editable while the server runs),
and after N new annotations since the active version was trained. Either way the run is the
same unattended loop: fine-tune from the active version, evaluate, promote if better,
re-predict and re-score (see active_learning.training)."""

from __future__ import annotations

import json
import logging

from celery.schedules import crontab as celery_crontab
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from active_learning.jobs import enqueue_job
from active_learning.models import Job, JobKind
from active_learning.versions import active_version
from annotations.models import Annotation, Project
from labelserver.errors import Conflict, DomainError

logger = logging.getLogger(__name__)

SCHEDULED_TASK = "active_learning.tasks.scheduled_retrain"


def schedule_name(project: Project) -> str:
    return f"retrain project {project.pk}"


def start_retraining(project: Project, *, trigger: str, user: object = None) -> Job | None:
    """Queue a training job, or log and return None when one is already queued or running."""
    try:
        return enqueue_job(project, JobKind.TRAIN, trigger=trigger, user=user)
    except Conflict as exc:
        logger.info("retraining of project %s (%s) skipped: %s", project.pk, trigger, exc)
        return None


def set_schedule(project: Project, cron: str | None) -> PeriodicTask | None:
    """Retrain on a five-field cron schedule ("0 2 * * *" = 02:00 daily); None or "" turns it off."""
    name = schedule_name(project)
    if not cron:
        PeriodicTask.objects.filter(name=name).delete()
        return None
    fields = _parse_cron(cron)
    with transaction.atomic():
        schedule, _ = CrontabSchedule.objects.get_or_create(**fields, timezone="UTC")
        task, _ = PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": SCHEDULED_TASK, "crontab": schedule, "args": json.dumps([project.pk]), "enabled": True},
        )
    return task


def get_schedule(project: Project) -> str | None:
    task = PeriodicTask.objects.filter(name=schedule_name(project), enabled=True).select_related("crontab").first()
    if task is None or task.crontab is None:
        return None
    c = task.crontab
    return f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"


def _parse_cron(cron: str) -> dict[str, str]:
    parts = cron.split()
    if len(parts) != 5:
        raise DomainError(f"schedule {cron!r} must have five fields: minute hour day-of-month month day-of-week")
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    try:
        celery_crontab(minute, hour, day_of_week, day_of_month, month_of_year)
    except (ValueError, KeyError) as exc:
        raise DomainError(f"schedule {cron!r} is not a valid cron expression: {exc}") from None
    return {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month_of_year,
        "day_of_week": day_of_week,
    }


def annotations_since_active_version(project: Project) -> int:
    """New annotations since the active version's training began (all of them when there is none)."""
    version = active_version(project)
    annotations = Annotation.objects.filter(crop__project=project)
    if version is not None and version.training_job is not None and version.training_job.started_at:
        annotations = annotations.filter(created_at__gt=version.training_job.started_at)
    elif version is not None:
        annotations = annotations.filter(created_at__gt=version.created_at)
    return annotations.count()


def retrain_if_enough_new_annotations(project: Project) -> Job | None:
    threshold = project.retrain_after_annotations
    if threshold <= 0 or annotations_since_active_version(project) < threshold:
        return None
    return start_retraining(project, trigger="annotations")
