"""Reads for model versions and jobs, limited to the projects a user belongs to."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from active_learning.models import Job, ModelVersion
from annotations import selectors as annotation_selectors
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
