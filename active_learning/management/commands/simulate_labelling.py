"""python manage.py simulate_labelling DATASET: does active learning beat random sampling?

    python manage.py simulate_labelling data/dsb2018_u2os --strategies random,combined,cellprob \\
        --rounds 4 --per-round 8 --seeds 2 --out bench/out/simulation --crop-size 128 --epochs 30

Runs the real labelling loop (see active_learning/simulation.py) for every strategy and seed on a
folder of images/<id>.png + masks/<id>.png, then writes DIR/simulation.csv (one row per round),
DIR/simulation.png (AP@0.5 against labelled cells and crops) and DIR/summary.txt, and prints for
each strategy the share of random sampling's labels it needs to reach random's final AP@0.5.
The simulation projects live in the configured database and are deleted afterwards (--keep keeps
them); point LABELSERVER_DATA_DIR at a scratch folder to keep them out of a shared database.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from active_learning import simulation
from active_learning.strategies import DEFAULT_STRATEGY, get_strategy
from labelserver.errors import DomainError

QUIET_LOGGERS = ("cellpose", "active_learning.jobs", "active_learning.scoring", "active_learning.queue")


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


class Command(BaseCommand):
    help = "Simulate labelling a labelled dataset with each strategy and compare AP against random sampling."
    requires_migrations_checks = True

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
                            help="scratch, pretrained:<name> or weights:<path> (the first model's start)")
        parser.add_argument("--random-fraction", type=float, default=0.1, help="the queue's random control share")
        parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (e.g. 1 on a shared CPU)")
        parser.add_argument("--keep", action="store_true", help="keep the simulation projects")
        parser.add_argument("--from-csv", type=Path, nargs="+",
                            help="simulate nothing: merge these result CSVs (runs split over several processes) "
                                 "and write the CSV, plot and summary to --out")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["from_csv"]:  # the CSVs do not record the crop size: name only the dataset
            title = options["dataset"].resolve().name
            results = [r for path in options["from_csv"] for r in simulation.read_csv(path)]
            return self._report(results, options["out"], title, 0.0)
        strategies = self._strategies(options["strategies"])
        self._check_counts(options)
        pairs = simulation.dataset_pairs(options["dataset"], options["max_images"])
        config = simulation.SimulationSettings(
            rounds=options["rounds"], per_round=options["per_round"], seed_crops=options["seed_crops"],
            crop_size=options["crop_size"], validation_fraction=options["validation_fraction"],
            random_fraction=options["random_fraction"], backend_settings=training_settings(options),
            keep=options["keep"],
        )
        self._quieten(options["verbosity"], options["torch_threads"])
        out: Path = options["out"]
        results: list[simulation.RoundResult] = []
        title = f"{options['dataset'].resolve().name}: {len(pairs)} images, {options['crop_size']} px crops"
        seeds = list(range(options["first_seed"], options["first_seed"] + options["seeds"]))

        def record(result: simulation.RoundResult) -> None:
            results.append(result)
            simulation.write_csv(results, out / simulation.CSV_NAME)
            self.stdout.write(self._round_line(result))
            self.stdout.flush()  # a round takes minutes: show it now, also in a log file

        started = time.perf_counter()
        try:
            simulation.simulate(pairs, strategies, seeds, config,
                                tag=time.strftime("%Y%m%d-%H%M%S"), on_round=record)
        except (simulation.SimulationError, DomainError) as exc:
            raise CommandError(str(exc)) from exc
        self._report(results, out, title, time.perf_counter() - started)

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
            import torch

            torch.set_num_threads(threads)

    def _round_line(self, r: simulation.RoundResult) -> str:
        if r.round == simulation.START_ROUND:
            return f"{r.strategy} seed {r.seed} start weights: AP@0.5 {r.ap50:.3f}, AP@0.75 {r.ap75:.3f}"
        verdict = "promoted" if r.promoted else "not promoted"
        return (f"{r.strategy} seed {r.seed} round {r.round}: {r.n_crops} crops, {r.n_cells} cells, "
                f"AP@0.5 {r.ap50:.3f}, AP@0.75 {r.ap75:.3f} ({verdict}; serving AP@0.5 {r.active_ap50:.3f}) "
                f"in {r.seconds:.0f} s")

    def _report(self, results: list[simulation.RoundResult], out: Path, title: str, seconds: float) -> None:
        if not results:
            raise CommandError("the simulation recorded no rounds")
        csv_path = simulation.write_csv(results, out / simulation.CSV_NAME)
        plot_path = simulation.plot(results, out / simulation.PLOT_NAME, title=title)
        lines = []
        for metric, what in simulation.METRICS.items():
            summaries = simulation.summarise(results, metric=metric)
            lines += [f"{what}:"] + ["  " + line for line in simulation.summary_lines(summaries)]
        (out / simulation.SUMMARY_NAME).write_text("\n".join(lines) + "\n")
        self.stdout.write(f"\nWrote {csv_path} and {plot_path}" + (f" ({seconds / 60:.1f} min)" if seconds else ""))
        for line in lines:
            self.stdout.write(line)
