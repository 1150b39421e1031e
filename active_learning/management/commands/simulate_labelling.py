"""python manage.py simulate_labelling DATASET: does active learning beat random sampling?

    python manage.py simulate_labelling data/dsb2018_u2os --strategies random,combined,cellprob \\
        --rounds 4 --per-round 8 --seeds 2 --out bench/out/simulation --crop-size 128 --epochs 30

Runs the real labelling loop (the active_learning.simulation package) for every strategy and
seed on a folder of images/<id>.png + masks/<id>.png, then writes DIR/simulation.csv (one row per round),
DIR/simulation.png (AP@0.5 against labelled cells and crops) and DIR/summary.txt, and prints for
each strategy the share of random sampling's labels it needs to reach random's final AP@0.5,
in crops, cells and labelling actions, and per round the actions a labeller needs to correct
what it was served, without and with the assisted tools (active_learning.effort; --no-assist
counts them without the tools only, and asks for no proposal).
The simulation projects live in the configured database and are deleted afterwards (--keep keeps
them); point LABELSERVER_DATA_DIR at a scratch folder to keep them out of a shared database.
A fresh database (a new scratch folder) is migrated first; one behind the code is left to
`python manage.py migrate`, which the command names.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from active_learning.backends.threads import set_cpu_threads
from active_learning.simulation import SimulationError
from active_learning.simulation.dataset import Pair, dataset_pairs
from active_learning.simulation.plot import plot
from active_learning.simulation.results import START_ROUND, RoundResult, read_csv, write_csv
from active_learning.simulation.run import SimulationSettings, simulate
from active_learning.simulation.summary import report_lines
from active_learning.strategies import DEFAULT_STRATEGY, get_strategy
from labelserver.errors import DomainError

QUIET_LOGGERS = ("cellpose", "active_learning.jobs", "active_learning.scoring", "active_learning.queue")
# What the command writes into --out.
CSV_NAME = "simulation.csv"
PLOT_NAME = "simulation.png"
SUMMARY_NAME = "summary.txt"


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def training_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Project.backend_settings from the options; unset options keep the backend's defaults."""
    train = {
        key: options[option]
        for key, option in (("n_epochs", "epochs"), ("batch_size", "batch_size"), ("train_tile", "train_tile"),
                            ("crops_per_epoch", "crops_per_epoch"), ("learning_rate", "learning_rate"),
                            ("average_last_share", "average_last_share"))
        if options[option] is not None
    }
    return {"start_from": options["start_from"], "train": train}


def simulation_settings(options: dict[str, Any]) -> SimulationSettings:
    return SimulationSettings(
        rounds=options["rounds"], per_round=options["per_round"], seed_crops=options["seed_crops"],
        crop_size=options["crop_size"], validation_fraction=options["validation_fraction"],
        random_fraction=options["random_fraction"], backend_settings=training_settings(options), keep=options["keep"],
        assist=not options["no_assist"],
    )


