"""Input and output shapes of the admin queue API (active_learning/api/queue_views.py)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from active_learning.queue.curation import FOCUS_PRIORITY, QUEUE_ACTIONS
from active_learning.queue.listing import QueueEntry
from annotations.api.files import crop_display_url
from annotations.api.pagination import MAX_OFFSET
from annotations.api.serializers import MAX_TAG_LENGTH, id_field, priority_field, tags_field
from annotations.models import CropStatus, Split

QUEUE_STATUSES = {
    "queue": (CropStatus.UNLABELLED, CropStatus.LEASED),
    "unlabelled": (CropStatus.UNLABELLED,),
    "leased": (CropStatus.LEASED,),
    "skipped": (CropStatus.SKIPPED,),
    "labelled": (CropStatus.LABELLED,),
}
MAX_PAGE = 500


class QueueFilterInput(serializers.Serializer):
    split = serializers.ChoiceField(choices=Split.choices, default=Split.TRAIN)
    status = serializers.ChoiceField(
        choices=list(QUEUE_STATUSES), default="queue", help_text="queue = waiting or out on lease."
    )
    tag = serializers.CharField(required=False, max_length=MAX_TAG_LENGTH)
    image = id_field(required=False)
    assigned_to = id_field(required=False)
    offset = serializers.IntegerField(default=0, min_value=0, max_value=MAX_OFFSET)
    limit = serializers.IntegerField(default=50, min_value=1, max_value=MAX_PAGE)


class QueueEntryOutput(serializers.Serializer):
    rank = serializers.IntegerField(help_text="Position in this listing, in queue order (1 = served next).")
    crop = serializers.IntegerField(source="crop.id")
    image = serializers.IntegerField(source="crop.image_id")
    image_name = serializers.CharField(source="crop.image.original_name")
    x = serializers.IntegerField(source="crop.x")
    y = serializers.IntegerField(source="crop.y")
    width = serializers.IntegerField(source="crop.width")
    height = serializers.IntegerField(source="crop.height")
    split = serializers.CharField(source="crop.split")
    status = serializers.CharField(source="crop.status")
    display_url = serializers.SerializerMethodField()
    queue_score = serializers.FloatField(source="crop.queue_score")
    queue_reason = serializers.CharField(source="crop.queue_reason", help_text="What the ranking said.")
    reason = serializers.CharField(help_text="pinned, boost:N, buried:N, strategy:<name>, random-control, ...")
    scores = serializers.DictField(child=serializers.FloatField(), help_text="Stored scores by strategy.")
    model_version = serializers.IntegerField(allow_null=True, help_text="The version number that ranked it.")
    pinned = serializers.BooleanField(source="crop.pinned")
    priority = serializers.IntegerField(source="crop.priority")
    tags = serializers.SerializerMethodField()
    assigned_to = serializers.IntegerField(source="crop.assigned_to_id", allow_null=True)
    assigned_to_name = serializers.CharField(source="crop.assigned_to.username", default=None, allow_null=True)
    leased_by = serializers.IntegerField(source="crop.leased_by_id", allow_null=True)
    leased_by_name = serializers.CharField(source="crop.leased_by.username", default=None, allow_null=True)
    lease_expires_at = serializers.DateTimeField(source="crop.lease_expires_at", allow_null=True)

    def get_display_url(self, entry: QueueEntry) -> str:
        return crop_display_url(entry.crop.pk)

    def get_tags(self, entry: QueueEntry) -> list[str]:
        return sorted(tag.name for tag in entry.crop.tags.all())


class QueuePageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    strategy = serializers.CharField()
    random_fraction = serializers.FloatField()
    model_version = serializers.IntegerField(allow_null=True)
    results = QueueEntryOutput(many=True)


class QueueActionInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=QUEUE_ACTIONS)
    crop_ids = serializers.ListField(child=id_field(), required=False, max_length=10_000)
    top = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000, help_text="Instead of crop_ids: the first N of the open queue."
    )
    split = serializers.ChoiceField(choices=Split.choices, default=Split.TRAIN, help_text="The queue `top` reads.")
    priority = priority_field(required=False, help_text="boost/bury: how far (default 1).")
    tags = tags_field(required=False, default=list)
    user_id = id_field(required=False, allow_null=True, help_text="assign: the member.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("crop_ids" in data) == ("top" in data):
            raise serializers.ValidationError("send either crop_ids or top")
        return data


class QueueActionOutput(serializers.Serializer):
    action = serializers.CharField()
    crop_ids = serializers.ListField(child=serializers.IntegerField())
    changed = serializers.IntegerField()


class FocusInput(serializers.Serializer):
    image = id_field(required=False)
    tag = serializers.CharField(required=False, max_length=MAX_TAG_LENGTH)
    split = serializers.ChoiceField(choices=Split.choices, required=False)
    priority = priority_field(default=FOCUS_PRIORITY, help_text="0 clears the focus.")


class ChangedOutput(serializers.Serializer):
    changed = serializers.IntegerField()


class QueueSettingsInput(serializers.Serializer):
    strategy = serializers.CharField(required=False, max_length=50)
    random_fraction = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)


class RankingOutput(serializers.Serializer):
    strategy = serializers.CharField()
    model_version = serializers.IntegerField(allow_null=True)
    ranked = serializers.IntegerField()
    by_reason = serializers.DictField(child=serializers.IntegerField())
    written = serializers.IntegerField()
    seconds = serializers.FloatField()


class QueueSettingsOutput(serializers.Serializer):
    strategy = serializers.CharField()
    random_fraction = serializers.FloatField()
    strategies = serializers.ListField(child=serializers.CharField())
    ranked_with_version = serializers.IntegerField(allow_null=True)
    ranking = RankingOutput(required=False)
