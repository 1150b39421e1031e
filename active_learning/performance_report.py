"""A model version's performance report for admins, computed when it is asked for: from the
version's stored metrics (per validation crop: the AP counts and the error analysis that
active_learning.validation keeps), its stored scores of the validation crops, and the crops'
images and tags as they are now (so a tag added since counts). The figures themselves are
active_learning.performance's.

"Where labelling should go next" names the image groups, the tag, the cell size and the error
type with the most errors, each with the queue action that serves the matching waiting training
crops first: the queue's focus on the tag, or, for an image group (which the focus filter cannot
name), a boost of the group's waiting training crops, as focus does (FOCUS_PRIORITY). A size or
error type is no crop filter at all: its action focuses the image group where most of those
cells are lost.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.urls import reverse

from active_learning import performance
from active_learning.evaluation import errors_by_crop
from active_learning.models import CropScore, ModelVersion
from active_learning.queue.curation import FOCUS_PRIORITY
from active_learning.reports import weakest_crops
from active_learning.scoring import DESCRIPTOR
from annotations.models import Crop, CropStatus, Image, Split

MAX_FOCUS_CROPS = 10_000  # what one queue action takes (QueueActionInput.crop_ids)


def performance_report(version: ModelVersion, *, pattern: str | None = None) -> dict[str, Any]:
    """Everything the report page, its PDF and GET /api/model-versions/{id}/report/ show.
    `pattern` groups images by file name (performance.group_pattern; ValueError when bad)."""
    regex = performance.group_pattern(pattern)
    metrics = version.metrics or {}
    places = _crop_places(metrics.get("per_crop", []), _parent_entries(version))
    entries = _placed(metrics.get("per_crop", []), places)
    edges = metrics.get("size_edges", performance.SIZE_EDGES)
    by_group = performance.ap_by(entries, _group_key(regex))
    by_tag = performance.ap_by(entries, _tags)
    sizes = performance.recall_by_size(entries, edges)
    errors = performance.error_breakdown(entries)
    return {
        "version": {"id": version.pk, "number": version.number, "status": version.status,
                    "parent": version.parent.number if version.parent else None},
        "evaluated": bool(entries),
        "analysed": bool(entries) and all("errors" in e for e in entries),
        "pattern": regex.pattern,
        "overall": performance.pooled(entries),
        "by_image": performance.ap_by(entries, _image_key),
        "by_group": by_group,
        "by_tag": by_tag,
        "errors": errors,
        "sizes": sizes,
        "calibration": {
            "cells": metrics.get("cell_calibration", {}),
            "crops": performance.crop_calibration(errors_by_crop(metrics), _crop_scores(version, entries)),
        },
        "weakest": weakest_crops(version),
        "parent": _parent_comparison(version, entries, places, regex),
        "next": _next_labelling(version, entries, regex, by_group, by_tag, sizes, errors, edges),
    }


# --- Where each validation crop comes from ---------------------------------------------------


def _parent_entries(version: ModelVersion) -> list[dict[str, Any]]:
    return list((version.parent.metrics or {}).get("per_crop", [])) if version.parent else []


def _crop_places(*entry_lists: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Crop id -> its image's id and file name and the crop's tags (crops deleted since: none)."""
    ids = {e["crop"] for entries in entry_lists for e in entries if "crop" in e}
    crops = Crop.objects.filter(pk__in=ids).select_related("image").prefetch_related("tags")
    return {crop.pk: {"image": crop.image.original_name, "image_id": crop.image_id,
                      "tags": sorted(tag.name for tag in crop.tags.all())} for crop in crops}


def _placed(entries: Iterable[Mapping[str, Any]], places: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{**entry, **places.get(entry.get("crop", -1), {})} for entry in entries]


def _image_key(entry: Mapping[str, Any]) -> list[str]:
    return [entry["image"]] if "image" in entry else []


def _group_key(regex: re.Pattern[str]) -> Any:
    def keys(entry: Mapping[str, Any]) -> list[str]:
        return [performance.group_of(entry["image"], regex)] if "image" in entry else []
    return keys


def _tags(entry: Mapping[str, Any]) -> list[str]:
    return list(entry.get("tags", []))


def _crop_scores(version: ModelVersion, entries: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, float]]:
    """The version's stored per-crop scores of its validation crops, by strategy (a strategy that
    could not score a crop stored a negative score: left out)."""
    rows = CropScore.objects.filter(model_version=version, crop_id__in=[e["crop"] for e in entries if "crop" in e],
                                    score__gte=0).exclude(strategy=DESCRIPTOR)
    scores: dict[str, dict[int, float]] = defaultdict(dict)
    for strategy, crop_id, score in rows.values_list("strategy", "crop_id", "score"):
        scores[strategy][crop_id] = score
    return dict(scores)


