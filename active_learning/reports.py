"""What admins read: the project's state, its learning curve, where the model is weakest,
the payoff of active learning so far, and what each labeller did."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Avg, Count, F, Sum

from active_learning.models import ModelVersion, ModelVersionStatus
from active_learning.versions import active_version
from annotations.models import Annotation, Crop, CropStatus, Project

WEAKEST_CROPS = 10


def project_overview(project: Project) -> dict[str, Any]:
    version = active_version(project)
    return {
        "crops": _crop_counts(project),
        "labelled_cells": _labelled_cells(project),
        "active_version": _version_summary(version) if version else None,
        "learning_curve": learning_curve(project),
        "active_learning_payoff": active_learning_payoff(project),
        "labellers": labeller_stats(project),
    }


def _crop_counts(project: Project) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {s: 0 for s in CropStatus.values})
    for row in Crop.objects.filter(project=project).values("split", "status").annotate(n=Count("id")).order_by():
        counts[row["split"]][row["status"]] = row["n"]
    return dict(counts)


def _labelled_cells(project: Project) -> int:
    current = Annotation.objects.filter(crop__project=project, is_current=True)
    return int(current.aggregate(n=Sum("n_cells"))["n"] or 0)


def _version_summary(version: ModelVersion) -> dict[str, Any]:
    metrics = version.metrics or {}
    return {
        "id": version.pk,
        "number": version.number,
        "status": version.status,
        "ap50": metrics.get("ap50"),
        "ap75": metrics.get("ap75"),
        "ap90": metrics.get("ap90"),
        "n_train_crops": version.n_train_crops,
        "n_train_cells": version.n_train_cells,
        "created_at": version.created_at,
    }


def learning_curve(project: Project) -> list[dict[str, Any]]:
    """One point per evaluated model version: AP against the number of labelled cells it saw."""
    versions = ModelVersion.objects.filter(project=project).exclude(metrics={}).order_by("number")
    return [_version_summary(v) for v in versions if v.metrics.get("ap50") is not None]


def weakest_crops(version: ModelVersion, limit: int = WEAKEST_CROPS) -> list[dict[str, Any]]:
    """The validation crops this version gets most wrong, worst first."""
    per_crop = (version.metrics or {}).get("per_crop", [])
    return sorted(per_crop, key=lambda c: (c.get("ap50", 0.0), -c.get("n_true", 0)))[:limit]


def version_report(version: ModelVersion) -> dict[str, Any]:
    return {
        **_version_summary(version),
        "parent": version.parent.number if version.parent else None,
        "history": version.history,
        "is_active": version.status == ModelVersionStatus.ACTIVE,
        "weakest_crops": weakest_crops(version),
    }


def active_learning_payoff(project: Project) -> dict[str, Any]:
    """Labelling cost of crops the strategy chose vs the random control group: time per crop and
    edits per predicted cell. A strategy that finds useful crops makes labellers correct more."""
    rows = (
        Annotation.objects.filter(crop__project=project, source="editor")
        .values("queue_reason")
        .annotate(crops=Count("id"), seconds=Avg("seconds_spent"), cells=Sum("n_cells"))
        .order_by()
    )
    edits = _edits_by_reason(project)
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        group = "random-control" if row["queue_reason"] == "random-control" else "ranked"
        entry = groups.setdefault(group, {"crops": 0, "seconds_total": 0.0, "cells": 0, "edits": 0})
        entry["crops"] += row["crops"]
        entry["seconds_total"] += (row["seconds"] or 0.0) * row["crops"]
        entry["cells"] += row["cells"] or 0
    for reason, n_edits in edits.items():
        group = "random-control" if reason == "random-control" else "ranked"
        if group in groups:
            groups[group]["edits"] += n_edits
    return {name: _payoff_figures(entry) for name, entry in groups.items()}


def _edits_by_reason(project: Project) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    annotations = Annotation.objects.filter(crop__project=project, source="editor")
    for reason, counts in annotations.values_list("queue_reason", "edit_counts"):
        totals[reason] += int(sum((counts or {}).values()))
    return totals


def _payoff_figures(entry: dict[str, Any]) -> dict[str, Any]:
    crops = entry["crops"]
    return {
        "crops": crops,
        "seconds_per_crop": entry["seconds_total"] / crops if crops else None,
        "edits_per_cell": entry["edits"] / entry["cells"] if entry["cells"] else None,
    }


def labeller_stats(project: Project) -> list[dict[str, Any]]:
    rows = (
        Annotation.objects.filter(crop__project=project, source="editor", author__isnull=False)
        .values(username=F("author__username"))
        .annotate(crops=Count("id"), cells=Sum("n_cells"), seconds=Sum("seconds_spent"))
        .order_by("username")
    )
    edits: dict[str, int] = defaultdict(int)
    for username, counts in Annotation.objects.filter(crop__project=project, source="editor").values_list(
        "author__username", "edit_counts"
    ):
        edits[username] += int(sum((counts or {}).values()))
    return [
        {
            "username": r["username"],
            "crops": r["crops"],
            "cells": r["cells"] or 0,
            "seconds_per_crop": (r["seconds"] or 0.0) / r["crops"],
            "edits_per_cell": edits[r["username"]] / r["cells"] if r["cells"] else None,
        }
        for r in rows
    ]
