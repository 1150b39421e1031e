"""Input and output shapes of the learning side's API: jobs, model versions, and a crop as its
labeller sees it (the labelling side's crop with the model's prediction and its queue rank)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from active_learning.models import Job, JobKind, ModelVersion, Prediction
from annotations.api.serializers import AnnotationOutput, CropOutput, RleMask, mask_of
from annotations.models import Split


class JobSerializer(serializers.ModelSerializer):
    model_version_number = serializers.IntegerField(source="model_version.number", default=None, read_only=True)

    class Meta:
        model = Job
        fields = [
            "id", "project", "kind", "status", "trigger", "params", "model_version", "model_version_number",
            "created_by", "created_at", "started_at", "finished_at", "heartbeat_at", "cancel_requested",
            "progress", "error", "worker",
        ]
        read_only_fields = fields


class JobDetailSerializer(JobSerializer):
    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "log"]
        read_only_fields = fields


class JobRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[JobKind.TRAIN, JobKind.PREDICT])
    params = serializers.DictField(required=False, default=dict)


class ModelVersionSerializer(serializers.ModelSerializer):
    parent_number = serializers.IntegerField(source="parent.number", default=None, read_only=True)
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
    schedule = serializers.CharField(allow_null=True, allow_blank=True, required=False,
                                     help_text='Five-field cron, e.g. "0 2 * * *"; null turns it off.')
    after_annotations = serializers.IntegerField(min_value=0, required=False,
                                                 help_text="Retrain after this many new annotations; 0 = off.")


# --- A crop as its labeller sees it ---------------------------------------------------------------


class CropUpdateInput(serializers.Serializer):
    pinned = serializers.BooleanField(required=False)
    priority = serializers.IntegerField(required=False, help_text="> 0 boosts, < 0 buries, 0 is neutral.")
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    assigned_to = serializers.IntegerField(required=False, allow_null=True, help_text="A member's user id, or null.")


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
    current_annotation = AnnotationOutput(allow_null=True)
    prediction = PredictionOutput(allow_null=True, help_text="The active model's prediction, else the newest.")