def _parent_comparison(version: ModelVersion, entries: list[dict[str, Any]], places: Mapping[int, Mapping[str, Any]],
                       regex: re.Pattern[str]) -> dict[str, Any] | None:
    """AP@0.5 against the version it was trained from, on the validation crops both were measured
    on, per image group and per image."""
    parent = version.parent
    if parent is None:
        return None
    theirs = _placed(_parent_entries(version), places)
    shared = {e["crop"] for e in theirs if "crop" in e} & {e["crop"] for e in entries if "crop" in e}
    same_key = (parent.metrics or {}).get("evaluation_key") == (version.metrics or {}).get("evaluation_key")
    mine = [e for e in entries if e.get("crop") in shared]
    return {
        "number": parent.number,
        "id": parent.pk,
        "n_crops": len(shared),
        "same_annotations": same_key,
        "overall": performance.compare(mine, theirs, lambda e: ["all"]),
        "by_group": performance.compare(mine, theirs, _group_key(regex)),
        "by_image": performance.compare(mine, theirs, _image_key),
    }


# --- Where labelling should go next ------------------------------------------------------------


def _next_labelling(version: ModelVersion, entries: list[dict[str, Any]], regex: re.Pattern[str],
                    by_group: list[dict[str, Any]], by_tag: list[dict[str, Any]], sizes: list[dict[str, Any]],
                    errors: list[dict[str, Any]], edges: Sequence[int]) -> list[dict[str, Any]]:
    """Each line of advice with its queue action (None where no waiting training crop matches)."""
    group = _group_key(regex)
    crops_by_group = _waiting_training_crops(version, regex)
    lines = []
    for advice in performance.next_labelling(by_group, by_tag, sizes, errors, n_crops=len(entries)):
        if advice.kind == "tag":
            lines.append(_line(advice, _tag_focus(version, advice.key)))
            continue
        target, note = advice.key, ""
        if advice.kind in ("size", "error"):
            target = _group_losing_most(entries, group, advice, len(edges) + 1)
            what = "cell size" if advice.kind == "size" else "error type"
            note = f"the queue cannot select by {what}: this focuses image group {target}, where most of them are"
        lines.append(_line(advice, _group_focus(version, target, crops_by_group.get(target, [])), note))
    return lines


def _line(advice: performance.Advice, action: dict[str, Any] | None, note: str = "") -> dict[str, Any]:
    return {"kind": advice.kind, "key": advice.key, "text": advice.text, "gain": advice.gain, "note": note,
            "action": action}


def _group_losing_most(entries: list[dict[str, Any]], group: Any, advice: performance.Advice, n_bins: int) -> str:
    lost: dict[str, int] = defaultdict(int)
    for entry in entries:
        for key in group(entry):
            if advice.kind == "size" and "sizes" in entry and len(entry["sizes"]) == n_bins:
                n_true, n_found = entry["sizes"][int(advice.key)]
                lost[key] += n_true - n_found
            elif advice.kind == "error":
                lost[key] += entry.get("errors", {}).get(advice.key, 0)
    return max(sorted(lost), key=lambda key: lost[key]) if lost else ""


def _waiting_training_crops(version: ModelVersion, regex: re.Pattern[str]) -> dict[str, list[int]]:
    """Image group -> the ids of its training crops still waiting for a label."""
    names = dict(Image.objects.filter(project_id=version.project_id, split=Split.TRAIN)
                 .values_list("id", "original_name"))
    crops = (Crop.objects.filter(project_id=version.project_id, split=Split.TRAIN)
             .exclude(status=CropStatus.LABELLED).order_by("id").values_list("id", "image_id"))
    by_group: dict[str, list[int]] = defaultdict(list)
    for crop_id, image_id in crops:
        if image_id in names:
            by_group[performance.group_of(names[image_id], regex)].append(crop_id)
    return by_group


def _group_focus(version: ModelVersion, group: str, crop_ids: list[int]) -> dict[str, Any] | None:
    if not crop_ids:
        return None
    chosen = crop_ids[:MAX_FOCUS_CROPS]
    body = {"action": "boost", "crop_ids": chosen, "priority": FOCUS_PRIORITY}
    return {"url": reverse("api-queue-crops", args=[version.project_id]), "body": body,
            "label": f"Focus the queue on image group {group} ({_crops(len(chosen))})"}


def _tag_focus(version: ModelVersion, tag: str) -> dict[str, Any] | None:
    waiting = Crop.objects.filter(project_id=version.project_id, split=Split.TRAIN, tags__name=tag).exclude(
        status=CropStatus.LABELLED)
    if not waiting.exists():
        return None
    return {"url": reverse("api-queue-focus", args=[version.project_id]),
            "body": {"tag": tag, "split": Split.TRAIN, "priority": FOCUS_PRIORITY},
            "label": f"Focus the queue on tag {tag} ({_crops(waiting.count())})"}


def _crops(n: int) -> str:
    return f"{n} waiting training crop{'' if n == 1 else 's'}"
