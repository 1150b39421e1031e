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
    n_actions: float = 0.0  # actions to correct the labelled crops so far, without the assisted tools
    n_actions_assisted: float = 0.0  # ... and with them (active_learning.effort)


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
    # The same share in labelling actions (active_learning.effort), without and with the assisted
    # tools (each against random's with the same tools); None: not reached, or no effort recorded.
    actions_fraction: float | None = None
    actions_assisted_fraction: float | None = None


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
        n_actions=float(np.mean([r.n_actions for r in rows])),
        n_actions_assisted=float(np.mean([r.n_actions_assisted for r in rows])),
    )


def labels_to_reach(curve: Sequence[CurvePoint], target: float, key: str) -> float | None:
    """Labels (`key`: "n_crops", "n_cells", "n_actions" or "n_actions_assisted") at which the
    curve first reaches `target`, interpolated linearly between rounds; None when it never does."""
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
    needed: dict[str, float | None] = {"n_crops": None, "n_cells": None, "n_actions": None, "n_actions_assisted": None}
    fractions = dict(needed)
    if reference:
        target = reference[-1].ap50
        for key in needed:
            needed[key] = labels_to_reach(curve, target, key)
            fractions[key] = share_of_random(needed[key], labels_to_reach(reference, target, key))
    return StrategySummary(strategy, curve[-1].ap50 if curve else 0.0, fractions["n_crops"], fractions["n_cells"],
                           worst[0], worst[1], needed["n_crops"], curve[-1].n_crops if curve else 0.0,
                           actions_fraction=_recorded(fractions["n_actions"], reference),
                           actions_assisted_fraction=_recorded(fractions["n_actions_assisted"], reference))


def _recorded(fraction: float | None, reference: list[CurvePoint]) -> float | None:
    """A share of actions, where the runs recorded any (CSVs from before the effort columns did not)."""
    return fraction if reference and reference[-1].n_actions > 0 else None


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
                 f"crops ({cells} of its cells{_actions_share(s)})")
    line = (f"{s.strategy:<{width}}  final AP@0.5 {s.final_ap50:.3f}; {reach}; "
            f"worst gap to random {s.worst_gap:+.3f} (round {s.worst_gap_round})")
    if s.crops_fraction_interval is None or s.final_gap_interval is None:
        return line
    low, high = (f"{x:.0%}" if np.isfinite(x) else "not reached" for x in s.crops_fraction_interval)
    gap_low, gap_high = s.final_gap_interval
    return (f"{line}; 90% interval over {s.n_paired_seeds} seeds: share {low} to {high}, "
            f"final gap {gap_low:+.3f} to {gap_high:+.3f}")


def _actions_share(s: StrategySummary) -> str:
    if s.actions_fraction is None and s.actions_assisted_fraction is None:
        return ""
    shares = [f"{x:.0%}" if x is not None else "not reached" for x in (s.actions_fraction, s.actions_assisted_fraction)]
    return f"; {shares[0]} of its actions without the assisted tools, {shares[1]} with them"


def report_lines(results: Sequence[RoundResult]) -> list[str]:
    """The summary the command prints and writes: per metric, a heading and a line per strategy;
    then, where the runs recorded it, the labelling effort per round."""
    lines: list[str] = []
    for metric, what in METRICS.items():
        lines += [f"{what}:"] + ["  " + line for line in summary_lines(summarise(results, metric=metric))]
    return lines + effort_lines(results)


# --- Effort: the actions to correct what the labeller was served ---------------------------------

# The labelling-effort goal: after GOAL_ROUND rounds of queue labels, at most GOAL_ACTIONS_PER_CELL
# actions per cell with the assisted tools, and at most GOAL_SHARE of the actions per cell of the
# same crops corrected without them.
GOAL_ROUND = 3
GOAL_ACTIONS_PER_CELL = 0.2
GOAL_SHARE = 0.5


