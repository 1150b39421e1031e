"""The labelling simulation: the command end to end on a tiny budget, and how its results are read."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from PIL import Image
from scipy import ndimage

from active_learning.backends.settings import parse_backend_settings
from active_learning.management.commands import simulate_labelling
from active_learning.models import Job, ModelVersion
from active_learning.simulation.assist import editor_propose
from active_learning.simulation.dataset import dataset_pairs, validation_names
from active_learning.simulation.labeller import LABELLER
from active_learning.simulation.results import CSV_FIELDS, START_ROUND, RoundResult, read_csv, write_csv
from active_learning.simulation.run import start_result
from active_learning.simulation.summary import (
    RoundEffort,
    effort_lines,
    goal_text,
    labels_to_reach,
    mean_curve,
    round_efforts,
    summarise,
    summary_lines,
)
from annotations.leases import lease_crop
from annotations.models import Annotation, Crop, Project
from tests.factories import faint_cell, make_model_version, make_prediction, maps_of, true_mask

REPO = Path(__file__).resolve().parent.parent
U2OS = REPO / "data" / "dsb2018_u2os"
CROWDED = ("07fb37aafa66", "0ea221716cf1", "150b0ffa318c", "193ffaa5272d")  # 150-370 nuclei each
SIDE = 128  # 9-20 nuclei in each image's top-left corner


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    """Four shipped U2OS images cut to their top-left SIDE x SIDE, in the simulation's layout."""
    folder = tmp_path / "tiny"
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    for name in CROWDED:
        for sub in ("images", "masks"):
            pixels = np.array(Image.open(U2OS / sub / f"{name}.png"))[:SIDE, :SIDE]
            Image.fromarray(pixels).save(folder / sub / f"{name}.png")
    return folder


