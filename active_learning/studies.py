"""Optuna studies kept in the project's own database, the objective, and pruning.

The study's storage is Optuna's RDB storage on the Django `default` database (the same SQLite file,
or the same PostgreSQL database): every worker that runs a trial reads and writes the one study, so
several workers can run trials of a study at once, and a study outlives any worker. Optuna keeps
its own tables there (`studies`, `trials`, ...), created the first time a trial runs; Django's
migrations do not manage them.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from django.db import connections
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from active_learning.backends.base import EpochReport

logger = logging.getLogger(__name__)

optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial in every worker's log is noise

# The objective is AP@0.5 with AP@0.75 breaking ties: AP@0.5 + TIE_BREAK x AP@0.75. The second term
# moves the objective by at most 0.001, less than one cell's worth of AP@0.5 (AP is TP / (TP + FP +
# FN) over the validation crops) on any validation set of under ~1,000 cells, so in practice it
# orders trials by AP@0.5 first and AP@0.75 second, as the promotion gate does (versions.is_better).
TIE_BREAK = 1e-3

# Pruning from the validation loss, reported as its negative (the study maximises AP). Cellpose 3
# measures the validation loss at its epochs 0, 5, 10, 20, 30, ... (our epochs 1, 6, 11, 21, ...),
# and ramps its learning rate up from 0 over the first 10: on the demo data the trial that ended
# best had by far the worst loss at epochs 6 and 11 (17.2 and 8.5 against 0.93 and 0.65) and the
# best at 21 (docs/benchmarks.md, Sweeps). So the pruner judges from epoch 21 on, once two trials
# have finished to compare with.
PRUNER_STARTUP_TRIALS = 2
PRUNER_WARMUP_EPOCHS = 20
# Optuna's default importance estimate (PED-ANOVA in Optuna 5) compares the best 10 % of trials with
# all of them; with fewer than five completed trials both sets are nearly the same trials and
# every parameter comes out equally important, which would read as a finding.
MIN_IMPORTANCE_TRIALS = 5


def objective(ap50: float, ap75: float) -> float:
    return ap50 + TIE_BREAK * ap75


def storage_url(database: Mapping[str, Any]) -> str:
    """The SQLAlchemy URL of a Django database (its settings dict): SQLite or PostgreSQL (psycopg 3)."""
    engine = str(database["ENGINE"])
    if engine.endswith("sqlite3"):
        return URL.create("sqlite", database=str(database["NAME"])).render_as_string(hide_password=False)
    if engine.endswith(("postgresql", "postgis")):
        options = database.get("OPTIONS") or {}
        query = {key: str(options[key]) for key in ("sslmode", "sslrootcert", "sslcert", "sslkey") if key in options}
        return URL.create(
            "postgresql+psycopg",
            username=database.get("USER") or None,
            password=database.get("PASSWORD") or None,
            host=database.get("HOST") or None,
            port=int(database["PORT"]) if database.get("PORT") else None,
            database=database.get("NAME") or None,
            query=query,
        ).render_as_string(hide_password=False)
    raise ValueError(f"sweeps keep their studies in the project database: SQLite or PostgreSQL, not {engine}")


def storage() -> optuna.storages.RDBStorage:
    database = connections["default"].settings_dict
    return _storage(storage_url(database), float((database.get("OPTIONS") or {}).get("timeout", 30)))


@functools.lru_cache(maxsize=4)
def _storage(url: str, sqlite_timeout: float) -> optuna.storages.RDBStorage:
    try:
        return _rdb_storage(url, sqlite_timeout)
    except SQLAlchemyError:
        # Two workers making Optuna's tables at once (the first sweep of a database): one loses
        # the race with "already exists"; the tables are there now.
        time.sleep(1)
        return _rdb_storage(url, sqlite_timeout)


def _rdb_storage(url: str, sqlite_timeout: float) -> optuna.storages.RDBStorage:
    # No pool: a trial touches the study a few dozen times, and an idle pooled connection would
    # outlive what it points at (a restarted database; a test database being dropped). SQLite waits
    # for the write lock as Django does (its busy timeout) instead of failing at once.
    engine_kwargs: dict[str, Any] = {"poolclass": NullPool}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": sqlite_timeout}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def load_study(name: str, *, seed: int | None = None) -> optuna.Study:
    """The study (made by the first trial that asks for it) with the sampler and pruner a trial
    uses. The sampler's seed is per job, so workers that start trials at once do not draw the same
    first settings. Made by a worker, not by the request that starts the sweep: on SQLite, Optuna's
    own connection waits for the write lock that a request's transaction may hold."""
    return optuna.create_study(
        study_name=name,
        storage=storage(),
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS,
                                           n_warmup_steps=PRUNER_WARMUP_EPOCHS),
    )


def fail_trial(study: optuna.Study, number: int) -> None:
    """Mark a trial failed unless it ended already (a job that died leaves its trial running)."""
    study.tell(number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)


class TrialPruning:
    """Feeds a trial's per-epoch validation loss to the study's pruner; `should_stop` tells the
    backend's training loop to stop at the next epoch once the pruner says so."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.pruned_at: int | None = None

    def report(self, report: EpochReport) -> None:
        if report.val_loss is None or self.pruned_at is not None:
            return
        self.trial.report(-report.val_loss, step=report.epoch)
        if self.trial.should_prune():
            self.pruned_at = report.epoch

    def should_stop(self) -> bool:
        return self.pruned_at is not None


def importances(study: optuna.Study) -> dict[str, float] | None:
    """Optuna's parameter importances, or None while there are too few completed trials or no
    searched parameter varied (the estimate would say nothing)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    varied = [name for name in {n for t in complete for n in t.params}
              if len({repr(t.params.get(name)) for t in complete}) > 1]
    if len(complete) < MIN_IMPORTANCE_TRIALS or not varied:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "importances will be equal": said by the numbers
            found = optuna.importance.get_param_importances(study, params=sorted(varied))
    except (RuntimeError, ValueError) as exc:
        logger.info("no parameter importances for study %s: %s", study.study_name, exc)
        return None
    return {name: round(float(value), 4) for name, value in found.items()}