@dataclass(frozen=True)
class RoundEffort:
    """A strategy's labels of one round, pooled over seeds."""

    round: int
    crops: int
    cells: int
    actions: int  # without the assisted tools
    actions_assisted: int
    clicks: int = 0  # the same actions in clicks (active_learning.effort)
    clicks_assisted: int = 0

    @property
    def per_cell(self) -> float | None:
        return _ratio(self.actions, self.cells)

    @property
    def assisted_per_cell(self) -> float | None:
        return _ratio(self.actions_assisted, self.cells)

    @property
    def assisted_share(self) -> float | None:
        """Actions with the tools over actions without them, on the same crops."""
        return _ratio(self.actions_assisted, self.actions)

    @property
    def clicks_per_cell(self) -> float | None:
        return _ratio(self.clicks, self.cells)

    @property
    def assisted_clicks_per_cell(self) -> float | None:
        return _ratio(self.clicks_assisted, self.cells)

    @property
    def assisted_clicks_share(self) -> float | None:
        return _ratio(self.clicks_assisted, self.clicks)


def _ratio(part: float, whole: float) -> float | None:
    """part / whole; None where there is no whole (no cells, no actions) to divide by."""
    return part / whole if whole else None


def round_efforts(results: Iterable[RoundResult], strategy: str) -> list[RoundEffort]:
    """Per round that labelled crops, the strategy's effort summed over seeds (so per cell is
    pooled: a seed weighs as much as the cells it labelled)."""
    totals: dict[int, list[int]] = {}
    for r in results:
        if r.strategy == strategy and r.round_crops:
            total = totals.setdefault(r.round, [0] * 6)
            values = (r.round_crops, r.round_cells, r.round_actions, r.round_actions_assisted, r.round_clicks,
                      r.round_clicks_assisted)
            for i, value in enumerate(values):
                total[i] += value
    return [RoundEffort(number, *total) for number, total in sorted(totals.items())]


def effort_lines(results: Sequence[RoundResult]) -> list[str]:
    """Actions per cell and per crop in each round, without and with the assisted tools, and the
    goal at GOAL_ROUND; nothing when the runs recorded no effort."""
    strategies = list(dict.fromkeys(r.strategy for r in results))
    efforts = {strategy: round_efforts(results, strategy) for strategy in strategies}
    if not any(efforts.values()):
        return []
    lines = ["labelling effort (actions to correct the served predictions; without -> with the assisted tools):"]
    for strategy, rounds in efforts.items():
        lines += [f"  {strategy} round {e.round}: {_effort_text(e)}" for e in rounds]
        lines += [f"  {strategy}: {goal_text(rounds)}"]
    return lines


def _effort_text(e: RoundEffort) -> str:
    per_crop = f"{e.actions / e.crops:.1f} -> {e.actions_assisted / e.crops:.1f}"
    if not e.cells:
        return f"{e.crops} crops, no cells"
    share = f" ({e.assisted_share:.0%})" if e.assisted_share is not None else ""
    clicks_share = f" ({e.assisted_clicks_share:.0%})" if e.assisted_clicks_share is not None else ""
    return (f"{e.crops} crops, {e.cells} cells; actions per cell {e.per_cell:.3f} -> {e.assisted_per_cell:.3f}"
            f"{share}, per crop {per_crop}; in clicks per cell {e.clicks_per_cell:.3f} -> "
            f"{e.assisted_clicks_per_cell:.3f}{clicks_share}")


def goal_text(rounds: Sequence[RoundEffort]) -> str:
    """Whether the round GOAL_ROUND labels meet the goal (GOAL_ACTIONS_PER_CELL and GOAL_SHARE),
    counted in actions and in clicks."""
    e = next((e for e in rounds if e.round == GOAL_ROUND), None)
    if e is None or e.assisted_per_cell is None:
        return f"goal at round {GOAL_ROUND}: not measured (no labelled cells in round {GOAL_ROUND})"
    return (f"goal at round {GOAL_ROUND}: in actions {_goal(e.assisted_per_cell, e.assisted_share)}; "
            f"in clicks {_goal(e.assisted_clicks_per_cell, e.assisted_clicks_share)}")


def _goal(per_cell: float | None, share: float | None) -> str:
    if per_cell is None:
        return "not measured"
    met = {True: "met", False: "not met"}
    share_text = f"{share:.0%}" if share is not None else "none without them either"
    share_met = share is not None and share <= GOAL_SHARE
    return (f"{per_cell:.3f} per cell with the tools (<= {GOAL_ACTIONS_PER_CELL}: "
            f"{met[per_cell <= GOAL_ACTIONS_PER_CELL]}), {share_text} of those without "
            f"(<= {GOAL_SHARE:.0%}: {met[share_met]})")
