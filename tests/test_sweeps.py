"""Sweeps without training: the search space, the objective, pruning on a real Optuna study in the
test database, the learning-curve fit, the trial chain, adopting the best settings, and the API."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from django.db import connection
from sqlalchemy.pool import NullPool

from active_learning import jobs, search_space, studies, sweeps
from active_learning.backends.base import EpochReport
from active_learning.learning_curve import fit_learning_curve
from active_learning.models import Job, JobKind, JobStatus, Sweep, SweepKind, SweepStatus, SweepTrial, TrialState
from annotations.models import Crop, Split
from tests.factories import make_annotation, make_crops

# --- the search space -----------------------------------------------------------------------------------


def test_it_refuses_an_unknown_parameter_naming_the_known():
    with pytest.raises(search_space.SearchSpaceError, match="momentum is not a searchable setting .*learning_rate"):
        search_space.merged_space({"momentum": {"low": 0, "high": 1}})


def test_it_checks_every_value_a_space_can_take_as_the_settings_parser_does():
    space = search_space.merged_space({
        "learning_rate": {"low": 1e-3, "high": 5, "log": True},
        "train_tile": {"choices": [112, 100]},
        "n_epochs": {"low": 30, "high": 10},
        "start_from": {"choices": ["active", "pretrained:bogus"]},
    })
    problems = search_space.check_space(space, {}, [], has_active=False)
    assert "train.learning_rate must be between 1e-08 and 1 (got 5)" in problems
    assert "train.train_tile must be a multiple of 16 (got 100)" in problems
    assert "n_epochs.low must be below n_epochs.high (got 30 and 10)" in problems
    assert any("needs an active model version" in p for p in problems)
    assert any("unknown pretrained model 'bogus'" in p for p in problems)


def test_the_default_space_is_valid_and_searches_four_settings():
    space = search_space.merged_space(None)
    assert search_space.check_space(space, {"train": None}, [], has_active=False) == []
    assert set(search_space.distributions(space)) == {"learning_rate", "n_epochs", "batch_size", "average_last_share"}


def test_it_puts_a_trials_values_into_the_projects_settings():
    base = {"seed": 3, "train": None, "predict": {"diameter": 30}}
    values = {"learning_rate": 0.01, "rescale": False, "start_from": "active"}
    settings, start = search_space.trial_settings(base, values)
    assert settings == {"seed": 3, "train": {"learning_rate": 0.01, "rescale": False}, "predict": {"diameter": 30}}
    assert start == "active" and base["train"] is None
    settings, start = search_space.trial_settings(base, {"start_from": "scratch"})
    assert settings["start_from"] == "scratch" and start == "scratch"


def test_the_objective_breaks_ap50_ties_by_ap75_and_nothing_else():
    assert studies.objective(0.80, 0.10) > studies.objective(0.80, 0.05)
    assert studies.objective(0.81, 0.00) > studies.objective(0.80, 1.00)


def test_it_builds_sqlalchemy_urls_from_django_databases():
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/var/lib/ls/db.sqlite3"}
    assert studies.storage_url(sqlite) == "sqlite:////var/lib/ls/db.sqlite3"
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "ls", "USER": "u", "PASSWORD": "p@ss/word",
                "HOST": "db", "PORT": "5432", "OPTIONS": {"sslmode": "require"}}
    assert studies.storage_url(postgres) == "postgresql+psycopg://u:p%40ss%2Fword@db:5432/ls?sslmode=require"
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        studies.storage_url({"ENGINE": "django.db.backends.mysql", "NAME": "x"})


# --- pruning on a real study ----------------------------------------------------------------------------


MEASURED = (1, 6, 11, 21, 31)  # the epochs at which Cellpose 3 measures the validation loss


def _run_trial(study: optuna.Study, val_losses: list[float]) -> studies.TrialPruning:
    """What a trial job does with the backend's epoch reports."""
    trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)})
    pruning = studies.TrialPruning(trial)
    for epoch, loss in enumerate(val_losses, start=1):
        pruning.report(EpochReport(epoch=epoch, n_epochs=len(val_losses), loss=1.0,
                                   val_loss=loss if epoch in MEASURED else None))
        if pruning.should_stop():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return pruning
    study.tell(trial, 0.5)
    return pruning


def _losses(at: dict[int, float]) -> list[float]:
    """35 epochs' validation losses, `at` the measured ones (the rest are never reported)."""
    return [at.get(epoch, 0.0) for epoch in range(1, 36)]


