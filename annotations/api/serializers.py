"""Input and output shapes of the REST API. Inputs validate; outputs render; neither writes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations import selectors
from annotations.api.files import crop_display_url, image_file_url
from annotations.api.parsers import MAX_JSON_DEPTH, json_depth
from annotations.masks import MAX_MASK_SIDE, decode_png, encode_rle
from annotations.models import (
    MAX_DOUBLE_LABEL_SHARE,
    MAX_REVIEW_COMMENT,
    Annotation,
    BlindLabel,
    Crop,
    CropStatus,
    Image,
    Membership,
    Project,
    ReviewState,
    Role,
    Split,
    TrainingUses,
)
from annotations.permissions import is_project_admin
from annotations.reviews import NEWEST, REVIEW_ACTIONS, REVIEW_ORDERS
from labelserver.converters import MAX_ID

# Bounds of the numbers and maps the API takes (docs/security.md). Every integer that reaches the
# database stays within its signed 64-bit range (ids: MAX_ID); where the domain has a sensible
# range, that is the bound instead, so a careless value is a 400 naming the field, not a 500.
MAX_PRIORITY = 1000  # queue priority: > 0 boosts, < 0 buries; a thousand steps either way is plenty
MAX_RETRAIN_AFTER = 100_000  # annotations between automatic retrainings
MAX_CHANNEL_INDEX = 1023  # a bound for the database only; images have MAX_IMAGE_CHANNELS (64) at most
MAX_SECONDS_SPENT = 24 * 3600  # on one crop: a day
MAX_EDIT_KINDS, MAX_EDIT_KIND_LENGTH, MAX_EDIT_COUNT = 50, 50, 10**6
MAX_TAG_LENGTH, MAX_TAGS = 100, 50
# A label image of the largest crop (4096 x 4096, 16-bit) is 32 MB even uncompressed. An upload
# streams to disk (MAX_UPLOAD_MB), but the label reader reads the file into memory: refuse a
# larger one from its size first.
MAX_MASK_FILE_BYTES = 64 * 2**20


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """A database id: 1 to MAX_ID."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def priority_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=-MAX_PRIORITY, max_value=MAX_PRIORITY, **kwargs)


def tags_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=MAX_TAG_LENGTH), max_length=MAX_TAGS,
                                 **kwargs)


# --- Masks ------------------------------------------------------------------------------------


class RleMask(serializers.Serializer):
    """A label image (0 = background, one id per cell), row-major run-length encoded."""

    encoding = serializers.ChoiceField(choices=["rle"])
    height = serializers.IntegerField(min_value=0, max_value=MAX_MASK_SIDE)
    width = serializers.IntegerField(min_value=0, max_value=MAX_MASK_SIDE)
    runs = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_MASK_SIDE**2),
        help_text="Flat [id, length, id, length, ...] over the rows.",
    )


class BoundedJSONField(serializers.JSONField):
    """A JSONField whose text (a multipart form field, which the field parses itself, not the
    request's parser) may nest no deeper than the parser allows: json raised RecursionError, a 500."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, (str, bytes)) and (self.binary or getattr(data, "is_json_string", False)):
            text = data.encode() if isinstance(data, str) else data
            if json_depth(text) > MAX_JSON_DEPTH:
                raise serializers.ValidationError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels",
                                                  code="json_too_deep")
        return super().to_internal_value(data)


@extend_schema_field(RleMask)
class MaskField(BoundedJSONField):
    """RLE JSON, checked by annotations.masks.decode_rle (field-by-field DRF validation of
    tens of thousands of runs would cost more than the request)."""


def mask_of(row: Any) -> dict[str, Any]:
    """The RLE JSON of a row that stores its label image as `mask_png` (an annotation, a prediction)."""
    return encode_rle(decode_png(row.mask_png))


# --- Auth and users ---------------------------------------------------------------------------


class TokenInput(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    is_staff = serializers.BooleanField()


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    user = UserOutput()


# --- Projects and members ---------------------------------------------------------------------


class ProjectSettingsInput(serializers.Serializer):
    """Settings an admin may change. crop_size, crop_overlap, display_channels and
    validation_fraction apply to images ingested later."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, max_length=10_000)
    display_channels = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_CHANNEL_INDEX), max_length=64,
        required=False,
    )
    model_channels = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_CHANNEL_INDEX), max_length=2, required=False
    )
    crop_size = serializers.IntegerField(min_value=16, max_value=4096, required=False)
    crop_overlap = serializers.IntegerField(min_value=0, max_value=4095, required=False)
    validation_fraction = serializers.FloatField(min_value=0, max_value=1, required=False)
    backend = serializers.CharField(max_length=50, required=False)
    backend_settings = serializers.DictField(required=False, help_text="The model backend's settings (JSON object).")
    strategy = serializers.CharField(
        max_length=50, required=False,
        help_text="What ranks the queue: a strategy's name (GET projects/{id}/queue/settings/ lists them). "
        "A change re-ranks the queue.",
    )
    random_fraction = serializers.FloatField(
        min_value=0, max_value=1, required=False,
        help_text="Share of the train queue served at random (the control group). A change re-ranks the queue.",
    )
    retrain_after_annotations = serializers.IntegerField(min_value=0, max_value=MAX_RETRAIN_AFTER, required=False)
    training_uses = serializers.ChoiceField(
        choices=TrainingUses.choices, required=False,
        help_text="What training and validation read: all current annotations (returned ones excepted), "
        "or reviewed: accepted and corrected only.",
    )
    double_label_share = serializers.FloatField(
        min_value=0, max_value=MAX_DOUBLE_LABEL_SHARE, required=False,
        help_text="Share of newly labelled training crops served blind to a second labeller, to measure agreement.",
    )
    review_sample_share = serializers.FloatField(
        min_value=0, max_value=1, required=False,
        help_text="Share of each labeller's annotations in the review queue's random sample (order=sample).",
    )


