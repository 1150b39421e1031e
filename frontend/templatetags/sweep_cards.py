"""The Overview's subsample-study card: what the newest study measured, its fitted learning
curve, and what the next labelled cells would buy, as an inline SVG drawn by its template."""

from __future__ import annotations

from typing import Any

from django import template

from active_learning import selectors
from active_learning.learning_curve import CurveFit
from annotations.models import Project
from frontend.charts import nice_step

register = template.Library()

WIDTH, HEIGHT = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 14, 12, 40
CURVE_SAMPLES = 40


@register.inclusion_tag("frontend/admin/subsample_card.html")
def subsample_card(project: Project) -> dict[str, Any]:
    done, running = selectors.latest_subsample_study(project.pk)
    result = done.result if done else {}
    return {"project": project, "study": done, "running": running, "result": result, "chart": _chart(result)}


def _chart(result: dict[str, Any]) -> dict[str, Any] | None:
    points = [p for p in result.get("points", []) if p.get("ap50") is not None]
    if not points:
        return None
    fit = CurveFit(**result["fit"]) if result.get("fit") else None
    n_now, n_next = result.get("n_cells", 0), result.get("n_cells", 0) + result.get("next_cells", 0)
    x_max = max([p["n_cells"] for p in points] + ([n_next] if fit else [])) * 1.05
    y_max = min(1.0, max([p["ap50"] for p in points] + ([fit.ap(n_next)] if fit else [])) + 0.05)
    x = lambda n: LEFT + n / x_max * (WIDTH - LEFT - RIGHT)  # noqa: E731
    y = lambda ap: HEIGHT - BOTTOM - max(0.0, ap) / y_max * (HEIGHT - TOP - BOTTOM)  # noqa: E731
    chart: dict[str, Any] = {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM,
        "points": [{"x": x(p["n_cells"]), "y": y(p["ap50"]), **p} for p in points],
        "x_ticks": [{"position": x(n), "label": f"{n:g}"} for n in _ticks(x_max)],
        "y_ticks": [{"position": y(v), "label": f"{v:.1f}"} for v in _ticks(y_max)],
    }
    if fit:
        low = min(p["n_cells"] for p in points) * 0.8
        samples = [low + (n_next - low) * i / CURVE_SAMPLES for i in range(CURVE_SAMPLES + 1)]
        chart["fit"] = " ".join(f"{x(n):.1f},{y(fit.ap(n)):.1f}" for n in samples if n > 0)
        chart["now"] = {"x": x(n_now), "y": y(fit.ap(n_now))}
        chart["next"] = {"x": x(n_next), "y": y(fit.ap(n_next))}
    return chart


def _ticks(high: float) -> list[float]:
    step = nice_step(high, 4)
    return [i * step for i in range(int(high / step) + 1)]
