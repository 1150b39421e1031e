"""Where each simulated round's labels came from and where its model got better, by image group.

`manage.py simulate_labelling --keep` keeps its projects; this reads them back and prints, for each
model version, its AP@0.5 on the validation crops of each image group, and how many of the crops
it was trained on came from each group. A group is the images of one size (in a DSB2018 folder,
one size is one experiment), so it shows whether a strategy's picks follow where the model is
weak, and whether the validation split's mix of groups favours one strategy's picks.

    LABELSERVER_DATA_DIR=bench/out/simdata4-combined .venv/bin/python bench/simulation_breakdown.py [NAME_PREFIX]
"""

from __future__ import annotations

import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelserver.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from active_learning.models import ModelVersion  # noqa: E402
from annotations.models import Crop, Project  # noqa: E402


def group_of(crop: Crop) -> str:
    return f"{crop.image.height}x{crop.image.width}"


def ap50(entries: list[dict]) -> float | None:
    tp, fp, fn = (sum(e.get(f"{k}50", 0) for e in entries) for k in ("tp", "fp", "fn"))
    return tp / (tp + fp + fn) if tp + fp + fn else None


def breakdown(project: Project) -> list[str]:
    crops = {c.pk: c for c in Crop.objects.filter(project=project).select_related("image")}
    groups = sorted({group_of(c) for c in crops.values()})
    lines = [f"{project.name} (strategy {project.strategy})",
             "  version status     train crops by group" + "".join(f"  AP@0.5 {g:>9}" for g in groups) + "  AP@0.5 all"]
    for version in ModelVersion.objects.filter(project=project).order_by("number"):
        per_crop = version.metrics.get("per_crop", [])
        by_group: dict[str, list[dict]] = defaultdict(list)
        for entry in per_crop:
            by_group[group_of(crops[entry["crop"]])].append(entry)
        picked = Counter(group_of(crops[a.crop_id]) for a in version.trained_on.all())
        picks = ", ".join(f"{g} {picked[g]}" for g in groups)
        aps = "".join(f"  {_fmt(ap50(by_group[g])):>16}" for g in groups)
        overall = _fmt(version.metrics.get("ap50"))
        lines.append(f"  {version.number:>7} {version.status:<10} {picks:<20}{aps}  {overall}")
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    prefix = sys.argv[1] if len(sys.argv) > 1 else "simulation "  # the projects' names start so
    projects = Project.objects.filter(name__startswith=prefix).order_by("pk")
    if not projects:
        sys.exit("no simulation projects here: run simulate_labelling with --keep, with the same LABELSERVER_DATA_DIR")
    for project in projects:
        print("\n".join(breakdown(project)), end="\n\n")


if __name__ == "__main__":
    main()
