"""A project that starts from trained weights serves them before its first training, and its first
fine-tuned candidate has to beat them (active_learning.start_model). The jobs run in this process
(`jobs.run_by_caller`, as the simulation runs them); the start weights are the run's small trained
nuclei model (tests/nuclei_model.py), the crops are real U2OS crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from active_learning import jobs, services, versions
from active_learning.backends.settings import FINETUNE_AVERAGE_SHARE, FINETUNE_LEARNING_RATE, parse_backend_settings
from active_learning.datasets import labelled_crops
from active_learning.models import CropScore, Job, JobKind, JobStatus, ModelVersion, ModelVersionStatus, Prediction
from active_learning.scoring import UNAVAILABLE
from active_learning.validation import incumbent_metrics
from annotations import leases, submissions
from annotations.models import CropStatus, Split
from tests.factories import ingest_u2os_corners, make_project, make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIDE = 256  # the top-left 256x256 of three shipped U2OS images, cut into 128-px crops
FAST = {"train": {"n_epochs": 2, "batch_size": 4, "crops_per_epoch": 4}, "predict": {"diameter": 30}}


@pytest.fixture
def start_project(nuclei_model, u2os_pairs, tmp_path):
    """Starts from the nuclei model's weights: one labelled train image, one labelled validation
    image, one unlabelled train image (four crops each)."""
    project = make_project("from weights", crop_size=128)
    # The weights uploaded to the project, named by their hash ("weights:<sha256>"; paths are refused).
    _, sha = versions.store_weights(project, Path(nuclei_model.training.weights_path))
    project.backend_settings = {"start_from": f"weights:{sha}", **FAST}
    project.save()
    ingest_u2os_corners(project, u2os_pairs[:3], tmp_path, side=SIDE,
                        splits=(Split.TRAIN, Split.VALIDATION, Split.TRAIN), labelled=(True, True, False))
    return project


def _run_queued(project, kind: str) -> Job:
    job = Job.objects.get(project=project, kind=kind, status=JobStatus.QUEUED)
    assert jobs.run_job(job.pk, worker="test") == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).log
    return Job.objects.get(pk=job.pk)


def test_a_prediction_before_any_training_serves_the_start_weights(start_project, nuclei_model):
    start_project.strategy = "combined"  # fixed weights
    start_project.save()
    with jobs.run_by_caller():
        services.start_job(start_project, kind=JobKind.PREDICT)  # refused for a project starting from scratch
        job = _run_queued(start_project, JobKind.PREDICT)

        start = versions.active_version(start_project)
        assert start is not None and start.number == 1 and start.origin.startswith("start:weights:")
        assert "serving the start weights" in job.log and "start weights on the validation crops: AP@0.5" in job.log
        assert len(start.metrics["per_crop"]) == 4 and 0 <= start.metrics["ap50"] <= 1  # the validation crops
        assert Path(start.weights.path).is_file() and start.parent is None and start.training_job is None
        unlabelled = start_project.crops.filter(status=CropStatus.UNLABELLED)
        assert Prediction.objects.filter(model_version=start, crop__in=unlabelled).count() == unlabelled.count() == 4
        # The strategy's weights are fixed: the evaluation scores no validation crop.
        assert not CropScore.objects.filter(crop__split=Split.VALIDATION).exists()

        # A second prediction job finds the served version: no second copy of the start weights.
        services.start_job(start_project, kind=JobKind.PREDICT)
        _run_queued(start_project, JobKind.PREDICT)
        assert ModelVersion.objects.filter(project=start_project).count() == 1


def test_a_calibrating_strategy_fits_its_weights_on_the_validation_crops(start_project):
    """`combined_fitted`: evaluating the start weights also scores the four labelled validation
    crops, and the ranking weighs each signal by how it ranked the errors there."""
    start_project.strategy = "combined_fitted"
    start_project.save()
    with jobs.run_by_caller():
        services.start_job(start_project, kind=JobKind.PREDICT)
        job = _run_queued(start_project, JobKind.PREDICT)

    start = versions.active_version(start_project)
    validation = {entry["crop"] for entry in start.metrics["per_crop"]}
    scores = CropScore.objects.filter(model_version=start, crop__split=Split.VALIDATION)
    assert set(scores.values_list("crop_id", flat=True)) == validation and len(validation) == 4
    by_strategy = {name: sorted(scores.filter(strategy=name).values_list("score", flat=True))
                   for name in ("cellprob", "flow_error", "missed_cells", "version_disagreement")}
    assert all(len(values) == 4 and min(values) >= 0 for name, values in by_strategy.items()
               if name != "version_disagreement")
    assert by_strategy["version_disagreement"] == [UNAVAILABLE] * 4  # no version served before it
    assert "weights fitted on the validation crops: cellprob" in job.log
    assert "scoring the" not in job.log  # the evaluation scored them; the job had nothing left to do
    # Scoring them stores no prediction: the queue's crops alone are predicted.
    assert not Prediction.objects.filter(crop__split=Split.VALIDATION).exists()


def test_a_project_that_switches_to_a_calibrating_strategy_gets_its_validation_crops_scored(start_project):
    """Evaluated under a strategy with fixed weights, the start version scored no validation crop;
    after the switch to `combined_fitted`, the next prediction job scores them, and the ranking is fitted."""
    start_project.strategy = "combined"
    start_project.save()
    with jobs.run_by_caller():
        services.start_job(start_project, kind=JobKind.PREDICT)
        first = _run_queued(start_project, JobKind.PREDICT)
        assert "fitted" not in first.log and not CropScore.objects.filter(crop__split=Split.VALIDATION).exists()

        start_project.strategy = "combined_fitted"
        start_project.save()
        services.start_job(start_project, kind=JobKind.PREDICT)
        job = _run_queued(start_project, JobKind.PREDICT)

    start = versions.active_version(start_project)
    assert "scoring the 4 validation crops version 1 was evaluated on" in job.log
    assert "weights fitted on the validation crops: cellprob" in job.log
    scored = CropScore.objects.filter(model_version=start, crop__split=Split.VALIDATION, strategy="cellprob")
    assert set(scored.values_list("crop_id", flat=True)) == {entry["crop"] for entry in start.metrics["per_crop"]}
    assert not Prediction.objects.filter(crop__split=Split.VALIDATION).exists()


def test_the_active_version_measured_again_on_corrected_validation_crops_keeps_the_new_measurement(start_project):
    """A validation crop corrected after the start version was evaluated: the promotion gate
    measures the version again, and stores that, so the next gate, the reports and the fitted
    strategy read its errors on the crops as they are now."""
    with jobs.run_by_caller():
        services.start_job(start_project, kind=JobKind.PREDICT)
        _run_queued(start_project, JobKind.PREDICT)
    start = versions.active_version(start_project)
    before = start.metrics
    crop = start_project.crops.filter(split=Split.VALIDATION).order_by("id").first()
    boss = make_user("boss", staff=True)
    leases.lease_crop(crop=crop, user=boss, as_admin=True)
    corrected = submissions.submit_annotation(  # "no cell here"
        crop=crop, user=boss, mask=np.zeros((crop.height, crop.width), np.uint16))

    validation = labelled_crops(start_project, Split.VALIDATION)
    measured = incumbent_metrics(start, validation)
    stored = ModelVersion.objects.get(pk=start.pk).metrics
    assert stored == measured and stored["evaluation_key"] != before["evaluation_key"]
    entry = next(e for e in stored["per_crop"] if e["crop"] == crop.pk)
    assert entry["annotation"] == corrected.pk
    assert entry["n_true"] == 0 and entry["fp50"] == entry["n_pred"]  # every predicted cell is now wrong
    assert incumbent_metrics(ModelVersion.objects.get(pk=start.pk), validation) == stored


def test_the_first_training_must_beat_the_start_weights(start_project):
    with jobs.run_by_caller():
        jobs.enqueue_job(start_project, JobKind.TRAIN)
        job = _run_queued(start_project, JobKind.TRAIN)

        start, candidate = ModelVersion.objects.filter(project=start_project).order_by("number")
        assert start.origin.startswith("start:") and candidate.origin == "trained"
        assert candidate.parent_id == start.pk and candidate.training_job_id == job.pk
        assert "starting from version 1" in job.log
        # The candidate records the training settings it ran with, the backend's choices filled in.
        assert candidate.settings["train"] == {**candidate.settings["train"], **FAST["train"]}
        assert candidate.settings["train"]["learning_rate"] == FINETUNE_LEARNING_RATE
        assert candidate.settings["train"]["average_last_share"] == FINETUNE_AVERAGE_SHARE
        assert parse_backend_settings(candidate.settings).train.n_epochs == 2
        # Both measured on the same four validation crops; the better one serves.
        assert len(start.metrics["per_crop"]) == len(candidate.metrics["per_crop"]) == 4
        winner = candidate if versions.is_better(candidate.metrics, start.metrics, 0.0) else start
        loser = start if winner is candidate else candidate
        assert winner.status == ModelVersionStatus.ACTIVE
        assert loser.status == (ModelVersionStatus.RETIRED if loser is start else ModelVersionStatus.REJECTED)
        # Whichever serves predicts the waiting crops next.
        prediction = _run_queued(start_project, JobKind.PREDICT)
        assert prediction.model_version_id == winner.pk
        assert Prediction.objects.filter(model_version=winner).count() == 4


def test_a_prediction_job_stops_when_its_version_no_longer_serves(start_project, nuclei_model):
    """An admin promotes an uploaded version and rolls back before its prediction job ran: that
    job predicts nothing for a version no labeller sees; the serving version's job ranks."""
    with jobs.run_by_caller():
        services.start_job(start_project, kind=JobKind.PREDICT)
        _run_queued(start_project, JobKind.PREDICT)
        start = versions.active_version(start_project)
        upload = SimpleUploadedFile("newer.pt", Path(nuclei_model.training.weights_path).read_bytes())
        newer = services.upload_weights(start_project, upload, promote=True)
        services.promote_version(start)  # the roll back, before the upload's prediction job ran

        stale, current = Job.objects.filter(project=start_project, kind=JobKind.PREDICT,
                                            status=JobStatus.QUEUED).order_by("pk")
        assert (stale.model_version_id, current.model_version_id) == (newer.pk, start.pk)
        assert jobs.run_job(stale.pk, worker="test") == JobStatus.SUCCEEDED
        stale.refresh_from_db()
        assert "stopped after 0 of 4 crops: version 2 no longer serves (version 1 does" in stale.log
        assert "ranked" not in stale.log
        assert not Prediction.objects.filter(model_version=newer).exists()

        assert jobs.run_job(current.pk, worker="test") == JobStatus.SUCCEEDED
        current.refresh_from_db()
        assert "predicting 0 crops with version 1" in current.log and "ranked 4 crops" in current.log


def test_an_admin_promoting_the_start_version_while_it_is_evaluated_keeps_it(start_project, monkeypatch):
    """The start version is listed (as a candidate) while the job evaluates it, and an admin may
    promote it by hand meanwhile: the job must serve it, not delete it as another job's copy."""
    from active_learning import start_model

    measure = start_model.measure_version

    def evaluate_while_an_admin_promotes(version, crops):
        metrics = measure(version, crops)
        services.promote_version(ModelVersion.objects.get(pk=version.pk))
        return metrics

    monkeypatch.setattr(start_model, "measure_version", evaluate_while_an_admin_promotes)
    with jobs.run_by_caller():
        services.start_job(start_project, kind=JobKind.PREDICT)
        job = Job.objects.get(project=start_project, kind=JobKind.PREDICT, status=JobStatus.QUEUED)
        assert jobs.run_job(job.pk, worker="test") == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).log

    start = ModelVersion.objects.get(project=start_project)
    assert start.status == ModelVersionStatus.ACTIVE and start.origin.startswith("start:")
    assert Prediction.objects.filter(model_version=start).count() == 4