class Command(BaseCommand):
    help = "Simulate labelling a labelled dataset with each strategy and compare AP against random sampling."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", type=Path, help="folder with images/<id>.png and masks/<id>.png")
        parser.add_argument("--strategies", type=_names, default=["random", DEFAULT_STRATEGY],
                            help=f"comma-separated strategy names (default: random,{DEFAULT_STRATEGY})")
        parser.add_argument("--rounds", type=int, default=4, help="labelling rounds after the seed round")
        parser.add_argument("--per-round", type=int, default=8, help="crops labelled per round")
        parser.add_argument("--seeds", type=int, default=1, help="how many seeds (seed set, network init)")
        parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one up (default 0)")
        parser.add_argument("--out", type=Path, default=Path("bench/out/simulation"), help="output folder")
        parser.add_argument("--seed-crops", type=int, default=8, help="labelled train crops before round 1")
        parser.add_argument("--crop-size", type=int, default=256)
        parser.add_argument("--validation-fraction", type=float, default=0.25,
                            help="share of images held out, with their labels, for evaluation")
        parser.add_argument("--max-images", type=int, help="use only the first N images (by name)")
        parser.add_argument("--epochs", type=int, help="train.n_epochs per training (default: the backend's)")
        parser.add_argument("--crops-per-epoch", type=int,
                            help="train.crops_per_epoch (default: every labelled crop once per epoch, so the "
                                 "training steps grow with the labelled set)")
        parser.add_argument("--batch-size", type=int, help="train.batch_size")
        parser.add_argument("--train-tile", type=int, help="train.train_tile (px)")
        parser.add_argument("--learning-rate", type=float, help="train.learning_rate")
        parser.add_argument("--average-last-share", type=float,
                            help="train.average_last_share (0 = no weight averaging)")
        parser.add_argument("--start-from", default="scratch",
                            help="scratch, pretrained:<name> or weights:<path> (the first model's start; a "
                                 "file on this machine, uploaded to each simulation project)")
        parser.add_argument("--random-fraction", type=float, default=0.1, help="the queue's random control share")
        parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (e.g. 1 on a shared CPU)")
        parser.add_argument("--keep", action="store_true", help="keep the simulation projects")
        parser.add_argument("--no-assist", action="store_true",
                            help="count the labelling actions without the assisted tools only (asks for no proposal)")
        parser.add_argument("--from-csv", type=Path, nargs="+",
                            help="simulate nothing: merge these result CSVs (runs split over several processes) "
                                 "and write the CSV, plot and summary to --out")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["from_csv"]:  # the CSVs do not record the crop size: name only the dataset
            title = options["dataset"].resolve().name
            results = [r for path in options["from_csv"] for r in read_csv(path)]
            return self._report(results, options["out"], title, 0.0)
        strategies = self._strategies(options["strategies"])
        self._check_counts(options)
        try:
            pairs = dataset_pairs(options["dataset"], options["max_images"])
        except SimulationError as exc:
            raise CommandError(str(exc)) from exc
        self._migrate_a_fresh_database()
        self._quieten(options["verbosity"], options["torch_threads"])
        title = f"{options['dataset'].resolve().name}: {len(pairs)} images, {options['crop_size']} px crops"
        started = time.perf_counter()
        results = self._simulate(pairs, strategies, options)
        self._report(results, options["out"], title, time.perf_counter() - started)

    def _simulate(self, pairs: list[Pair], strategies: list[str], options: dict[str, Any]) -> list[RoundResult]:
        """Every strategy at every seed; each round is printed and the CSV rewritten as it ends, so
        a cut-off run keeps what it measured."""
        out: Path = options["out"]
        results: list[RoundResult] = []
        seeds = list(range(options["first_seed"], options["first_seed"] + options["seeds"]))

        def record(result: RoundResult) -> None:
            results.append(result)
            write_csv(results, out / CSV_NAME)
            self.stdout.write(self._round_line(result))
            self.stdout.flush()  # a round takes minutes: show it now, also in a log file

        try:
            simulate(pairs, strategies, seeds, simulation_settings(options), tag=time.strftime("%Y%m%d-%H%M%S"),
                     on_round=record)
        except (SimulationError, DomainError) as exc:
            raise CommandError(str(exc)) from exc
        return results

    def _strategies(self, names: list[str]) -> list[str]:
        try:
            for name in names:
                get_strategy(name)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        if not names:
            raise CommandError("name at least one strategy in --strategies")
        return names

    def _check_counts(self, options: dict[str, Any]) -> None:
        for name in ("rounds", "seeds", "per_round", "seed_crops", "crop_size"):
            minimum = 0 if name == "rounds" else 1
            if options[name] < minimum:
                raise CommandError(f"--{name.replace('_', '-')} must be at least {minimum}")
        if not 0 < options["validation_fraction"] < 1:
            raise CommandError("--validation-fraction must lie between 0 and 1")

    def _quieten(self, verbosity: int, threads: int | None) -> None:
        if verbosity < 2:
            for name in QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
        if threads:
            set_cpu_threads(threads)

    def _migrate_a_fresh_database(self) -> None:
        """A database with no migration applied is new (a fresh LABELSERVER_DATA_DIR, as the docs
        advise for simulations): migrate it, as the user plainly means to use it. One that holds
        data but lags the code is the operator's to migrate, not a benchmark's: stop and say so."""
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not pending:
            return
        database = connection.settings_dict["NAME"]
        if executor.loader.applied_migrations:
            names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:3]) + (", ..." if len(pending) > 3 else "")
            raise CommandError(f"the database {database} lacks {len(pending)} migration(s) ({names}): "
                               "run `python manage.py migrate` first, with the same settings")
        self.stdout.write(f"Migrating the new database {database}")
        call_command("migrate", interactive=False, verbosity=0)

    def _round_line(self, r: RoundResult) -> str:
        if r.round == START_ROUND:
            return f"{r.strategy} seed {r.seed} start weights: AP@0.5 {r.ap50:.3f}, AP@0.75 {r.ap75:.3f}"
        verdict = "promoted" if r.promoted else "not promoted"
        return (f"{r.strategy} seed {r.seed} round {r.round}: {r.n_crops} crops, {r.n_cells} cells, "
                f"AP@0.5 {r.ap50:.3f}, AP@0.75 {r.ap75:.3f} ({verdict}; serving AP@0.5 {r.active_ap50:.3f}) "
                f"in {r.seconds:.0f} s{self._effort_text(r)}")

    @staticmethod
    def _effort_text(r: RoundResult) -> str:
        if not r.round_cells:
            return ""
        return (f"; {r.round_crops} crops labelled, actions per cell {r.round_actions / r.round_cells:.3f} "
                f"without the assisted tools, {r.round_actions_assisted / r.round_cells:.3f} with them "
                f"(in clicks {r.round_clicks / r.round_cells:.3f} and {r.round_clicks_assisted / r.round_cells:.3f})")

    def _report(self, results: list[RoundResult], out: Path, title: str, seconds: float) -> None:
        if not results:
            raise CommandError("the simulation recorded no rounds")
        csv_path = write_csv(results, out / CSV_NAME)
        plot_path = plot(results, out / PLOT_NAME, title=title)
        lines = report_lines(results)
        (out / SUMMARY_NAME).write_text("\n".join(lines) + "\n")
        self.stdout.write(f"\nWrote {csv_path} and {plot_path}" + (f" ({seconds / 60:.1f} min)" if seconds else ""))
        for line in lines:
            self.stdout.write(line)
