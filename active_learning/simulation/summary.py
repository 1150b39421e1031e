"""Reading the rounds: mean curves over seeds, and each strategy against random sampling.

The headline number is a strategy's share of random's labels: the labelled crops it needs to
reach random's final AP@0.5, over those random itself needed to first reach it. Over several
seeds a paired bootstrap says how sure that share is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from active_learning.simulation.results import RoundResult


@dataclass(frozen=True)
class CurvePoint:
    round: int
    n_crops: float  # means over seeds
    n_cells: float
    ap50: float
    ap50_low: float  # spread over seeds (min, max)
    ap50_high: float
    ap75: float
    n_seeds: int


@dataclass(frozen=True)
class StrategySummary:
    strategy: str
    final_ap50: float
    # The labelled crops it needs to reach random's final AP@0.5, over those random itself needed
    # to first reach it (`share_of_random`); the same in labelled cells; None: not reached.
    crops_fraction: float | None
    cells_fraction: float | None
    worst_gap: float  # min over rounds of (AP@0.5 - random's AP@0.5) at the same round
    worst_gap_round: int
    crops_needed: float | None = None  # labelled crops (mean over seeds) it needed to reach random's final AP@0.5
    final_crops: float = 0.0  # labelled crops at its last round
    # How sure: a 90 % interval over seeds (paired bootstrap, see seed_intervals), when the
    # strategy and random share at least BOOTSTRAP_MIN_SEEDS seeds; inf: not reached.
    n_paired_seeds: int = 0
    crops_fraction_interval: tuple[float, float] | None = None
    final_gap_interval: tuple[float, float] | None = None  # final AP@0.5 - random's final AP@0.5


# What a curve follows: "ap50", each round's candidate (what the labels trained, promoted or not),
# or "active_ap50", the version serving after the round (what the product delivers through the
# promotion gate; it never falls).
METRICS = {"ap50": "candidate models", "active_ap50": "serving models (after the promotion gate)"}


def mean_curve(results: Iterable[RoundResult], strategy: str, metric: str = "ap50") -> list[CurvePoint]:
    """Per round, the mean over seeds; the curve's `ap50` is the `metric` (see METRICS)."""
    by_round: dict[int, list[RoundResult]] = {}
    for result in results:
        if result.strategy == strategy:
            by_round.setdefault(result.round, []).append(result)
    return [_point(number, rows, metric) for number, rows in sorted(by_round.items())]


def _point(number: int, rows: list[RoundResult], metric: str) -> CurvePoint:
    ap50 = np.array([getattr(r, metric) for r in rows])
    return CurvePoint(
        round=number, n_crops=float(np.mean([r.n_crops for r in rows])),
        n_cells=float(np.mean([r.n_cells for r in rows])), ap50=float(ap50.mean()), ap50_low=float(ap50.min()),
        ap50_high=float(ap50.max()), ap75=float(np.mean([r.ap75 for r in rows])), n_seeds=len(rows),
    )


def labels_to_reach(curve: Sequence[CurvePoint], target: float, key: str) -> float | None:
    """Labels (`key`: "n_crops" or "n_cells") at which the curve first reaches `target`,
    interpolated linearly between rounds; None when it never does."""
    for i, point in enumerate(curve):
        if point.ap50 >= target:
            if i == 0:
                return getattr(point, key)
            before = curve[i - 1]
            share = (target - before.ap50) / (point.ap50 - before.ap50)
            return getattr(before, key) + share * (getattr(point, key) - getattr(before, key))
    return None


def summarise(results: Sequence[RoundResult], baseline: str = "random", metric: str = "ap50") -> list[StrategySummary]:
    strategies = list(dict.fromkeys(r.strategy for r in results))
    reference = mean_curve(results, baseline, metric)
    summaries = []
    for strategy in strategies:
        curve = mean_curve(results, strategy, metric)
        summary = _summary(strategy, curve, reference)
        if strategy != baseline:
            summary = replace(summary, **seed_intervals(results, strategy, baseline, metric))
        summaries.append(summary)
    return summaries


# Seeds drawn with replacement to say how sure a summary is; below BOOTSTRAP_MIN_SEEDS an
# interval says nothing. The draws are seeded, so the same results always print the same interval.
BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_MIN_SEEDS = 3
INTERVAL = (0.05, 0.95)


def seed_intervals(results: Sequence[RoundResult], strategy: str, baseline: str = "random", metric: str = "ap50",
                   draws: int = BOOTSTRAP_DRAWS) -> dict[str, Any]:
    """A 90 % interval of `strategy`'s share of `baseline`'s labels and of its final gap to
    `baseline`, by a paired bootstrap over seeds: each draw takes the seeds both ran, with
    replacement, the same seeds for both (a seed's runs share their seed set and first model),
    and summarises the draw as `summarise` does. A draw that never reaches the baseline's final
    AP counts as an infinite share. {} when they share fewer than BOOTSTRAP_MIN_SEEDS seeds."""
    runs = _runs_by_seed(results, (strategy, baseline))
    ran = {name: {seed for run, seed in runs if run == name} for name in (strategy, baseline)}
    seeds = sorted(ran[strategy] & ran[baseline])
    if len(seeds) < BOOTSTRAP_MIN_SEEDS:
        return {}
    rng = np.random.default_rng(0)
    shares, gaps = [], []
    for _ in range(draws):
        drawn = rng.choice(seeds, len(seeds))
        reference = mean_curve([r for seed in drawn for r in runs[baseline, seed]], baseline, metric)
        curve = mean_curve([r for seed in drawn for r in runs[strategy, seed]], strategy, metric)
        summary = _summary(strategy, curve, reference)
        shares.append(np.inf if summary.crops_fraction is None else summary.crops_fraction)
        gaps.append(summary.final_ap50 - reference[-1].ap50)
    return {"n_paired_seeds": len(seeds), "crops_fraction_interval": _interval(shares),
            "final_gap_interval": _interval(gaps)}