@pytest.mark.postgres  # the study's storage is the database: run again on PostgreSQL
@pytest.mark.django_db(transaction=True)
def test_a_trial_whose_validation_loss_lags_the_median_is_pruned_on_the_project_database():
    study = studies.load_study("test-pruning", seed=0)
    assert studies.storage().url.startswith("sqlite") == (connection.vendor == "sqlite")
    good = {1: 2.0, 6: 1.0, 11: 0.7, 21: 0.5, 31: 0.4}
    for _ in range(studies.PRUNER_STARTUP_TRIALS):
        assert _run_trial(study, _losses(good)).pruned_at is None
    # Worse during the learning-rate warm-up is not judged (the demo's best trial was, there).
    assert _run_trial(study, _losses({**good, 6: 17.0, 11: 8.5})).pruned_at is None
    assert _run_trial(study, _losses({**good, 21: 0.8})).pruned_at == 21
    # Another process (a second worker) sees the same study: the storage is the database.
    elsewhere = optuna.storages.RDBStorage(studies.storage_url(connection.settings_dict),
                                           engine_kwargs={"poolclass": NullPool})  # no session left behind
    again = optuna.load_study(study_name="test-pruning", storage=elsewhere)
    states = [t.state for t in again.get_trials()]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3 and states[-1] == optuna.trial.TrialState.PRUNED


@pytest.mark.postgres  # the study's storage is the database: run again on PostgreSQL
@pytest.mark.django_db(transaction=True)
def test_importances_wait_for_enough_trials_then_name_what_mattered():
    study = studies.load_study("test-importances", seed=0)
    space = {"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
             "batch_size": optuna.distributions.CategoricalDistribution([2, 4, 8])}
    for i in range(12):
        trial = study.ask(space)
        study.tell(trial, -abs(np.log10(trial.params["learning_rate"]) + 2.5))  # best at 10^-2.5, batch irrelevant
        found = studies.importances(study)
        assert (found is None) == (i + 1 < studies.MIN_IMPORTANCE_TRIALS)
    assert found["learning_rate"] > found["batch_size"]


# --- the subsample study ---------------------------------------------------------------------------------


def test_it_fits_the_saturating_curve_to_known_points():
    n = np.repeat([40.0, 80.0, 120.0, 160.0], 2)
    truth = 0.85 - 1.5 * n ** -0.6
    fit = fit_learning_curve(n, truth)
    assert fit is not None and fit.rmse < 1e-4
    assert (fit.a, fit.b, fit.c) == pytest.approx((0.85, 1.5, 0.6), rel=1e-3)
    assert fit.gain(160, 100) == pytest.approx((0.85 - 1.5 * 260 ** -0.6) - (0.85 - 1.5 * 160 ** -0.6), abs=1e-5)
    noisy = truth + np.random.default_rng(0).normal(0, 0.004, n.size)  # two seeds' scatter
    assert fit_learning_curve(n, noisy).gain(160, 100) == pytest.approx(fit.gain(160, 100), abs=0.01)


def test_points_that_do_not_rise_make_a_flat_fit_that_says_so():
    measured = [(0.25, 400, 0.75), (0.5, 800, 0.76), (0.75, 1000, 0.71), (1.0, 1350, 0.67)]
    trials = [SweepTrial(number=i, params={"fraction": f, "seed": 0}, n_train_cells=n, n_train_crops=9, ap50=ap,
                         ap75=0.5) for i, (f, n, ap) in enumerate(measured)]
    result = sweeps.subsample_result(trials, n_cells_now=1350)
    assert result["flat"] and result["gain_next"] == pytest.approx(0.0, abs=1e-3)
    assert "labels are not what limits this model now" in result["answer"]


def test_it_will_not_fit_fewer_than_three_sizes():
    assert fit_learning_curve([50, 50, 100, 100], [0.5, 0.52, 0.6, 0.61]) is None


def test_subsets_are_nested_per_seed_and_train_as_many_steps():
    crops = list(range(20))
    for seed in (0, 1):
        shares = [set(sweeps.nested_subset(crops, f, seed)) for f in (0.25, 0.5, 0.75, 1.0)]
        assert [len(s) for s in shares] == [5, 10, 15, 20]
        assert shares[0] < shares[1] < shares[2] < shares[3]
    assert sweeps.nested_subset(crops, 0.25, 0) != sweeps.nested_subset(crops, 0.25, 1)
    settings = sweeps.subsample_settings({"seed": 2, "train": {"n_epochs": 5}}, 1, n_full=20)
    assert settings == {"seed": 3, "train": {"n_epochs": 5, "crops_per_epoch": 32}}