class ProjectOutput(serializers.ModelSerializer):
    role = serializers.CharField(source="user_role", allow_null=True, read_only=True)
    is_admin = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id", "name", "description", "role", "is_admin", "display_channels", "model_channels", "crop_size",
            "crop_overlap", "validation_fraction", "backend", "backend_settings", "strategy", "random_fraction",
            "retrain_after_annotations", "training_uses", "double_label_share", "review_sample_share", "created_at",
        ]

    def get_is_admin(self, project: Project) -> bool:
        return is_project_admin(self.context["request"].user, project)


class CropCounts(serializers.Serializer):
    unlabelled = serializers.IntegerField()
    leased = serializers.IntegerField()
    labelled = serializers.IntegerField()
    skipped = serializers.IntegerField()


class ProjectDetailOutput(ProjectOutput):
    crop_counts = serializers.SerializerMethodField()

    class Meta(ProjectOutput.Meta):
        fields = [*ProjectOutput.Meta.fields, "crop_counts"]

    @extend_schema_field(CropCounts)
    def get_crop_counts(self, project: Project) -> dict[str, int]:
        return selectors.crop_counts(project)


class MemberInput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.LABELLER)


class MemberRoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberOutput(serializers.ModelSerializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role"]


# --- Images -----------------------------------------------------------------------------------


class ImageUploadInput(serializers.Serializer):
    file = serializers.FileField(help_text="PNG, JPEG or TIFF (16-bit, multi-channel, OME-TIFF).")
    mask = serializers.FileField(required=False, help_text="Optional label image of the same size (PNG or TIFF).")


class ImageSplitInput(serializers.Serializer):
    split = serializers.ChoiceField(choices=Split.choices)


class ImageOutput(serializers.ModelSerializer):
    n_crops = serializers.IntegerField(read_only=True)
    n_labelled = serializers.IntegerField(read_only=True)
    file_url = serializers.SerializerMethodField(help_text="The original file, for members of the project.")

    class Meta:
        model = Image
        fields = [
            "id", "project", "original_name", "sha256", "width", "height", "channels", "dtype", "split",
            "uploaded_by", "created_at", "n_crops", "n_labelled", "file_url",
        ]

    def get_file_url(self, image: Image) -> str:
        return image_file_url(image.pk)


# --- Crops, predictions and annotations -------------------------------------------------------


class CropFilterInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=CropStatus.choices, required=False)
    split = serializers.ChoiceField(choices=Split.choices, required=False)
    tag = serializers.CharField(required=False, max_length=MAX_TAG_LENGTH)
    image = id_field(required=False)
    assigned_to = id_field(required=False)


class AnnotationInput(serializers.Serializer):
    mask = MaskField(required=False, help_text="The label image as RLE JSON (or send `mask_file`).")
    mask_file = serializers.FileField(
        required=False, help_text=f"The label image as a 16-bit PNG or TIFF, at most {MAX_MASK_FILE_BYTES // 2**20} MB."
    )
    seconds_spent = serializers.FloatField(
        min_value=0, max_value=MAX_SECONDS_SPENT, default=0.0, help_text="Time on this crop; at most a day."
    )
    edit_counts = BoundedJSONField(
        default=dict,
        help_text=f'Edits by kind, e.g. {{"delete": 2, "draw": 5}}: at most {MAX_EDIT_KINDS} kinds of at most '
        f"{MAX_EDIT_KIND_LENGTH} characters, counts 0..{MAX_EDIT_COUNT}.",
    )
    started_from = id_field(allow_null=True, default=None, help_text="Model version id or null.")
    source = serializers.ChoiceField(choices=["editor", "script", "simulation"], default="editor")

    def validate_mask_file(self, value: Any) -> Any:
        if value is not None and value.size > MAX_MASK_FILE_BYTES:
            raise serializers.ValidationError(
                f"mask_file is {value.size:,} bytes; a label image of a crop is at most {MAX_MASK_FILE_BYTES:,}"
            )
        return value

    def validate_edit_counts(self, value: Any) -> dict[str, int]:
        if not edit_counts_ok(value):
            raise serializers.ValidationError(
                f"edit_counts must map at most {MAX_EDIT_KINDS} edit kinds (names of 1..{MAX_EDIT_KIND_LENGTH} "
                f"characters) to counts (whole numbers 0..{MAX_EDIT_COUNT})"
            )
        return value


