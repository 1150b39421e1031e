"""What admins read: the project's state, its learning curve, where the model is weakest,
the payoff of active learning so far, and what each labeller did."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, F, FloatField, Sum, Value
from django.db.models.functions import Least

from active_learning.agreement import labeller_agreement, pooled, project_agreement
from active_learning.effort import actions_from_edit_counts, assisted_actions_from_edit_counts
from active_learning.models import ModelVersion, ModelVersionStatus
from active_learning.versions import active_version
from annotations.api.serializers import MAX_EDIT_COUNT, MAX_SECONDS_SPENT
from annotations.models import Annotation, BlindLabel, Crop, CropStatus, Project, ReviewState

WEAKEST_CROPS = 10
NO_AGREEMENT = {"labellers": pooled([]), "reviewers": pooled([])}

# The API bounds seconds_spent and edit_counts; rows saved before the bounds may hold
# 1.7e308 seconds, which sums to infinity (no JSON number: the report failed for good), or counts
# of 10**30. Each row counts here at most as much as the API would accept now.
CLIPPED_SECONDS = Least(F("seconds_spent"), Value(float(MAX_SECONDS_SPENT)), output_field=FloatField())


def clipped_counts(counts: Any) -> dict[str, int]:
    """One annotation's edit counts: whole counts, each clipped to the API's bound; anything else
    (a text, a float, a nested map from before the bound) counts as nothing."""
    if not isinstance(counts, dict):
        return {}
    return {kind: min(max(n, 0), MAX_EDIT_COUNT) for kind, n in counts.items() if type(n) is int}


def edits_of(counts: Any) -> int:
    """The edits of one annotation (see clipped_counts)."""
    return sum(clipped_counts(counts).values())


def project_overview(project: Project) -> dict[str, Any]:
    version = active_version(project)
    return {
        "crops": _crop_counts(project),
        "labelled_cells": _labelled_cells(project),
        "active_version": _version_summary(version) if version else None,
        "learning_curve": learning_curve(project),
        "active_learning_payoff": active_learning_payoff(project),
        "labellers": labeller_stats(project),
        # How well labellers agree: the bar a model cannot be asked to beat.
        "agreement": project_agreement(project),
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
    """The validation crops this version gets most wrong, worst first (a crop with no cell in
    either mask, AP None, has nothing wrong: last)."""
    per_crop = (version.metrics or {}).get("per_crop", [])
    return sorted(per_crop, key=lambda c: (_ap_or_one(c.get("ap50", 0.0)), -c.get("n_true", 0)))[:limit]


def _ap_or_one(ap: float | None) -> float:
    return 1.0 if ap is None else ap


def version_report(version: ModelVersion) -> dict[str, Any]:
    return {
        **_version_summary(version),
        "parent": version.parent.number if version.parent else None,
        "history": version.history,
        "is_active": version.status == ModelVersionStatus.ACTIVE,
        "weakest_crops": weakest_crops(version),
    }


def active_learning_payoff(project: Project) -> dict[str, Any]:
    """Labelling cost of crops the strategy chose vs the random control group: time per crop,
    edits per cell, and actions per cell (the edit kinds active_learning.effort counts as
    actions, over the cells submitted), from the editor's submissions. A strategy that finds
    useful crops makes labellers correct more; assisted tools that work make each cell cost less."""
    groups: dict[str, dict[str, Any]] = {}
    annotations = Annotation.objects.filter(crop__project=project, source="editor")
    for reason, seconds, cells, counts in annotations.values_list("queue_reason", "seconds_spent", "n_cells",
                                                                 "edit_counts"):
        group = "random-control" if reason == "random-control" else "ranked"
        entry = groups.setdefault(group, {"crops": 0, "seconds_total": 0.0, "cells": 0, "edits": 0, "actions": 0,
                                          "assisted": 0})
        clipped = clipped_counts(counts)
        entry["crops"] += 1
        entry["seconds_total"] += min(seconds or 0.0, float(MAX_SECONDS_SPENT))
        entry["cells"] += cells or 0
        entry["edits"] += sum(clipped.values())
        entry["actions"] += actions_from_edit_counts(clipped)
        entry["assisted"] += assisted_actions_from_edit_counts(clipped)
    return {name: _payoff_figures(entry) for name, entry in groups.items()}


def _payoff_figures(entry: dict[str, Any]) -> dict[str, Any]:
    crops, cells = entry["crops"], entry["cells"]
    return {
        "crops": crops,
        "cells": cells,
        "seconds_per_crop": entry["seconds_total"] / crops if crops else None,
        "edits_per_cell": entry["edits"] / cells if cells else None,
        "actions": entry["actions"],
        "actions_per_cell": entry["actions"] / cells if cells else None,
        # The share of the actions that were assisted clicks, boxes and redos.
        "assisted_share": entry["assisted"] / entry["actions"] if entry["actions"] else None,
    }


def labeller_stats(project: Project) -> list[dict[str, Any]]:
    """Per labeller, from their editor submissions and blind second labels: crops, cells, time
    per crop, edits and actions per cell (active_learning.effort), the share of their annotations a
    reviewer returned, and their agreement with other labellers (blind pairs) and with reviewers'
    corrections (active_learning.agreement)."""
    work: dict[str, dict[str, Any]] = {}
    annotations = Annotation.objects.filter(crop__project=project, source="editor", author__isnull=False)
    blind_labels = BlindLabel.objects.filter(crop__project=project, author__isnull=False)
    for rows in (annotations, blind_labels):
        for username, cells, seconds, counts in rows.values_list("author__username", "n_cells", "seconds_spent",
                                                                 "edit_counts"):
            entry = work.setdefault(username, {"crops": 0, "cells": 0, "seconds": 0.0, "edits": 0, "actions": 0,
                                               "returned": 0})
            clipped = clipped_counts(counts)
            entry["crops"] += 1
            entry["cells"] += cells or 0
            entry["seconds"] += min(seconds or 0.0, float(MAX_SECONDS_SPENT))
            entry["edits"] += sum(clipped.values())
            entry["actions"] += actions_from_edit_counts(clipped)
    for username, n in (annotations.filter(review_state=ReviewState.RETURNED).values("author__username")
                        .annotate(n=Count("id")).values_list("author__username", "n")):
        work[username]["returned"] = n
    agreeing = labeller_agreement(project)
    return [
        {
            "username": username,
            "crops": entry["crops"],
            "cells": entry["cells"],
            "seconds_per_crop": entry["seconds"] / entry["crops"],
            "edits_per_cell": entry["edits"] / entry["cells"] if entry["cells"] else None,
            "actions_per_cell": entry["actions"] / entry["cells"] if entry["cells"] else None,
            "returned_share": entry["returned"] / entry["crops"],
            "agreement": agreeing.get(username, NO_AGREEMENT),
        }
        for username, entry in sorted(work.items())
    ]