def test_the_subsample_result_answers_what_the_next_cells_buy(project):
    trials = [SweepTrial(number=i, params={"fraction": f, "seed": s}, n_train_cells=int(200 * f), n_train_crops=4,
                         ap50=0.85 - 1.5 * (200 * f) ** -0.6, ap75=0.5)
              for i, (f, s) in enumerate((f, s) for f in (0.25, 0.5, 0.75, 1.0) for s in (0, 1))]
    result = sweeps.subsample_result(trials, n_cells_now=200)
    assert result["gain_next"] == pytest.approx((0.85 - 1.5 * 300 ** -0.6) - (0.85 - 1.5 * 200 ** -0.6), abs=1e-3)
    assert "next 100 labelled cells would raise AP@0.5 by about +0.0" in result["answer"]
    assert "flat" not in result
    assert len(result["points"]) == 8


# --- the trial chain, without training ------------------------------------------------------------------


@pytest.fixture
def labelled_project(project, labeller):
    crops = make_crops(project, 4)
    for crop in crops:
        make_annotation(crop, labeller)
    Crop.objects.filter(pk__in=[c.pk for c in crops[2:]]).update(split=Split.VALIDATION)
    return project


def _end(job: Job, status: str = JobStatus.SUCCEEDED) -> None:
    Job.objects.filter(pk=job.pk).update(status=status)
    sweeps.job_ended(job.pk)


def test_ending_trials_queue_the_next_and_the_last_queues_the_finish(labelled_project, admin):
    with jobs.run_by_caller():
        sweep = sweeps.start_subsample_study(labelled_project, fractions=[0.5, 0.75, 1.0], seeds=[0], parallel=2,
                                             user=admin)
        first, second = sweep.jobs.order_by("pk")
        assert sweep.n_trials == 3 and first.kind == JobKind.SWEEP_TRIAL
        _end(first)
        assert sweep.jobs.filter(status=JobStatus.QUEUED).count() == 2  # the second, and the third slot
        _end(second, JobStatus.FAILED)
        assert not sweep.jobs.filter(kind=JobKind.SWEEP_FINISH).exists()
        _end(sweep.jobs.get(status=JobStatus.QUEUED))
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.FINISHING and sweep.n_launched == 3
    assert sweep.jobs.filter(kind=JobKind.SWEEP_FINISH, status=JobStatus.QUEUED).count() == 1


def test_a_cancelled_sweep_queues_nothing_and_resumes_what_is_left(labelled_project, admin):
    with jobs.run_by_caller():
        sweep = sweeps.start_subsample_study(labelled_project, fractions=[0.5, 0.75, 1.0], seeds=[0], user=admin)
        job = sweep.jobs.get()
        SweepTrial.objects.create(sweep=sweep, job=job, number=0, params={"fraction": 0.5, "seed": 0},
                                  state=TrialState.COMPLETE, ap50=0.5, ap75=0.3, value=0.5)
        sweeps.cancel_sweep(sweep)
        job.refresh_from_db()
        assert job.status == JobStatus.CANCELLED
        sweeps.job_ended(job.pk)
        assert sweep.jobs.count() == 1
        with pytest.raises(Exception, match="has already ended"):
            sweeps.cancel_sweep(sweep)
        resumed = sweeps.resume_sweep(sweep)
    assert resumed.status == SweepStatus.RUNNING and resumed.n_launched == 2  # one counted, one more queued
    assert sweep.jobs.filter(status=JobStatus.QUEUED).count() == 1


# --- adopting the best settings -------------------------------------------------------------------------


def _search_with_best(project, params: dict) -> Sweep:
    sweep = Sweep.objects.create(project=project, kind=SweepKind.SEARCH, n_trials=2, study_name="x",
                                 status=SweepStatus.SUCCEEDED)
    SweepTrial.objects.create(sweep=sweep, number=0, params={"learning_rate": 0.5}, state=TrialState.COMPLETE,
                              ap50=0.4, ap75=0.1, value=0.4001)
    SweepTrial.objects.create(sweep=sweep, number=1, params=params, state=TrialState.COMPLETE,
                              ap50=0.7, ap75=0.2, value=0.7002)
    return sweep


def test_adopting_puts_the_best_trials_settings_into_the_project(project, admin_client):
    project.backend_settings = {"predict": {"diameter": 25}, "train": {"n_epochs": 40}}
    project.save()
    sweep = _search_with_best(project, {"learning_rate": 0.002, "batch_size": 2, "start_from": "active"})
    response = admin_client.post(f"/api/sweeps/{sweep.pk}/adopt/")
    assert response.status_code == 200, response.content
    project.refresh_from_db()
    assert project.backend_settings == {"predict": {"diameter": 25},
                                        "train": {"n_epochs": 40, "learning_rate": 0.002, "batch_size": 2}}


