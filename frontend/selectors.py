"""Reads for the server-rendered pages: a few rows shaped for templates, on top of the
annotations and active_learning selectors (which decide what a user may see)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count
from django.urls import reverse

from active_learning.project_settings import settings_choices
from active_learning.reports import NO_AGREEMENT
from annotations import selectors
from annotations.api.files import crop_display_url
from annotations.models import Crop, CropStatus, Project, Role, Tag, TrainingUses
from annotations.permissions import is_project_admin


@dataclass
class ProjectCard:
    project: Project
    is_admin: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def waiting(self) -> int:
        return self.counts.get(CropStatus.UNLABELLED, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def project_cards(user: AbstractBaseUser) -> list[ProjectCard]:
    """The user's projects (staff: all) with crop counts by status, in two queries."""
    projects = list(selectors.projects_for(user))
    cards = {p.pk: ProjectCard(p, is_project_admin(user, p), {s: 0 for s in CropStatus.values}) for p in projects}
    rows = Crop.objects.filter(project__in=cards).values("project", "status").annotate(n=Count("id")).order_by()
    for row in rows:
        cards[row["project"]].counts[row["status"]] = row["n"]
    return list(cards.values())


def status_table(crops_by_split: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The report's {split: {status: n}} as rows for a table, with a total per row."""
    rows = []
    for split, counts in sorted(crops_by_split.items()):
        cells = [counts.get(status, 0) for status in CropStatus.values]
        rows.append({"split": split, "counts": cells, "total": sum(cells)})
    return rows


NO_WORK = {"crops": 0, "cells": 0, "seconds_per_crop": None, "edits_per_cell": None, "actions_per_cell": None,
           "returned_share": None, "agreement": NO_AGREEMENT}


PAYOFF_GROUPS = (("ranked", "ranked by the strategy"), ("random-control", "at random (control group)"))


def payoff_rows(payoff: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's payoff groups in a fixed order (ranked, then the random control group)."""
    return [{"group": key, "label": label, **payoff[key]} for key, label in PAYOFF_GROUPS if key in payoff]


def payoff_summary(payoff: dict[str, dict[str, Any]]) -> str:
    """One sentence comparing actions per cell (active_learning.effort) of ranked and random
    crops, when both groups have labelled cells."""
    ranked, random = payoff.get("ranked") or {}, payoff.get("random-control") or {}
    if ranked.get("actions_per_cell") is None or random.get("actions_per_cell") is None:
        return ""
    sentence = (f"Ranked crops took {ranked['actions_per_cell']:.2f} actions per cell ({ranked['actions']} over "
                f"{ranked['cells']} cells), random ones {random['actions_per_cell']:.2f} ({random['actions']} over "
                f"{random['cells']})")
    if not random["actions_per_cell"]:
        return sentence + "."
    return sentence + f": {ranked['actions_per_cell'] / random['actions_per_cell']:.1f}× the corrections per cell."


def labeller_rows(project: Project, stats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every member with their figures from the report (members who labelled nothing show zeros)."""
    by_name = {row["username"]: row for row in stats}
    rows = []
    for membership in selectors.project_members(project):
        name = membership.user.username
        rows.append({"role": membership.role, **by_name.pop(name, {**NO_WORK, "username": name})})
    rows.extend({"role": "former member", **row} for row in by_name.values())
    return rows


def weakest_crops(version_id: int | None, per_crop: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's weakest validation crops with the crop's thumbnail URL, where the crop still exists."""
    if version_id is None or not per_crop:
        return []
    wanted = [entry["crop"] for entry in per_crop if "crop" in entry]
    crops = set(Crop.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    return [{**entry, "display_url": crop_display_url(entry["crop"])} for entry in per_crop
            if entry.get("crop") in crops]


def queue_page_data(project: Project) -> dict[str, Any]:
    """What the queue page's filters and assign menu offer, and where its API is."""
    members = [{"id": m.user_id, "name": m.user.username, "role": m.role} for m in selectors.project_members(project)]
    return {
        "images": list(project.images.order_by("original_name").values("id", "original_name")),
        "tags": list(Tag.objects.filter(project=project).order_by("name").values_list("name", flat=True)),
        "members": members,
        "labellers": [m for m in members if m["role"] in (Role.LABELLER, Role.REVIEWER)] or members,
        "queue_api": reverse("api-queue", args=[project.pk]),
        "settings_api": reverse("api-queue-settings", args=[project.pk]),
    }


def settings_page_data(project: Project) -> dict[str, Any]:
    """What the settings page offers besides the form's values: the choices, the members, whether
    the cutting settings are fixed (once crops exist), and the backend settings with defaults."""
    choices = settings_choices(project)
    effective = choices.pop("effective_backend_settings")
    return {
        "n_crops": Crop.objects.filter(project=project).count(),
        **choices,
        "roles": Role.choices,
        "training_uses": TrainingUses.choices,
        "members": list(selectors.project_members(project)),
        "effective_backend_settings": json.dumps(effective, indent=2) if effective else "",
    }
