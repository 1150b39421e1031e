"""What the performance report page shows beside the report itself: thumbnails of the crops it
names, its queue actions as JSON for admin/report.js, and bar widths."""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse

from annotations.api.files import crop_display_url
from annotations.models import Crop, Project


def page_data(project: Project, report: dict[str, Any]) -> dict[str, Any]:
    named = {ex["crop"] for row in report["errors"] for ex in row["examples"]}
    named |= {entry["crop"] for entry in report["weakest"] if "crop" in entry}
    existing = set(Crop.objects.filter(project=project, pk__in=named).values_list("pk", flat=True))
    version = report["version"]["id"]
    return {
        "errors": [{**row, "examples": _thumbs(row["examples"], existing)} for row in report["errors"]],
        "weakest": _thumbs(report["weakest"], existing),
        "sizes": [{**row, "percent": round(100 * row["recall"])} for row in report["sizes"]],
        "next": [{**line, "body": json.dumps(line["action"]["body"]) if line["action"] else ""}
                 for line in report["next"]],
        "pdf_url": reverse("version-report-pdf", args=[project.pk, version]),
        "api_url": reverse("model-version-report", args=[version]),
        "parent_url": (reverse("version-report", args=[project.pk, report["parent"]["id"]])
                       if report["parent"] else None),
    }


def _thumbs(entries: list[dict[str, Any]], existing: set[int]) -> list[dict[str, Any]]:
    return [{**entry, "display_url": crop_display_url(entry["crop"])} for entry in entries
            if entry.get("crop") in existing]
