"""A real settings sweep on the shipped demo data (data/dsb2018_u2os: four labelled training images,
two labelled validation images, 256-px crops) within a wall-clock budget, run in this process as
the workers would run it (each trial is the same job code; dispatch is held, so no broker is
needed). Prints and writes bench/out/sweep_demo.json: every trial's settings, AP, state and time,
the best trial and whether the promotion gate took it.

    LABELSERVER_DATA_DIR=bench/out/sweepdata SECRET_KEY=bench .venv/bin/python bench/sweep_demo.py \\
        --trials 6 --budget-min 45

With `--subsample EPOCHS` it runs a subsample study instead (25/50/75/100 % of the labelled train
crops, seeds 0 and 1, the demo's settings with EPOCHS epochs) and prints its fitted curve.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelserver.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from active_learning import jobs, sweeps  # noqa: E402
from active_learning.models import Job, JobKind, JobStatus, Sweep, SweepStatus  # noqa: E402
from annotations.models import Project  # noqa: E402

# From scratch the demo needs 20+ epochs to find cells at all (backends/settings.py, TrainSettings).
SPACE = {
    "n_epochs": {"low": 20, "high": 40, "step": 10},
    "learning_rate": {"low": 1e-3, "high": 2e-2, "log": True},
    "batch_size": {"choices": [2, 4, 8]},
    "average_last_share": {"low": 0.0, "high": 0.5},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--budget-min", type=float, default=45)
    parser.add_argument("--subsample", type=int, default=0, metavar="EPOCHS")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    with jobs.run_by_caller():
        call_command("create_demo", verbosity=0)
        project = Project.objects.get(name__startswith="Demo")
        Job.objects.filter(project=project, status=JobStatus.QUEUED).update(status=JobStatus.CANCELLED)
        if args.subsample:
            project.backend_settings = {**project.backend_settings, "train": {"n_epochs": args.subsample}}
            project.save(update_fields=["backend_settings"])
            sweep = sweeps.start_subsample_study(project)
        else:
            sweep = sweeps.start_search(project, n_trials=args.trials, search=SPACE)
        timings = run_sweep(sweep, args.budget_min * 60)
    sweep.refresh_from_db()
    report = summary(sweep, timings)
    out = Path(__file__).resolve().parent / "out" / f"sweep_demo{'_subsample' if args.subsample else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))


def run_sweep(sweep: Sweep, budget_s: float) -> dict[int, float]:
    """Run the sweep's queued jobs one at a time, as one worker would; past the budget, cancel it."""
    started, timings = time.monotonic(), {}
    while True:
        job = sweep.jobs.filter(status=JobStatus.QUEUED).order_by("pk").first()
        if job is None:
            return timings
        if job.kind == JobKind.SWEEP_TRIAL and time.monotonic() - started > budget_s:
            sweeps.cancel_sweep(sweep)
            return timings
        t0 = time.monotonic()
        jobs.run_job(job.pk, "bench")
        timings[job.pk] = round(time.monotonic() - t0, 1)
        print(f"job {job.pk} ({job.kind}) {Job.objects.get(pk=job.pk).status} in {timings[job.pk]} s", flush=True)


def summary(sweep: Sweep, timings: dict[int, float]) -> dict:
    trials = [{"number": t.number, "state": t.state, "params": t.params, "ap50": t.ap50, "ap75": t.ap75,
               "epochs_run": len(t.history), "seconds": timings.get(t.job_id)} for t in sweep.trials.order_by("number")]
    best = sweeps.best_trial(sweep)
    return {"status": sweep.status, "trials": trials, "best_trial": best.number if best else None,
            "result": sweep.result, "seconds": sum(timings.values()),
            "finished": sweep.status == SweepStatus.SUCCEEDED}


if __name__ == "__main__":
    main()
