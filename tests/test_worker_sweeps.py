"""A tiny sweep end to end in a REAL Celery worker process: three trials of real (two-epoch)
trainings on 128-px crops, the study in the test database, the best trial promoted through the
same gate as an ordinary training, and its settings adopted as the project's."""

from __future__ import annotations

import pytest

from active_learning.models import Job, JobKind, JobStatus, ModelVersionStatus, Sweep, SweepStatus, TrialState
from active_learning.versions import active_version
from annotations.models import Role, Split
from tests.factories import add_member, client_for, ingest_u2os_corners, make_project
from tests.worker import start_worker, stop_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# As tests/test_worker_jobs.py: the jobs are under test, not what the network learns.
TINY = {"train": {"n_epochs": 2, "batch_size": 4, "crops_per_epoch": 4},
        "predict": {"diameter": 30}, "seed": 1}
SPACE = {"n_epochs": {"fixed": 2}, "average_last_share": {"fixed": 0.0}, "batch_size": {"choices": [2, 4]},
         "learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}}


@pytest.fixture
def tiny_project(u2os_pairs, tmp_path, admin):
    """Four labelled 128-px train crops and four labelled validation crops, nothing unlabelled."""
    project = make_project("sweep", crop_size=128, backend_settings=TINY)
    ingest_u2os_corners(project, u2os_pairs[:2], tmp_path, side=256, splits=(Split.TRAIN, Split.VALIDATION),
                        labelled=(True, True))
    add_member(project, admin, Role.ADMIN)
    return project


def _sweep_ended(sweep_id: int) -> Sweep | None:
    sweep = Sweep.objects.get(pk=sweep_id)
    return sweep if sweep.status in (SweepStatus.SUCCEEDED, SweepStatus.FAILED, SweepStatus.CANCELLED) else None


def test_a_worker_runs_a_three_trial_sweep_and_promotes_the_best(tiny_project, admin, tmp_path):
    client = client_for(admin)
    worker = start_worker(tmp_path / "worker.log")
    try:
        response = client.post(f"/api/projects/{tiny_project.pk}/sweeps/",
                               {"n_trials": 3, "parallel": 2, "search_space": SPACE}, format="json")
        assert response.status_code == 201, response.content
        sweep_id = response.json()["id"]
        sweep = worker.wait_for(lambda: _sweep_ended(sweep_id), 300, "the sweep")
        assert sweep.status == SweepStatus.SUCCEEDED, sweep.error + "".join(
            j.log for j in Job.objects.filter(sweep=sweep).order_by("pk"))
        predict = Job.objects.get(kind=JobKind.PREDICT, trigger="promotion")
        worker.wait_for(lambda: Job.objects.get(pk=predict.pk).status not in (JobStatus.QUEUED, JobStatus.RUNNING),
                        120, "the prediction job")
    finally:
        stop_worker(worker)

    jobs = list(Job.objects.filter(sweep=sweep).order_by("pk"))
    assert [j.kind for j in jobs] == [JobKind.SWEEP_TRIAL] * 3 + [JobKind.SWEEP_FINISH]
    assert all(j.status == JobStatus.SUCCEEDED for j in jobs)
    trials = list(sweep.trials.order_by("number"))
    assert [t.number for t in trials] == [0, 1, 2] and all(t.state == TrialState.COMPLETE for t in trials)
    for trial in trials:
        assert trial.params["batch_size"] in (2, 4) and 1e-3 <= trial.params["learning_rate"] <= 1e-2
        assert trial.settings["train"]["learning_rate"] == trial.params["learning_rate"]
        assert 0 <= trial.ap50 <= 1 and len(trial.history) == 2 and trial.n_train_crops == 4
    best = max(trials, key=lambda t: (t.value, -t.number))
    assert sweep.result["best_trial"] == best.number and sweep.result["promoted"] is True
    version = active_version(tiny_project)
    assert version is not None and version.pk == sweep.result["candidate"]
    assert version.status == ModelVersionStatus.ACTIVE and version.origin == f"sweep:{sweep.pk}"
    assert version.settings["train"]["learning_rate"] == best.params["learning_rate"]
    assert set(version.metrics) >= {"ap50", "ap75"}
    assert len(best.trained_on) == 4
    assert sorted(version.trained_on.values_list("pk", flat=True)) == sorted(best.trained_on)

    detail = client.get(f"/api/sweeps/{sweep.pk}/").json()
    assert [t["state"] for t in detail["trials"]] == ["complete"] * 3
    assert all(t["duration_s"] > 0 for t in detail["trials"])
    assert detail["best_trial"] == best.number and len(detail["best_so_far"]) == 3
    assert detail["importances"] is None  # three trials are too few to estimate them

    assert client.post(f"/api/sweeps/{sweep.pk}/adopt/").status_code == 200
    tiny_project.refresh_from_db()
    assert tiny_project.backend_settings["train"] == {**TINY["train"], "learning_rate": best.params["learning_rate"],
                                                      "batch_size": best.params["batch_size"], "n_epochs": 2,
                                                      "average_last_share": 0.0}


def test_a_subsample_study_retrains_on_nested_shares_and_fits_its_curve(tiny_project):
    """Run in this process, job after job, as one worker would (dispatch held: no broker)."""
    from active_learning import jobs, sweeps

    with jobs.run_by_caller():
        sweep = sweeps.start_subsample_study(tiny_project, fractions=[0.5, 0.75, 1.0], seeds=[0], parallel=1)
        while (job := sweep.jobs.filter(status=JobStatus.QUEUED).order_by("pk").first()) is not None:
            assert jobs.run_job(job.pk, "test") == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).log
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.SUCCEEDED, sweep.error
    trials = list(sweep.trials.order_by("number"))
    assert [(t.params["fraction"], t.n_train_crops) for t in trials] == [(0.5, 2), (0.75, 3), (1.0, 4)]
    assert all(t.settings["train"]["crops_per_epoch"] == 4 for t in trials)  # the project's: as many steps each
    assert trials[0].n_train_cells < trials[1].n_train_cells < trials[2].n_train_cells
    assert [p["n_cells"] for p in sweep.result["points"]] == [t.n_train_cells for t in trials]
    assert sweep.result["n_cells"] == trials[2].n_train_cells
    assert "answer" in sweep.result and active_version(tiny_project) is None  # a study makes no version
