"""The learning curve as an inline SVG: geometry computed here, drawn by a template (no plotting
library in the browser, nothing fetched from another host)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 20, 16, 44


@dataclass(frozen=True)
class Tick:
    position: float  # SVG units along the axis
    label: str


@dataclass(frozen=True)
class CurvePoint:
    x: float
    y: float
    version: int
    cells: int
    ap50: float
    is_active: bool


@dataclass(frozen=True)
class LearningCurveChart:
    points: list[CurvePoint]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def nice_step(span: float, target_ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about `target_ticks` ticks."""
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _cells_label(n: float) -> str:
    return f"{n / 1000:g}k" if n >= 1000 else f"{n:g}"


def learning_curve_chart(curve: Sequence[dict[str, Any]], active_id: int | None = None) -> LearningCurveChart | None:
    """One point per evaluated model version: AP@0.5 (0..1, up) against labelled cells (right)."""
    entries = [e for e in curve if e.get("ap50") is not None]
    if not entries:
        return None
    step = nice_step(max(max(e["n_train_cells"] or 0 for e in entries), 1))
    x_max = step * max(1, math.ceil(max(e["n_train_cells"] or 0 for e in entries) / step))
    x_of = lambda cells: LEFT + (WIDTH - LEFT - RIGHT) * cells / x_max  # noqa: E731
    y_of = lambda ap: HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * ap  # noqa: E731
    points = [
        CurvePoint(x_of(e["n_train_cells"] or 0), y_of(float(e["ap50"])), e["number"], e["n_train_cells"] or 0,
                   float(e["ap50"]), e["id"] == active_id)
        for e in sorted(entries, key=lambda e: (e["n_train_cells"] or 0, e["number"]))
    ]
    x_ticks = [Tick(x_of(k * step), _cells_label(k * step)) for k in range(round(x_max / step) + 1)]
    y_ticks = [Tick(y_of(k / 5), f"{k / 5:.1f}") for k in range(6)]
    return LearningCurveChart(points, x_ticks, y_ticks)
