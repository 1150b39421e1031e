"""The Sweeps page and the Overview's subsample card in a real headless Chromium: a finished search
(its study in the test database) shows its trials, the best-so-far curve and Optuna's parameter
importances; adopting the best settings changes the project's; the Overview answers what the next
labelled cells would buy."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from active_learning import studies, sweeps
from active_learning.models import Sweep, SweepKind, SweepStatus, SweepTrial, TrialState
from tests.test_browser_e2e import browser, log_in, open_page, screenshot  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SPACE = {"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
         "batch_size": optuna.distributions.CategoricalDistribution([2, 4, 8]),
         "n_epochs": optuna.distributions.IntDistribution(10, 60, step=10)}


def finished_search(project, n_trials: int = 8) -> Sweep:
    """A search whose trials ran: AP rises with the epochs and peaks at a learning rate of 10^-2.5."""
    sweep = Sweep.objects.create(project=project, kind=SweepKind.SEARCH, n_trials=n_trials, n_launched=n_trials,
                                 study_name=f"browser-{project.pk}", status=SweepStatus.SUCCEEDED,
                                 result={"best_trial": None, "candidate_number": 3, "promoted": True})
    study = studies.load_study(sweep.study_name, seed=1)
    for _ in range(n_trials):
        trial = study.ask(SPACE)
        lr, epochs = trial.params["learning_rate"], trial.params["n_epochs"]
        ap50 = round(0.85 - 0.15 * abs(np.log10(lr) + 2.5) - 3 / epochs, 3)
        pruned = ap50 < 0.55
        study.tell(trial, None if pruned else studies.objective(ap50, ap50 - 0.2),
                   state=optuna.trial.TrialState.PRUNED if pruned else None)
        SweepTrial.objects.create(sweep=sweep, number=trial.number, params=trial.params,
                                  state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
                                  ap50=None if pruned else ap50, ap75=None if pruned else ap50 - 0.2,
                                  value=None if pruned else studies.objective(ap50, ap50 - 0.2),
                                  history=[{"epoch": e} for e in range(6 if pruned else epochs)])
    best = sweeps.best_trial(sweep)
    Sweep.objects.filter(pk=sweep.pk).update(result={**sweep.result, "best_trial": best.number})
    return sweep


def test_the_sweeps_page_shows_trials_the_best_so_far_and_importances(project, admin, open_page):  # noqa: F811
    sweep = finished_search(project)
    best = sweeps.best_trial(sweep)
    page = open_page()
    log_in(page, "ada", f"/projects/{project.pk}/sweeps/")
    page.locator(f"#sweep[data-sweep='{sweep.pk}']").wait_for()
    assert page.locator("#trials tbody tr").count() == 8
    assert "★" in page.locator(f"#trials tr[data-trial='{best.number}']").inner_text()
    n_complete = sweep.trials.filter(state=TrialState.COMPLETE).count()
    assert page.locator("#best-so-far circle").count() == n_complete
    assert page.locator("#importances tr").count() == 3
    assert page.locator("#importances tr th").first.inner_text() in ("learning_rate", "n_epochs")
    assert "Best: trial" in page.locator("[data-role=result]").inner_text()
    assert page.locator("textarea[name=search_space]").input_value().startswith("{")
    screenshot(page, "sweeps.png", full_page=True)

    page.click("[data-role=adopt]")
    page.locator("#sweeps-message", has_text="adopted").wait_for()
    project.refresh_from_db()
    assert project.backend_settings["train"]["learning_rate"] == best.params["learning_rate"]


def test_the_overview_says_what_the_next_cells_buy(project, admin, open_page):  # noqa: F811
    trials = [SweepTrial(number=i, params={"fraction": f, "seed": s}, n_train_cells=int(240 * f) + 3 * s,
                         n_train_crops=9, ap50=0.82 - 1.2 * (240 * f + 3 * s) ** -0.5, ap75=0.5)
              for i, (f, s) in enumerate((f, s) for f in (0.25, 0.5, 0.75, 1.0) for s in (0, 1))]
    Sweep.objects.create(project=project, kind=SweepKind.SUBSAMPLE, n_trials=8, status=SweepStatus.SUCCEEDED,
                         search_space={"fractions": [0.25, 0.5, 0.75, 1.0], "seeds": [0, 1]},
                         result=sweeps.subsample_result(trials, n_cells_now=240))
    page = open_page()
    log_in(page, "ada", f"/projects/{project.pk}/overview/")
    card = page.locator("#subsample-study")
    assert card.locator("circle").count() == 9  # eight retrainings and the curve at 340 cells
    assert "The next 100 labelled cells: about 0.0" in card.locator("#next-cells").inner_text()
    card.scroll_into_view_if_needed()
    screenshot(page, "overview_subsample.png")