def edit_counts_ok(value: Any) -> bool:
    """A small map of short names to whole counts (bool is an int to Python, not a count)."""
    if not isinstance(value, dict) or len(value) > MAX_EDIT_KINDS:
        return False
    names_ok = all(0 < len(name) <= MAX_EDIT_KIND_LENGTH for name in value)
    counts_ok = all(type(n) is int and 0 <= n <= MAX_EDIT_COUNT for n in value.values())
    return names_ok and counts_ok


class CropOutput(serializers.Serializer):
    """A crop in lists. Plain fields, not a ModelSerializer: `next` renders one per request and
    field introspection would cost more than its queries."""

    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    image = serializers.IntegerField(source="image_id")
    x = serializers.IntegerField()
    y = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    split = serializers.ChoiceField(choices=Split.choices)
    status = serializers.ChoiceField(choices=CropStatus.choices)
    tags = serializers.SerializerMethodField()
    pinned = serializers.BooleanField()
    priority = serializers.IntegerField()
    queue_score = serializers.FloatField()
    queue_reason = serializers.CharField()
    assigned_to = serializers.IntegerField(source="assigned_to_id", allow_null=True)
    leased_by = serializers.IntegerField(source="leased_by_id", allow_null=True)
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    display_url = serializers.SerializerMethodField()

    def get_tags(self, crop: Crop) -> list[str]:
        names = getattr(crop, "tag_names", None)  # set by active_learning.selectors.crop_detail
        return names if names is not None else sorted(tag.name for tag in crop.tags.all())

    def get_display_url(self, crop: Crop) -> str:
        return crop_display_url(crop.pk)  # through the membership check, never MEDIA_URL


class AnnotationSummaryOutput(serializers.ModelSerializer):
    author_name = serializers.CharField(source="author.username", default=None, allow_null=True)
    reviewed_by_name = serializers.CharField(source="reviewed_by.username", default=None, allow_null=True)

    class Meta:
        model = Annotation
        fields = [
            "id", "crop", "version", "is_current", "author", "author_name", "n_cells", "source", "started_from",
            "seconds_spent", "edit_counts", "created_at", "review_state", "reviewed_by", "reviewed_by_name",
            "reviewed_at", "review_comment", "prediction_difference",
        ]
        extra_kwargs = {"prediction_difference": {
            "help_text": "Cells that differ from the model's prediction the labeller started from (unmatched at "
            "IoU 0.75 on either side); null when there was none to compare with."}}


class BlindLabelOutput(serializers.ModelSerializer):
    """A second, independent label of a crop (double labelling): it measures agreement and never
    replaces the crop's annotation."""

    author_name = serializers.CharField(source="author.username", default=None, allow_null=True)
    blind = serializers.BooleanField(default=True, read_only=True, help_text="Always true: a blind second label.")

    class Meta:
        model = BlindLabel
        fields = ["id", "crop", "paired_with", "author", "author_name", "n_cells", "seconds_spent", "edit_counts",
                  "created_at", "blind"]


class ReviewFilterInput(serializers.Serializer):
    state = serializers.ChoiceField(choices=ReviewState.choices, default=ReviewState.SUBMITTED,
                                    help_text="review state of the current annotations listed (default submitted)")
    order = serializers.ChoiceField(
        choices=REVIEW_ORDERS, default=NEWEST,
        help_text="newest first (default); difference: most cells changed from the model's prediction first; "
        "sample: the project's review_sample_share of each labeller's annotations, newest first; random: shuffled "
        "afresh on each request",
    )


class ReviewInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=REVIEW_ACTIONS)
    comment = serializers.CharField(
        max_length=MAX_REVIEW_COMMENT, allow_blank=True, required=False, default="",
        help_text="what the labeller should change (required to return)",
    )


class AnnotationOutput(AnnotationSummaryOutput):
    mask = serializers.SerializerMethodField()

    class Meta(AnnotationSummaryOutput.Meta):
        fields = [*AnnotationSummaryOutput.Meta.fields, "mask"]

    @extend_schema_field(RleMask)
    def get_mask(self, annotation: Annotation) -> dict[str, Any]:
        return mask_of(annotation)


