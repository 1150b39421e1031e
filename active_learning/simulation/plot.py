"""The simulation's figure: AP@0.5 against the labels it took, per strategy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from active_learning.simulation.results import RoundResult
from active_learning.simulation.summary import mean_curve


def plot(results: Sequence[RoundResult], path: Path, *, title: str = "") -> Path:
    """AP@0.5 against labelled cells (left) and crops (right), per strategy: the serving models
    (solid, shaded from the worst to the best seed) and the candidates (dashed), means over seeds."""
    import matplotlib  # imported when drawing: slow to import, and nothing else in the app needs it

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for strategy in dict.fromkeys(r.strategy for r in results):
        serving, candidates = mean_curve(results, strategy, "active_ap50"), mean_curve(results, strategy)
        for ax, key in zip(axes, ("n_cells", "n_crops"), strict=True):
            x = [getattr(p, key) for p in serving]
            line = ax.plot(x, [p.ap50 for p in serving], marker="o", label=f"{strategy} (serving)")[0]
            ax.fill_between(x, [p.ap50_low for p in serving], [p.ap50_high for p in serving], alpha=0.2,
                            color=line.get_color())
            ax.plot([getattr(p, key) for p in candidates], [p.ap50 for p in candidates], linestyle="--",
                    marker=".", color=line.get_color(), alpha=0.7, label=f"{strategy} (candidates)")
    for ax, label in zip(axes, ("labelled cells", "labelled crops"), strict=True):
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("AP@0.5 on the validation crops")
    axes[0].legend()
    n_seeds = len({r.seed for r in results})
    figure.suptitle(f"{title} (mean of {n_seeds} seed{'s' if n_seeds != 1 else ''}; band: min-max)".strip())
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
