"""One row per simulated round, and the CSV that holds them (written as rounds end, merged later)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

# The round of the start weights (before any label), in runs that start from trained weights.
START_ROUND = -1


@dataclass(frozen=True)
class RoundResult:
    strategy: str
    seed: int
    round: int
    n_crops: int  # labelled train crops the candidate trained on
    n_cells: int  # cells in them
    ap50: float  # the candidate's AP on the validation crops, promoted or not
    ap75: float
    promoted: bool
    seconds: float  # wall time of the round: labelling, training, evaluation, prediction, ranking
    active_ap50: float  # AP@0.5 of the version serving after the round
    # Effort (active_learning.effort): the round's labelled crops, their true cells and the
    # actions to correct what each was served, without and with the assisted tools; the same
    # actions summed over this and every earlier round of the run (the seed set's included); and
    # the round's actions in clicks.
    round_crops: int = 0
    round_cells: int = 0
    round_actions: int = 0
    round_actions_assisted: int = 0
    n_actions: int = 0
    n_actions_assisted: int = 0
    round_clicks: int = 0  # the round's actions in clicks (a redraw: its outline's clicks), without the tools
    round_clicks_assisted: int = 0  # ... and with them


CSV_FIELDS = [f.name for f in fields(RoundResult)]


def write_csv(results: Iterable[RoundResult], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerow({**asdict(result), "ap50": f"{result.ap50:.4f}", "ap75": f"{result.ap75:.4f}",
                             "active_ap50": f"{result.active_ap50:.4f}", "promoted": int(result.promoted)})
    return path


def read_csv(path: Path) -> list[RoundResult]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    casts: dict[str, Callable[[str], Any]] = {
        "strategy": str, "seed": int, "round": int, "n_crops": int, "n_cells": int, "ap50": float, "ap75": float,
        "promoted": lambda v: v in ("1", "True", "true"), "seconds": float, "active_ap50": float,
    }
    # The effort columns came later: a CSV without them reads as no effort recorded (zeros).
    return [RoundResult(**{k: casts.get(k, int)(row[k]) for k in CSV_FIELDS if row.get(k) not in (None, "")})
            for row in rows]
