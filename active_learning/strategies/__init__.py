"""Scoring strategies, looked up by name (the value of `Project.strategy`)."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from active_learning.strategies.base import Calibration, Score, ScoringInput, Strategy
from labelserver.errors import DomainError

STRATEGIES: dict[str, str] = {
    "random": "active_learning.strategies.random.RandomStrategy",
    "cellprob": "active_learning.strategies.cellprob.CellprobStrategy",
    "flow_error": "active_learning.strategies.flow_error.FlowErrorStrategy",
    "missed_cells": "active_learning.strategies.missed_cells.MissedCellsStrategy",
    "tta": "active_learning.strategies.tta.TTAStrategy",
    "version_disagreement": "active_learning.strategies.version_disagreement.VersionDisagreementStrategy",
    "combined": "active_learning.strategies.combined.CombinedStrategy",
    "combined_tta": "active_learning.strategies.combined.CombinedTTAStrategy",
    "combined_fitted": "active_learning.strategies.combined.FittedCombinedStrategy",
}

# The fixed mix weighed by what its signals saw on the validation crops
# (docs/decisions/0004-combined-fitted-default.md).
DEFAULT_STRATEGY = "combined_fitted"


class UnknownStrategy(DomainError):
    code = "unknown_strategy"


@cache
def get_strategy(name: str) -> Strategy:
    try:
        dotted = STRATEGIES[name]
    except KeyError:
        raise UnknownStrategy(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)()


def scored_strategies(name: str) -> list[Strategy]:
    """The per-crop strategies whose scores ranking with `name` reads."""
    return [get_strategy(component) for component in get_strategy(name).components()]


__all__ = ["STRATEGIES", "DEFAULT_STRATEGY", "Calibration", "Score", "ScoringInput", "Strategy", "UnknownStrategy",
           "get_strategy", "scored_strategies"]
