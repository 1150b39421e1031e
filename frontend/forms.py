"""The settings page's HTML forms, read with the REST API's own input serializers.

A browser posts text; the API takes JSON. These helpers turn the posted text into what the API
would receive (channel lists, the backend settings object) and validate it with the same
serializer, so a field is refused by the page exactly when the API would refuse it. The domain
rules after that (backend settings, strategy, name clashes, the last admin) are the services'.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework import serializers

from annotations.api.serializers import ProjectSettingsInput
from annotations.models import Project

# What the settings form edits, in the order of annotations.api.serializers.ProjectSettingsInput.
SETTINGS_FIELDS = (
    "name", "description", "display_channels", "model_channels", "crop_size", "crop_overlap", "validation_fraction",
    "backend", "backend_settings", "strategy", "random_fraction", "retrain_after_annotations", "training_uses",
    "double_label_share", "review_sample_share",
)
# Applied when an image is uploaded: its crops are cut and their display images rendered then.
CUTTING_FIELDS = ("crop_size", "crop_overlap", "display_channels")
LIST_FIELDS = ("display_channels", "model_channels")
JSON_FIELDS = ("backend_settings",)

Problems = dict[str, list[str]]


def settings_text(project: Project) -> dict[str, str]:
    """The project's settings as the form shows them."""
    text = {name: str(getattr(project, name)) for name in SETTINGS_FIELDS}
    for name in LIST_FIELDS:
        text[name] = ", ".join(str(c) for c in getattr(project, name))
    text["backend_settings"] = json.dumps(project.backend_settings, indent=2)
    return text


def _channels(text: str) -> list[str]:
    """ "0, 2" or "[0, 2]" -> ["0", "2"]; the serializer checks that they are whole numbers."""
    return [part.strip() for part in text.strip().strip("[]").split(",") if part.strip()]


def _json_object(text: str) -> Any:
    return json.loads(text) if text.strip() else {}


def parse_settings(post: Mapping[str, str], fields: Iterable[str]) -> tuple[dict[str, Any], Problems]:
    """The posted `fields` (those present) as settings, and the problems by field. With problems,
    the settings are those of the fields that have none."""
    data: dict[str, Any] = {}
    problems: Problems = {}
    for name in fields:
        if name not in post:
            continue
        text = post[name]
        if name in LIST_FIELDS:
            data[name] = _channels(text)
        elif name in JSON_FIELDS:
            try:
                data[name] = _json_object(text)
            except json.JSONDecodeError as exc:
                problems[name] = [f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]
        else:
            data[name] = text
    validated, invalid = validate(ProjectSettingsInput, data, partial=True)
    if invalid:  # the fields that passed, so that the services can name their problems too
        validated, _ = validate(ProjectSettingsInput, {k: v for k, v in data.items() if k not in invalid},
                                partial=True)
    return validated, {**invalid, **problems}


def validate(serializer_class: type[serializers.Serializer], data: Mapping[str, Any],
             *, partial: bool = False) -> tuple[dict[str, Any], Problems]:
    """Validated data, or the serializer's problems by field as plain sentences."""
    serializer = serializer_class(data=data, partial=partial)
    if serializer.is_valid():
        return dict(serializer.validated_data), {}
    return {}, {name: _sentences(detail) for name, detail in serializer.errors.items()}


def _sentences(detail: Any) -> list[str]:
    """DRF error details as sentences: a list item's problems name the item (1-based)."""
    if isinstance(detail, Mapping):
        return [f"item {int(i) + 1}: {sentence}" for i, inner in detail.items() for sentence in _sentences(inner)]
    if isinstance(detail, list):
        return [sentence for inner in detail for sentence in _sentences(inner)]
    return [str(detail)]


# --- The new-project form -------------------------------------------------------------------------

# What the new-project form sets directly, in the order of ProjectSettingsInput; the start model
# becomes backend_settings["start_from"] (or, for uploaded weights, a first model version).
NEW_PROJECT_FIELDS = ("name", "description", "display_channels", "model_channels", "crop_size", "crop_overlap",
                      "strategy")
START_CHOICES = ("scratch", "pretrained", "weights")


def parse_new_project(post: Mapping[str, str], weights: Any) -> tuple[dict[str, Any], Problems]:
    """The posted new-project form as create_project's fields (start_from in backend_settings), and
    the problems by field ("start" for the start model; "weights" for a missing file)."""
    posted = {name: post.get(name, "") for name in NEW_PROJECT_FIELDS}
    for name in ("crop_size", "crop_overlap"):  # left empty: the project's default
        if not posted[name].strip():
            del posted[name]
    fields, problems = parse_settings(posted, posted)
    start = post.get("start", "scratch")
    if start not in START_CHOICES:
        problems["start"] = [f"choose one of {', '.join(START_CHOICES)}, not {start!r}"]
    elif start == "pretrained":
        fields["backend_settings"] = {"start_from": f"pretrained:{post.get('pretrained', '')}"}
    elif start == "weights" and weights is None:
        problems["weights"] = ["choose the weights file to start from"]
    return fields, problems
