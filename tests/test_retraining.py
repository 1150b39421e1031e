"""Retraining triggers: an admin's cron schedule and N new annotations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django_celery_beat.models import PeriodicTask

from active_learning import retraining
from active_learning.models import Job, JobKind, JobStatus
from annotations.masks import encode_png
from annotations.models import Annotation, Crop, Image
from labelserver.errors import DomainError


def test_it_stores_a_schedule_that_beat_reads(project):
    task = retraining.set_schedule(project, "30 2 * * 1-5")
    assert task.task == "active_learning.tasks.scheduled_retrain"
    assert json.loads(task.args) == [project.pk]
    assert retraining.get_schedule(project) == "30 2 * * 1-5"


def test_it_changes_and_removes_a_schedule(project):
    retraining.set_schedule(project, "0 3 * * *")
    retraining.set_schedule(project, "*/15 * * * *")
    assert PeriodicTask.objects.filter(name=retraining.schedule_name(project)).count() == 1
    assert retraining.get_schedule(project) == "*/15 * * * *"
    retraining.set_schedule(project, None)
    assert retraining.get_schedule(project) is None


@pytest.mark.parametrize(("cron", "message"), [("0 2 * *", "five fields"), ("99 2 * * *", "not a valid cron")])
def test_it_refuses_a_bad_schedule(project, cron, message):
    with pytest.raises(DomainError, match=message):
        retraining.set_schedule(project, cron)
    assert retraining.get_schedule(project) is None


def test_a_schedule_firing_during_a_training_is_skipped(project, caplog):
    first = retraining.start_retraining(project, trigger="schedule")
    assert first.status == JobStatus.QUEUED
    assert retraining.start_retraining(project, trigger="schedule") is None
    assert "skipped" in caplog.text
    assert Job.objects.filter(project=project, kind=JobKind.TRAIN).count() == 1


def _annotate(project, n: int) -> None:
    image = Image.objects.create(
        project=project, sha256="a" * 64, original_name="a.png", width=8, height=8 * n, channels=1, dtype="uint8"
    )
    for i in range(n):
        crop = Crop.objects.create(project=project, image=image, x=0, y=8 * i, width=8, height=8)
        Annotation.objects.create(crop=crop, version=1, mask_png=encode_png(np.zeros((8, 8))), n_cells=0)


def test_it_retrains_after_n_new_annotations(project):
    project.retrain_after_annotations = 3
    project.save()
    _annotate(project, 2)
    assert retraining.retrain_if_enough_new_annotations(project) is None
    # A resubmission counts too: it is new labelling work.
    Annotation.objects.create(
        crop=Crop.objects.first(), version=2, mask_png=encode_png(np.zeros((8, 8))), n_cells=0, is_current=False
    )
    job = retraining.retrain_if_enough_new_annotations(project)
    assert job is not None and job.trigger == "annotations"


def test_the_annotation_trigger_is_off_by_default(project):
    _annotate(project, 5)
    assert retraining.retrain_if_enough_new_annotations(project) is None