def test_adopting_refuses_settings_the_settings_api_refuses(project, admin_client):
    sweep = _search_with_best(project, {"start_from": "weights:" + "ab" * 32})  # never uploaded to the project
    response = admin_client.post(f"/api/sweeps/{sweep.pk}/adopt/")
    assert response.status_code == 400 and "start_from" in response.json()["detail"]
    project.refresh_from_db()
    assert project.backend_settings == {}


# --- the API --------------------------------------------------------------------------------------------


def test_starting_a_search_refuses_a_bad_space_naming_each_problem(labelled_project, admin_client):
    response = admin_client.post(f"/api/projects/{labelled_project.pk}/sweeps/", {
        "n_trials": 3, "search_space": {"batch_size": {"choices": [0, 4]}, "momentum": None},
    }, format="json")
    assert response.status_code == 400 and "momentum is not a searchable setting" in response.json()["detail"]
    response = admin_client.post(f"/api/projects/{labelled_project.pk}/sweeps/", {
        "n_trials": 3, "search_space": {"batch_size": {"choices": [0, 4]}},
    }, format="json")
    assert response.status_code == 400
    assert "train.batch_size must be between 1 and 256 (got 0)" in response.json()["detail"]
    assert not Sweep.objects.exists()


def test_a_search_needs_labelled_validation_crops(project, labeller, admin_client):
    make_annotation(make_crops(project, 1)[0], labeller)
    response = admin_client.post(f"/api/projects/{project.pk}/sweeps/", {"n_trials": 3}, format="json")
    assert response.status_code == 409 and "validation" in response.json()["detail"]


def test_a_started_search_queues_its_first_trials_and_lists_them(labelled_project, admin_client):
    with jobs.run_by_caller():
        response = admin_client.post(f"/api/projects/{labelled_project.pk}/sweeps/",
                                     {"n_trials": 5, "parallel": 2}, format="json")
    assert response.status_code == 201, response.content
    sweep = Sweep.objects.get()
    assert sweep.kind == SweepKind.SEARCH and sweep.n_launched == 2 and sweep.study_name
    assert sweep.jobs.filter(kind=JobKind.SWEEP_TRIAL, status=JobStatus.QUEUED).count() == 2
    assert sweep.search_space["learning_rate"] == {"low": 1e-4, "high": 1e-2, "log": True}
    listed = admin_client.get(f"/api/projects/{labelled_project.pk}/sweeps/").json()
    assert [s["id"] for s in listed] == [sweep.pk]
    detail = admin_client.get(f"/api/sweeps/{sweep.pk}/").json()
    assert detail["trials"] == [] and detail["importances"] is None and detail["best_trial"] is None


def test_the_sweeps_page_is_for_admins(project, admin, labeller):
    from django.test import Client

    client = Client()
    client.force_login(admin)
    page = client.get(f"/projects/{project.pk}/sweeps/")
    assert page.status_code == 200 and b'id="sweep-form"' in page.content and b"sweeps.js" in page.content
    client.force_login(labeller)
    assert client.get(f"/projects/{project.pk}/sweeps/").status_code == 403


def test_the_overview_invites_a_subsample_study_until_one_has_run(project, admin):
    from django.test import Client

    client = Client()
    client.force_login(admin)
    page = client.get(f"/projects/{project.pk}/overview/").content.decode()
    assert 'id="subsample-study"' in page and "No subsample study yet" in page


@pytest.mark.postgres  # the study's storage is the database: run again on PostgreSQL
@pytest.mark.django_db(transaction=True)
def test_a_trial_whose_worker_died_is_failed_in_the_study_and_the_sweep_goes_on(labelled_project):
    with jobs.run_by_caller():
        sweep = sweeps.start_search(labelled_project, n_trials=3, search={"n_epochs": {"fixed": 2}})
        job = sweep.jobs.get()
        study = studies.load_study(sweep.study_name)
        trial = study.ask(search_space.distributions(sweep.search_space))  # what the dead worker had asked
        SweepTrial.objects.create(sweep=sweep, job=job, number=trial.number, params=trial.params)
        Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, worker="gpu@host pid=999999999")
        assert jobs.reap_stale_jobs(worker="gpu@host") == [job.pk]  # the worker started again under its name
    assert SweepTrial.objects.get(job=job).state == TrialState.FAILED
    assert studies.load_study(sweep.study_name).trials[0].state == optuna.trial.TrialState.FAIL
    assert sweep.jobs.filter(status=JobStatus.QUEUED).count() == 1  # the next trial
