from __future__ import annotations

from rest_framework import serializers

from active_learning.models import Job, JobKind, ModelVersion


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
