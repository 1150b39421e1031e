"""What a sweep searches: training settings as Optuna distributions, and a trial's choices turned
back into a project's backend settings. No Django here; each setting is validated by the backend's
own settings parser (active_learning.backends.settings), so a sweep can never try, or hand an
admin, settings that the settings API would refuse.

A search space is JSON, one entry per parameter, each optional (the defaults are DEFAULT_SPACE)::

    {"learning_rate": {"low": 0.0001, "high": 0.01, "log": true},   # a range (ints may take "step")
     "batch_size": {"choices": [2, 4, 8]},                           # a list of values
     "train_tile": {"fixed": 112},                                   # one value, not searched
     "rescale": null}                                                # the project's own setting

`start_from` takes the backend's start points ("scratch", "pretrained:<name>", "weights:<sha256>")
and "active": fine-tune the project's active version, as an ordinary training does.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from active_learning.backends.settings import BackendSettingsError, parse_backend_settings
from labelserver.errors import DomainError

START_ACTIVE = "active"


@dataclass(frozen=True)
class Parameter:
    path: tuple[str, ...]  # where it lives in the backend settings JSON
    type: type


PARAMETERS: dict[str, Parameter] = {
    "learning_rate": Parameter(("train", "learning_rate"), float),
    "n_epochs": Parameter(("train", "n_epochs"), int),
    "batch_size": Parameter(("train", "batch_size"), int),
    "train_tile": Parameter(("train", "train_tile"), int),
    "average_last_share": Parameter(("train", "average_last_share"), float),
    # The one augmentation the backend exposes: rescale crops so cells are ~30 px while training
    # (Cellpose's random flips, rotations and its scale jitter around that are always on).
    "rescale": Parameter(("train", "rescale"), bool),
    "start_from": Parameter(("start_from",), str),
}

# A CPU-sized default: ranges around the settings the decision records measured (docs/decisions/),
# training tile and augmentation left as the project has them (224-px tiles cost ~3.6x more per
# step on a CPU; add {"train_tile": {"choices": [112, 224]}} on a GPU).
DEFAULT_SPACE: dict[str, Any] = {
    "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
    "n_epochs": {"low": 10, "high": 60, "step": 10},
    "batch_size": {"choices": [2, 4, 8]},
    "train_tile": None,
    "average_last_share": {"low": 0.0, "high": 0.75},
    "rescale": None,
    "start_from": None,
}


class SearchSpaceError(DomainError):
    code = "bad_search_space"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid search space: " + "; ".join(problems))


def merged_space(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The default space with an admin's overrides; an unknown parameter is refused, naming the known."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(PARAMETERS))
    if unknown:
        raise SearchSpaceError([f"{name} is not a searchable setting (known: {', '.join(PARAMETERS)})"
                                for name in unknown])
    return {**DEFAULT_SPACE, **overrides}


def distributions(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Optuna's distributions of the searched parameters (fixed and project-set ones are left out)."""
    found: dict[str, BaseDistribution] = {}
    for name, spec in space.items():
        if spec is None or "fixed" in spec:
            continue
        if "choices" in spec:
            found[name] = CategoricalDistribution(list(spec["choices"]))
        elif PARAMETERS[name].type is int:
            found[name] = IntDistribution(int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)),
                                          step=int(spec.get("step", 1)))
        else:
            found[name] = FloatDistribution(float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)),
                                            step=spec.get("step"))
    return found


def fixed_values(space: Mapping[str, Any]) -> dict[str, Any]:
    return {name: spec["fixed"] for name, spec in space.items() if spec is not None and "fixed" in spec}


def trial_settings(base: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(the backend settings a trial trains with, its start point): the project's settings with the
    trial's values put in. The start point "active" leaves `start_from` as the project has it."""
    settings = copy.deepcopy(dict(base))
    start = values.get("start_from")
    for name, value in values.items():
        if name == "start_from" and value == START_ACTIVE:
            continue
        *parents, leaf = PARAMETERS[name].path
        section = settings
        for part in parents:
            if not isinstance(section.get(part), dict):
                section[part] = {}  # absent, or `"train": null` (the defaults)
            section = section[part]
        section[leaf] = value
    return settings, start


def check_space(space: Mapping[str, Any], base: Mapping[str, Any], model_channels: list[int] | None,
                *, has_active: bool) -> list[str]:
    """Every problem of a merged space at once: shapes, and each value it can take (range ends,
    choices, the fixed value) as the backend settings parser sees it."""
    problems: list[str] = []
    for name, spec in space.items():
        shape = _shape_problem(name, spec)
        if shape:
            problems.append(shape)
            continue
        for value in _values_to_check(name, spec):
            problems += _value_problems(name, value, base, model_channels, has_active=has_active)
    return list(dict.fromkeys(problems))


def _shape_problem(name: str, spec: Any) -> str | None:
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        return f"{name} must be an object ({{low, high}}, {{choices}} or {{fixed}}) or null"
    keys = set(spec)
    if keys == {"fixed"}:
        return None
    if keys == {"choices"}:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            return f"{name}.choices must be a non-empty list"
        return None
    if not keys >= {"low", "high"} or not keys <= {"low", "high", "log", "step"}:
        return f"{name} must have low and high (and optionally log, step), choices, or fixed (got {sorted(keys)})"
    return _range_problem(name, spec)


def _range_problem(name: str, spec: Mapping[str, Any]) -> str | None:
    if PARAMETERS[name].type not in (int, float):
        return f"{name} is not a number: give it choices or a fixed value"
    low, high = spec["low"], spec["high"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
        return f"{name}.low and {name}.high must be numbers"
    if low >= high:
        return f"{name}.low must be below {name}.high (got {low} and {high})"
    step, log = spec.get("step"), spec.get("log", False)
    if not isinstance(log, bool):
        return f"{name}.log must be true or false"
    if step is not None and (isinstance(step, bool) or not isinstance(step, int | float) or not 0 < step <= high - low
                             or (PARAMETERS[name].type is int and not float(step).is_integer())):
        return f"{name}.step must be a positive {'whole ' if PARAMETERS[name].type is int else ''}number " \
               f"no larger than high - low"
    if spec.get("log") and low <= 0:
        return f"{name}.low must be above 0 on a log scale (got {low})"
    if spec.get("log") and spec.get("step") is not None:
        return f"{name} cannot have both a step and a log scale"
    return None


def _values_to_check(name: str, spec: Any) -> list[Any]:
    if spec is None:
        return []
    if "fixed" in spec:
        return [spec["fixed"]]
    if "choices" in spec:
        return list(spec["choices"])
    return [spec["low"], spec["high"]]


def _value_problems(name: str, value: Any, base: Mapping[str, Any], model_channels: list[int] | None,
                    *, has_active: bool) -> list[str]:
    if name == "start_from" and value == START_ACTIVE:
        return [] if has_active else ["start_from 'active' needs an active model version: train or upload one first"]
    if PARAMETERS[name].type is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    settings, _ = trial_settings(base, {name: value})
    try:
        parse_backend_settings(settings, model_channels=model_channels)
    except BackendSettingsError as exc:
        return [problem for problem in exc.problems if problem.startswith(".".join(PARAMETERS[name].path))] or \
            exc.problems
    return []