def _runs_by_seed(results: Iterable[RoundResult],
                  strategies: Sequence[str]) -> dict[tuple[str, int], list[RoundResult]]:
    """The rounds of each (strategy, seed) run, for the `strategies` named."""
    runs: dict[tuple[str, int], list[RoundResult]] = {}
    for result in results:
        if result.strategy in strategies:
            runs.setdefault((result.strategy, result.seed), []).append(result)
    return runs


def _interval(values: list[float]) -> tuple[float, float]:
    """INTERVAL's quantiles as drawn values, taken outward: no interpolating, since a share may be inf."""
    low, high = INTERVAL
    return float(np.quantile(values, low, method="lower")), float(np.quantile(values, high, method="higher"))


def share_of_random(needed: float | None, random_needed: float | None) -> float | None:
    """The labels a strategy needed to reach random's final AP@0.5 over the labels random itself
    needed to first reach it (None: the strategy never did).

    Of random's first arrival, not of its whole budget: where random's curve stops climbing before
    the last round, the labels it got afterwards bought nothing, and a share of them would flatter
    every other strategy. Where random's labels never lifted it above its first point, both reach
    the target there and the share is 1: no label made a difference."""
    if needed is None or random_needed is None:
        return None
    if random_needed > 0:
        return needed / random_needed
    return 1.0 if needed <= 0 else None


def _summary(strategy: str, curve: list[CurvePoint], reference: list[CurvePoint]) -> StrategySummary:
    gaps = [(p.ap50 - r.ap50, p.round) for p, r in zip(curve, reference, strict=False) if p.round == r.round]
    worst = min(gaps) if gaps else (0.0, 0)
    needed: dict[str, float | None] = {"n_crops": None, "n_cells": None}
    fractions = dict(needed)
    if reference:
        target = reference[-1].ap50
        for key in needed:
            needed[key] = labels_to_reach(curve, target, key)
            fractions[key] = share_of_random(needed[key], labels_to_reach(reference, target, key))
    return StrategySummary(strategy, curve[-1].ap50 if curve else 0.0, fractions["n_crops"], fractions["n_cells"],
                           worst[0], worst[1], needed["n_crops"], curve[-1].n_crops if curve else 0.0)


def summary_lines(summaries: Sequence[StrategySummary], baseline: str = "random") -> list[str]:
    reference = next((s for s in summaries if s.strategy == baseline), None)
    if reference is None:
        return [f"{s.strategy}: final AP@0.5 {s.final_ap50:.3f} (no {baseline} run to compare with)" for s in summaries]
    width = max(len(s.strategy) for s in summaries)
    return [_summary_line(s, reference.final_ap50, width, s is reference) for s in summaries]


def _summary_line(s: StrategySummary, target: float, width: int, is_baseline: bool = False) -> str:
    if is_baseline:  # the reference (its share is 1 by definition): how soon its labels stopped paying
        return (f"{s.strategy:<{width}}  final AP@0.5 {s.final_ap50:.3f}; first reached with {s.crops_needed:.0f} "
                f"of its {s.final_crops:.0f} labelled crops (the other strategies' shares are of those)")
    if s.crops_fraction is None:
        reach = f"does not reach random's final AP@0.5 ({target:.3f}): not reached"
    else:
        cells = f"{s.cells_fraction:.0%}" if s.cells_fraction is not None else "not reached"
        reach = (f"reaches random's final AP@0.5 ({target:.3f}) with {s.crops_fraction:.0%} of random's labelled "
                 f"crops ({cells} of its cells)")
    line = (f"{s.strategy:<{width}}  final AP@0.5 {s.final_ap50:.3f}; {reach}; "
            f"worst gap to random {s.worst_gap:+.3f} (round {s.worst_gap_round})")
    if s.crops_fraction_interval is None or s.final_gap_interval is None:
        return line
    low, high = (f"{x:.0%}" if np.isfinite(x) else "not reached" for x in s.crops_fraction_interval)
    gap_low, gap_high = s.final_gap_interval
    return (f"{line}; 90% interval over {s.n_paired_seeds} seeds: share {low} to {high}, "
            f"final gap {gap_low:+.3f} to {gap_high:+.3f}")


def report_lines(results: Sequence[RoundResult]) -> list[str]:
    """The summary the command prints and writes: per metric, a heading and a line per strategy."""
    lines: list[str] = []
    for metric, what in METRICS.items():
        lines += [f"{what}:"] + ["  " + line for line in summary_lines(summarise(results, metric=metric))]
    return lines