@pytest.fixture
def torch_threads_restored():
    """The command's --torch-threads changes the whole process: give other tests their threads back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _result(strategy: str, round_: int, ap50: float, seed: int = 0, crops: int = 0) -> RoundResult:
    n_crops = crops or 4 + 4 * round_
    return RoundResult(strategy, seed, round_, n_crops, 10 * n_crops, ap50, ap50 / 2, True, 1.0, ap50)


# --- reading results (fast) ------------------------------------------------------------------------------


def test_it_interpolates_the_labels_needed_to_reach_a_target():
    curve = mean_curve([_result("a", 0, 0.2), _result("a", 1, 0.4), _result("a", 2, 0.6)], "a")

    assert labels_to_reach(curve, 0.5, "n_crops") == pytest.approx(10.0)  # halfway from 8 to 12 crops
    assert labels_to_reach(curve, 0.1, "n_crops") == 4  # reached by the seed set
    assert labels_to_reach(curve, 0.7, "n_cells") is None


def test_it_compares_each_strategy_with_random_over_the_mean_of_seeds():
    results = [
        *(_result("random", r, ap, seed=0) for r, ap in enumerate((0.2, 0.3, 0.4, 0.5))),
        *(_result("random", r, ap, seed=1) for r, ap in enumerate((0.2, 0.3, 0.4, 0.5))),
        *(_result("smart", r, ap) for r, ap in enumerate((0.2, 0.5, 0.55, 0.6))),
        *(_result("poor", r, ap) for r, ap in enumerate((0.2, 0.25, 0.3, 0.35))),
    ]

    by_name = {s.strategy: s for s in summarise(results)}

    assert by_name["random"].crops_fraction == pytest.approx(1.0)
    assert by_name["smart"].crops_fraction == pytest.approx(8 / 16)  # 0.5 at round 1: 8 of random's 16 crops
    assert by_name["poor"].crops_fraction is None
    assert by_name["poor"].worst_gap == pytest.approx(-0.15) and by_name["poor"].worst_gap_round == 3
    lines = summary_lines(list(by_name.values()))
    assert any(line.startswith("smart") and "50% of random's labelled crops" in line for line in lines)
    assert any(line.startswith("poor") and "not reached" in line for line in lines)


def test_shares_are_of_the_labels_random_needed_not_of_the_labels_it_was_given():
    # Random stops climbing at round 1 (8 crops): its last 4 crops bought nothing. A strategy that
    # also reaches 0.5 at 8 crops needs as many labels as random did, not two thirds of its 12.
    plateau = [*(_result("random", r, ap) for r, ap in enumerate((0.2, 0.5, 0.5))),
               *(_result("same", r, ap) for r, ap in enumerate((0.2, 0.5, 0.6))),
               *(_result("slower", r, ap) for r, ap in enumerate((0.2, 0.35, 0.5)))]
    by_name = {s.strategy: s for s in summarise(plateau)}
    assert by_name["same"].crops_fraction == pytest.approx(1.0)
    assert by_name["slower"].crops_fraction == pytest.approx(1.5)  # 12 crops against random's 8
    assert by_name["random"].crops_needed == pytest.approx(8) and by_name["random"].final_crops == 12
    lines = {line.split()[0]: line for line in summary_lines(list(by_name.values()))}
    assert "first reached with 8 of its 12 labelled crops" in lines["random"]
    assert "with 100% of random's labelled crops" in lines["same"]

    # Random's labels never lift it above its first point: no label made a difference, whatever
    # the other strategy's curve does afterwards (a share of random's whole budget would say 25 %:
    # the seed set's 4 of 16).
    flat = [*(_result("random", r, 0.3) for r in range(4)), *(_result("other", r, ap) for r, ap in
                                                             enumerate((0.3, 0.6, 0.7, 0.7)))]
    assert summarise(flat)[1].crops_fraction == pytest.approx(1.0)
    # The same with start weights (round -1, no labels) that no fine-tune beat.
    start = [*(_result("random", r, 0.4) for r in range(START_ROUND, 2)),
             *(_result("other", r, ap) for r, ap in zip(range(START_ROUND, 2), (0.4, 0.5, 0.6), strict=True))]
    assert [p.n_crops for p in mean_curve(start, "random")] == [0, 4, 8]
    assert summarise(start)[1].crops_fraction == pytest.approx(1.0)


def test_it_says_how_sure_it_is_over_seeds_by_drawing_them_again():
    # Random climbs 0.2 -> 0.5 over 16 crops on every seed. "steady" reaches 0.5 at round 1 (8
    # crops) on every seed; "lucky" does so on one seed of four and on the others only at round 3.
    random_curve, fast, slow = (0.2, 0.3, 0.4, 0.5), (0.2, 0.5, 0.55, 0.6), (0.2, 0.25, 0.35, 0.5)
    results = [_result("random", r, ap, seed=seed) for seed in range(4) for r, ap in enumerate(random_curve)]
    results += [_result("steady", r, ap + (0.01 * seed if r == 3 else 0), seed=seed)  # ends 0.60 to 0.63
                for seed in range(4) for r, ap in enumerate(fast)]
    results += [_result("lucky", r, ap, seed=seed) for seed in range(4)
                for r, ap in enumerate(fast if seed == 0 else slow)]
    results += [_result("short", r, ap, seed=seed) for seed in range(2) for r, ap in enumerate(fast)]

    by_name = {s.strategy: s for s in summarise(results)}

    steady = by_name["steady"]
    assert steady.n_paired_seeds == 4
    assert steady.crops_fraction_interval == pytest.approx((0.5, 0.5))  # every draw: 8 of random's 16 crops
    low, high = steady.final_gap_interval  # means of 4 drawn seeds, each 0.10 to 0.13 ahead; the mean 0.115
    assert 0.1 <= low < 0.11 and 0.12 < high <= 0.13
    lucky = by_name["lucky"]
    assert lucky.crops_fraction < 1.0  # its mean reaches 0.5 at round 3 only, but sooner than random's
    assert lucky.crops_fraction_interval[0] < lucky.crops_fraction < lucky.crops_fraction_interval[1]
    assert lucky.crops_fraction_interval[1] == 1.0  # a draw of only slow seeds needs all of random's crops
    assert by_name["random"].crops_fraction_interval is None
    short = by_name["short"]  # two seeds say nothing of the spread
    assert short.n_paired_seeds == 0 and short.crops_fraction_interval is None
    lines = {line.split()[0]: line for line in summary_lines(list(by_name.values()))}
    assert f"90% interval over 4 seeds: share 50% to 50%, final gap {low:+.3f} to {high:+.3f}" in lines["steady"]
    assert "interval" not in lines["short"] and "interval" not in lines["random"]


def test_the_serving_curve_keeps_the_best_promoted_version():
    """A candidate worse than the serving version is not promoted: the candidate curve falls, the
    serving curve (what labellers and users get) does not."""
    rows = [_result("random", r, ap) for r, ap in enumerate((0.5, 0.6, 0.4))]
    rows = [RoundResult(**{**vars(r), "active_ap50": max(x.ap50 for x in rows[: i + 1])}) for i, r in enumerate(rows)]

    assert [p.ap50 for p in mean_curve(rows, "random")] == [0.5, 0.6, 0.4]
    assert [p.ap50 for p in mean_curve(rows, "random", "active_ap50")] == [0.5, 0.6, 0.6]
    assert summarise(rows, metric="active_ap50")[0].final_ap50 == 0.6


def _effort_result(strategy: str, round_: int, ap50: float, cells: int, actions: int, assisted: int,
                   so_far: tuple[int, int], seed: int = 0) -> RoundResult:
    """A round with `actions` (and as many clicks, times 5 for those without the tools)."""
    return replace(_result(strategy, round_, ap50, seed=seed), round_crops=4, round_cells=cells, round_actions=actions,
                   round_actions_assisted=assisted, n_actions=so_far[0], n_actions_assisted=so_far[1],
                   round_clicks=5 * actions, round_clicks_assisted=assisted)


def _effort_runs() -> list[RoundResult]:
    """Random and "smart" reach the same AP with the same crops, but smart's picks take more
    actions to correct (it picks where the model is wrong): 40 actions a round against 20."""
    runs = []
    for strategy, per_round in (("random", 20), ("smart", 40)):
        for r, ap in enumerate((0.2, 0.3, 0.4, 0.5)):
            runs.append(_effort_result(strategy, r, ap, cells=100, actions=per_round, assisted=per_round // 4,
                                       so_far=(per_round * (r + 1), per_round // 4 * (r + 1))))
    return runs


def test_it_compares_strategies_by_the_actions_to_reach_randoms_final_ap_as_well_as_by_crops():
    by_name = {s.strategy: s for s in summarise(_effort_runs())}

    assert by_name["smart"].crops_fraction == pytest.approx(1.0)
    assert by_name["smart"].actions_fraction == pytest.approx(2.0)  # 160 actions against random's 80
    assert by_name["smart"].actions_assisted_fraction == pytest.approx(2.0)  # 40 against 20
    line = next(line for line in summary_lines(list(by_name.values())) if line.startswith("smart"))
    assert "200% of its actions without the assisted tools, 200% with them" in line
    # Rows from before the effort columns: no share of actions, and no effort lines.
    old = summarise([_result(name, r, 0.2 + 0.1 * r) for name in ("random", "smart") for r in range(3)])
    assert old[1].actions_fraction is None and effort_lines([_result("random", 0, 0.2)]) == []


def test_it_reports_actions_per_cell_per_round_and_the_goal_with_the_assisted_tools():
    runs = _effort_runs() + [replace(r, seed=1) for r in _effort_runs()]

    efforts = round_efforts(runs, "random")
    lines = effort_lines(runs)

    assert [(e.round, e.crops, e.cells, e.actions, e.actions_assisted) for e in efforts][3] == (3, 8, 200, 40, 10)
    assert efforts[3].per_cell == pytest.approx(0.2) and efforts[3].assisted_per_cell == pytest.approx(0.05)
    assert ("  random round 3: 8 crops, 200 cells; actions per cell 0.200 -> 0.050 (25%), per crop 5.0 -> 1.2; "
            "in clicks per cell 1.000 -> 0.050 (5%)") in lines
    assert ("  random: goal at round 3: in actions 0.050 per cell with the tools (<= 0.2: met), 25% of those "
            "without (<= 50%: met); in clicks 0.050 per cell with the tools (<= 0.2: met), 5% of those without "
            "(<= 50%: met)") in lines
    assert "not measured" in goal_text(efforts[:2])
    assert "in actions 0.300 per cell with the tools (<= 0.2: not met), 75% of those without (<= 50%: not met)" \
        in goal_text([RoundEffort(3, 4, 100, 40, 30)])


def test_a_csv_from_before_the_effort_columns_reads_as_no_effort(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("strategy,seed,round,n_crops,n_cells,ap50,ap75,promoted,seconds,active_ap50\n"
                    "random,0,1,8,80,0.5000,0.2500,1,3.0,0.5000\n")

    assert read_csv(path) == [RoundResult("random", 0, 1, 8, 80, 0.5, 0.25, True, 3.0, 0.5)]
    assert read_csv(write_csv(_effort_runs(), tmp_path / "new.csv")) == _effort_runs()


def test_the_labeller_asks_the_editors_proposals_and_keeps_the_overlap_rule(project, labeller, crop):
    lease_crop(crop=crop, user=labeller)
    truth = true_mask(crop)
    faint = faint_cell(truth)
    served = np.where(truth == faint, 0, truth).astype(np.uint16)  # the model missed one cell
    prediction = make_prediction(crop, make_model_version(project, 3), served)
    prediction.maps = maps_of(truth, faint)
    prediction.save()
    propose = editor_propose(crop=crop, user=labeller, served=served)

    added = propose(innermost(truth == faint), 0)  # click to add, from the stored flows
    assert added is not None and not (added & (served > 0)).any()  # only pixels no cell holds
    assert np.count_nonzero(added & (truth == faint)) / np.count_nonzero(added | (truth == faint)) > 0.8
    other = int(served[innermost(served > 0)])
    redo = propose(innermost(served == other), other)  # a redo of a served cell keeps the others' pixels
    assert redo is None or not (redo & (served > 0) & (served != other)).any()


def innermost(cell: np.ndarray) -> tuple[int, int]:
    row, col = np.unravel_index(np.argmax(ndimage.distance_transform_edt(cell)), cell.shape)
    return int(row), int(col)


@pytest.mark.django_db
def test_start_weights_are_the_curves_first_point_with_no_labels(project):
    ModelVersion.objects.create(project=project, number=2, origin="trained", metrics={"ap50": 0.6, "ap75": 0.4})
    assert start_result(project, "random", 3) is None  # a project that started from scratch

    ModelVersion.objects.create(project=project, number=1, origin="start:weights:/models/base.pth",
                                metrics={"ap50": 0.35, "ap75": 0.19})
    start = start_result(project, "random", 3)

    assert start == RoundResult("random", 3, START_ROUND, 0, 0, 0.35, 0.19, True, 0.0, 0.35)
    curve = mean_curve([start, _result("random", 0, 0.6, seed=3)], "random")
    assert [(p.round, p.n_crops, p.ap50) for p in curve] == [(START_ROUND, 0, 0.35), (0, 4, 0.6)]
    assert labels_to_reach(curve, 0.3, "n_crops") == 0  # the start weights reach it without a label


def test_it_holds_out_images_by_content_hash_whatever_the_order(tiny_dataset):
    pairs = dataset_pairs(tiny_dataset)

    held_out = validation_names(pairs, 0.25)

    assert len(pairs) == 4 and len(held_out) == 1
    assert validation_names(list(reversed(pairs)), 0.25) == held_out
    assert len(validation_names(pairs, 0.9)) == 3  # one image always stays for training


def test_training_options_become_the_projects_backend_settings():
    parser = simulate_labelling.Command().create_parser("manage.py", "simulate_labelling")
    arguments = ["pool", "--epochs", "24", "--learning-rate", "0.0005", "--average-last-share", "0"]
    options = vars(parser.parse_args(arguments))

    backend_settings = simulate_labelling.training_settings(options)

    train = {"n_epochs": 24, "learning_rate": 0.0005, "average_last_share": 0.0}
    assert backend_settings == {"start_from": "scratch", "train": train}
    assert parse_backend_settings(backend_settings).train.average_last_share == 0.0


# --- the command's database -----------------------------------------------------------------------------


def _simulate_in(data_dir: Path, *arguments: str) -> subprocess.CompletedProcess:
    """The command in a process of its own, on the database of `data_dir` (not the test database)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST") and k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "MEDIA_ROOT")}
    env |= {"DEBUG": "1", "LABELSERVER_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "manage.py", "simulate_labelling", *arguments], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_it_migrates_a_new_database_and_names_migrate_for_one_behind_the_code(tiny_dataset, tmp_path):
    data = tmp_path / "data"
    # Seed crops it cannot draw: the run stops once the images are in, before any training.
    arguments = (str(tiny_dataset), "--crop-size", "64", "--seed-crops", "1000")

    fresh = _simulate_in(data, *arguments)

    assert "Migrating the new database" in fresh.stdout
    assert fresh.returncode == 1 and "cannot draw 1000 seed crops" in fresh.stderr, fresh.stderr
    db = sqlite3.connect(data / "db.sqlite3")
    assert db.execute("SELECT count(*) FROM annotations_project").fetchone() == (0,)  # ingested, then discarded

    # A database with data that lags the code: migrating it is the operator's call, not a benchmark's.
    newest = db.execute("SELECT max(name) FROM django_migrations WHERE app = 'annotations'").fetchone()[0]
    db.execute("DELETE FROM django_migrations WHERE app = 'annotations' AND name = ?", (newest,))
    db.commit()
    behind = _simulate_in(data, *arguments)

    assert behind.returncode == 1 and "Migrating" not in behind.stdout
    assert f"lacks 1 migration(s) (annotations.{newest})" in behind.stderr
    assert "run `python manage.py migrate` first" in behind.stderr
    assert db.execute("SELECT count(*) FROM django_migrations WHERE name = ?", (newest,)).fetchone() == (0,)
    db.close()


# --- the command, end to end (slow) ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_command_simulates_labelling_and_cleans_up(tiny_dataset, tmp_path, torch_threads_restored):
    out, stdout = tmp_path / "out", StringIO()

    # The budget: 64-px crops (four per image: each predicted as one small tile), and trainings of
    # three epochs of one step (without --crops-per-epoch, up to 32 crops are drawn per epoch).
    call_command(
        "simulate_labelling", str(tiny_dataset), "--strategies", "random,combined", "--rounds", "2",
        "--per-round", "2", "--seeds", "1", "--seed-crops", "2", "--crop-size", "64", "--epochs", "3",
        "--crops-per-epoch", "2", "--batch-size", "2", "--train-tile", "64", "--torch-threads", "1",
        "--out", str(out), stdout=stdout,
    )

    with open(out / "simulation.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_FIELDS
    assert [(r["strategy"], r["seed"], r["round"], r["n_crops"]) for r in rows] == [
        (strategy, "0", str(n), str(2 + 2 * n)) for strategy in ("random", "combined") for n in range(3)
    ]
    assert all(0.0 <= float(r["ap50"]) <= 1.0 and 0.0 <= float(r["ap75"]) <= 1.0 for r in rows)
    assert rows[0]["promoted"] == "1"  # the first model is always promoted
    # The same seed set and a deterministic training: both strategies start from the same model.
    assert rows[0]["ap50"] == rows[3]["ap50"] and rows[0]["n_cells"] == rows[3]["n_cells"]
    assert (out / "simulation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = stdout.getvalue()
    assert "random  " in printed and "combined" in printed and "random's final AP@0.5" in printed
    # Each round's labels were corrected from what it was served: the seed set (no model yet) by
    # drawing every cell, later rounds from the served prediction, with no more actions with the tools.
    assert [int(r["round_crops"]) for r in rows] == [2, 2, 2] * 2
    assert all(int(r["round_actions_assisted"]) <= int(r["round_actions"]) for r in rows)
    assert rows[0]["round_actions"] == rows[0]["round_cells"] == rows[3]["round_actions"]
    assert int(rows[2]["n_actions"]) == sum(int(r["round_actions"]) for r in rows[:3])
    summary = (out / "summary.txt").read_text()
    # A heading and a line per strategy, for candidate and serving models; then the effort: a
    # heading, per strategy its 3 rounds and the goal.
    assert summary.count("\n") == 6 + 1 + 2 * 4
    assert "labelling effort" in summary and "goal at round 3: not measured" in summary
    assert "candidate models:" in summary and "serving models (after the promotion gate):" in summary
    # Nothing is left behind: projects, rows, users and files.
    assert not Project.objects.exists() and not Crop.objects.exists() and not Annotation.objects.exists()
    assert not Job.objects.exists() and not ModelVersion.objects.exists()
    assert not get_user_model().objects.filter(username=LABELLER).exists()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
