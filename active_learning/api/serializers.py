"""Input and output shapes of the learning side's API: jobs, model versions, and a crop as its
labeller sees it (the labelling side's crop with the model's prediction and its queue rank)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from active_learning.models import Job, JobKind, ModelVersion, Prediction
from annotations.api.serializers import (
    MAX_RETRAIN_AFTER,
    AnnotationOutput,
    CropOutput,
    MaskField,
    RleMask,
    id_field,
    mask_of,
    priority_field,
    tags_field,
)
from annotations.masks import MaskError, decode_rle, encode_rle
from annotations.models import Split


class JobSerializer(serializers.ModelSerializer):
    model_version_number = serializers.IntegerField(source="model_version.number", default=None, read_only=True,
                                                       allow_null=True)

    class Meta:
        model = Job
        fields = [
            "id", "project", "kind", "status", "trigger", "params", "model_version", "model_version_number",
            "created_by", "created_at", "started_at", "finished_at", "heartbeat_at", "cancel_requested",
            "progress", "result", "error", "worker",
        ]
        read_only_fields = fields


class JobDetailSerializer(JobSerializer):
    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "log"]
        read_only_fields = fields


class JobFilterInput(serializers.Serializer):
    kind = serializers.MultipleChoiceField(choices=JobKind.choices, required=False,
                                           help_text="only jobs of these kinds (the parameter repeated)")


MAX_JOB_PARAMS = 50


class JobRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[JobKind.TRAIN, JobKind.PREDICT])
    params = serializers.DictField(required=False, default=dict, help_text=f"At most {MAX_JOB_PARAMS} entries.")

    def validate_params(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_JOB_PARAMS:
            raise serializers.ValidationError(f"params takes at most {MAX_JOB_PARAMS} entries, got {len(value)}")
        return value


class ModelVersionSerializer(serializers.ModelSerializer):
    parent_number = serializers.IntegerField(source="parent.number", default=None, read_only=True, allow_null=True)
    weights_url = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id", "project", "number", "status", "backend", "origin", "parent", "parent_number", "training_job",
            "weights_sha256", "weights_url", "settings", "history", "n_train_crops", "n_train_cells", "metrics",
            "created_at", "promoted_at",
        ]
        read_only_fields = fields

    def get_weights_url(self, version: ModelVersion) -> str | None:
        return f"/api/model-versions/{version.pk}/weights/" if version.weights else None


class WeightsUploadSerializer(serializers.Serializer):
    weights = serializers.FileField()
    promote = serializers.BooleanField(required=False, default=False)


class RetrainingSerializer(serializers.Serializer):
    schedule = serializers.CharField(allow_null=True, allow_blank=True, required=False, max_length=200,
                                     help_text='Five-field cron, e.g. "0 2 * * *"; null turns it off.')
    after_annotations = serializers.IntegerField(min_value=0, max_value=MAX_RETRAIN_AFTER, required=False,
                                                 help_text="Retrain after this many new annotations; 0 = off.")


# --- A crop as its labeller sees it ---------------------------------------------------------------


class CropUpdateInput(serializers.Serializer):
    pinned = serializers.BooleanField(required=False)
    priority = priority_field(required=False, help_text="> 0 boosts, < 0 buries, 0 is neutral.")
    tags = tags_field(required=False)
    assigned_to = id_field(required=False, allow_null=True, help_text="A member's user id, or null.")


class NextCropInput(serializers.Serializer):
    split = serializers.ChoiceField(
        choices=Split.choices, default=Split.TRAIN, help_text="validation: project admins only."
    )


class ModelVersionRef(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    status = serializers.CharField()


class PredictionOutput(serializers.ModelSerializer):
    model_version = ModelVersionRef()
    mask = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = ["id", "model_version", "n_cells", "cell_uncertainty", "possible_missed_cells", "mask", "created_at"]

    @extend_schema_field(RleMask)
    def get_mask(self, prediction: Prediction) -> dict[str, Any]:
        return mask_of(prediction)


class CropDetailOutput(CropOutput):
    """A crop as the editor needs it: selectors.crop_detail sets rank and the two annotation attributes."""

    image_name = serializers.CharField(source="image.original_name")
    rank = serializers.IntegerField(
        allow_null=True,
        help_text="Place in the open queue of the crop's split when this answer was made (1 = first): 1 + the "
        "waiting crops ahead of it in queue order (pinned, priority, queue_score, id). Null for a crop outside "
        "the queue (labelled or skipped, e.g. leased for correction).",
    )
    blind = serializers.BooleanField(
        help_text="Served for a second, independent label (double labelling): the first labeller's annotation is "
        "hidden (current_annotation is null) and the submission is stored beside it, not over it."
    )
    current_annotation = AnnotationOutput(allow_null=True)
    prediction = PredictionOutput(allow_null=True, help_text="The active model's prediction, else the newest.")


# --- Click to cell: proposals -----------------------------------------------------------------------


class ProposeInput(serializers.Serializer):
    """One proposal; coordinates are crop pixels (x = column, y = row) within the crop, whose
    shape (height, width) the view passes as context["shape"]."""

    mode = serializers.ChoiceField(choices=["point", "box", "redo"])
    x = serializers.FloatField(required=False, help_text="point and redo: the clicked column.")
    y = serializers.FloatField(required=False, help_text="point and redo: the clicked row.")
    box = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4, required=False,
                                help_text="box: [x0, y0, x1, y1], x0 < x1 and y0 < y1.")
    cell = MaskField(required=False, help_text="redo: the existing cell, a crop-sized label image of ids 0/1.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        height, width = self.context["shape"]
        needed = {"point": ("x", "y"), "box": ("box",), "redo": ("x", "y", "cell")}[data["mode"]]
        missing = {name: [f"{data['mode']} needs {name}"] for name in needed if name not in data}
        if missing:
            raise serializers.ValidationError(missing)
        if "x" in needed and not (0 <= data["x"] < width):
            raise serializers.ValidationError({"x": [f"x must lie in [0, {width}) (the crop's columns)"]})
        if "y" in needed and not (0 <= data["y"] < height):
            raise serializers.ValidationError({"y": [f"y must lie in [0, {height}) (the crop's rows)"]})
        if data["mode"] == "box":
            x0, y0, x1, y1 = data["box"]
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                raise serializers.ValidationError(
                    {"box": [f"box must be [x0, y0, x1, y1] with 0 <= x0 < x1 <= {width}, 0 <= y0 < y1 <= {height}"]})
        if data["mode"] == "redo":
            data["cell"] = _cell_image(data["cell"], (height, width))
        return data


def _cell_image(payload: Any, shape: tuple[int, int]) -> Any:
    try:
        cell = decode_rle(payload, shape)
    except MaskError as exc:
        raise serializers.ValidationError({"cell": [str(exc)]}) from None
    if not cell.any():
        raise serializers.ValidationError({"cell": ["the cell is empty"]})
    return cell


class ProposalOutput(serializers.Serializer):
    mask = serializers.SerializerMethodField()
    cells = serializers.IntegerField(help_text="Proposed cells, numbered 1..cells in mask; 0: see message.")
    model_version = serializers.IntegerField(allow_null=True, help_text="The number of the version whose flows "
                                             "made it; null when the project has no model.")
    method = serializers.ChoiceField(choices=["flows", "classical"])
    message = serializers.CharField(allow_null=True)

    @extend_schema_field(RleMask)
    def get_mask(self, result: Any) -> dict[str, Any]:
        return encode_rle(result.mask)
