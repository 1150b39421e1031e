"""Projects, images, crops, annotations and leases: the labelling data.

A crop is the unit of labelling, prediction and ranking. Label images (instance masks: uint16,
0 = background, one id per cell) are stored in the database as 16-bit PNG bytes, so that an
annotation and its mask commit or roll back together.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Role(models.TextChoices):
    """labeller < reviewer < admin: a reviewer does what a labeller does and reviews annotations."""

    ADMIN = "admin", "Admin"
    REVIEWER = "reviewer", "Reviewer"
    LABELLER = "labeller", "Labeller"


# The roles that may review annotations (staff may too, in every project).
REVIEW_ROLES: tuple[str, ...] = (Role.REVIEWER, Role.ADMIN)


class TrainingUses(models.TextChoices):
    """Which current annotations training (and validation) reads."""

    ALL = "all", "All current annotations"
    REVIEWED = "reviewed", "Accepted or corrected only"


DEFAULT_DOUBLE_LABEL_SHARE = 0.05
# Double labelling halves the labelling a crop buys: past a half it is mostly a second opinion.
MAX_DOUBLE_LABEL_SHARE = 0.5
DEFAULT_REVIEW_SAMPLE_SHARE = 0.2


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # Channel indices of the stored image: which to show, and which to feed the model
    # (Cellpose takes up to two: cytoplasm, nucleus).
    display_channels = models.JSONField(default=list, blank=True)
    model_channels = models.JSONField(default=list, blank=True)
    crop_size = models.PositiveIntegerField(default=256)
    crop_overlap = models.PositiveIntegerField(default=0)
    validation_fraction = models.FloatField(default=0.2)
    # Model backend and its typed settings (validated by active_learning.backends).
    backend = models.CharField(max_length=50, default="cellpose")
    backend_settings = models.JSONField(default=dict, blank=True)
    # Active learning: which strategy ranks the queue, and the share kept random as a control.
    strategy = models.CharField(max_length=50, default="combined_fitted")  # strategies.DEFAULT_STRATEGY
    random_fraction = models.FloatField(default=0.1)
    # Retrain automatically after this many new annotations since the active version (0 = off).
    retrain_after_annotations = models.PositiveIntegerField(default=0)
    training_uses = models.CharField(max_length=20, choices=TrainingUses.choices, default=TrainingUses.ALL)
    # Agreement (annotations.double_labelling): the share of labelled training crops served blind to
    # a second labeller, so that labellers' agreement can be measured.
    double_label_share = models.FloatField(default=DEFAULT_DOUBLE_LABEL_SHARE)
    # Review: the share of each labeller's submissions in the review queue's random sample.
    review_sample_share = models.FloatField(default=DEFAULT_REVIEW_SAMPLE_SHARE)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.LABELLER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class Image(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    sha256 = models.CharField(max_length=64)
    # Stored once, under its content hash.
    file = models.FileField(upload_to="images/", max_length=300)
    original_name = models.CharField(max_length=300)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    channels = models.PositiveSmallIntegerField()
    dtype = models.CharField(max_length=20)
    split = models.CharField(max_length=20, choices=Split.choices, default=Split.TRAIN)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="unique_image_per_project")]

    def __str__(self) -> str:
        return self.original_name


class Tag(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_tag_per_project")]

    def __str__(self) -> str:
        return self.name


class CropStatus(models.TextChoices):
    UNLABELLED = "unlabelled", "Unlabelled"
    LEASED = "leased", "Leased"
    LABELLED = "labelled", "Labelled"
    SKIPPED = "skipped", "Skipped"


class Crop(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="crops")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="crops")
    x = models.PositiveIntegerField()
    y = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # Copied from the image so the queue query needs no join.
    split = models.CharField(max_length=20, choices=Split.choices, default=Split.TRAIN)
    status = models.CharField(max_length=20, choices=CropStatus.choices, default=CropStatus.UNLABELLED)
    tags = models.ManyToManyField(Tag, blank=True, related_name="crops")
    # Rendered once at ingest (8-bit PNG, percentile contrast), served as a static file.
    display = models.FileField(upload_to="crops/", max_length=300)
    # Queue order: pinned first, then admin priority (boost > 0, bury < 0), then the strategy's
    # score for the active model version (written by active_learning.queue), then oldest.
    pinned = models.BooleanField(default=False)
    priority = models.IntegerField(default=0)
    # Larger is served first; 0 means "not ranked yet". active_learning.queue writes it.
    queue_score = models.FloatField(default=0.0)
    queue_reason = models.CharField(max_length=50, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_crops"
    )
    leased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="leased_crops"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A labelled crop sampled for double labelling that still waits for its second, blind label
    # (annotations.double_labelling).
    blind_wanted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Not a column: whether the crop is being shown to someone for its blind second label (set
    # where a crop is prepared for a viewer, active_learning.selectors.crop_detail).
    blind: bool

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "x", "y", "width", "height"], name="unique_crop_window"),
            models.CheckConstraint(
                condition=Q(status="leased", leased_by__isnull=False, lease_expires_at__isnull=False)
                | ~Q(status="leased"),
                name="leased_crop_has_holder",
            ),
        ]
        indexes = [
            # Matches active_learning.queue.serving.QUEUE_ORDER column for column.
            models.Index(
                F("project"),
                F("status"),
                F("pinned").desc(),
                F("priority").desc(),
                F("queue_score").desc(),
                F("id"),
                name="crop_queue_order",
            ),
            models.Index(fields=["project", "status", "lease_expires_at"], name="crop_lease_expiry"),
            models.Index(fields=["project"], condition=Q(blind_wanted=True), name="crop_blind_wanted"),
        ]

    def __str__(self) -> str:
        return f"{self.image} [{self.x},{self.y} {self.width}x{self.height}]"

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in image pixels, end-exclusive."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)


class ReviewState(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    CORRECTED = "corrected", "Corrected"  # a reviewer's new version of someone else's annotation
    RETURNED = "returned", "Returned"  # sent back to its author with a comment


MAX_REVIEW_COMMENT = 2000


class Annotation(models.Model):
    """One submitted instance mask for a crop. Never overwritten: each submission is a new
    version and the newest is current."""

    crop = models.ForeignKey(Crop, on_delete=models.CASCADE, related_name="annotations")
    version = models.PositiveIntegerField()
    is_current = models.BooleanField(default=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # 16-bit PNG of the uint16 label image, crop-sized.
    mask_png = models.BinaryField()
    n_cells = models.PositiveIntegerField()
    # Where it came from: the labelling tool, an import, or a simulation.
    source = models.CharField(max_length=20, default="editor")
    started_from = models.ForeignKey(
        "active_learning.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    seconds_spent = models.FloatField(default=0)
    edit_counts = models.JSONField(default=dict, blank=True)
    # Why the queue served this crop (Crop.queue_reason at submission): the strategy's pick, the
    # random control group, a pin... so the payoff of active learning can be measured.
    queue_reason = models.CharField(max_length=50, blank=True)
    # Review (annotations.reviews): the state, and who reviewed it when, with a comment for a return.
    review_state = models.CharField(max_length=20, choices=ReviewState.choices, default=ReviewState.SUBMITTED)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.CharField(max_length=MAX_REVIEW_COMMENT, blank=True)
    # Cells that differ from the prediction the labeller started from (unmatched at IoU 0.75 on
    # either side), for the review queue's "most changed" order; written by the learning side
    # (active_learning.agreement), like Crop.queue_score. Null: no prediction to compare with.
    prediction_difference = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["crop", "version"], name="unique_annotation_version"),
            models.UniqueConstraint(fields=["crop"], condition=Q(is_current=True), name="one_current_annotation"),
        ]
        indexes = [models.Index(fields=["crop", "-version"], name="annotation_history")]

    def __str__(self) -> str:
        return f"annotation v{self.version} of crop {self.crop_id}"

    @property
    def n_edits(self) -> int:
        return int(sum(self.edit_counts.values()))


class BlindLabel(models.Model):
    """A second, independent label of a crop, drawn without seeing the first (the crop's current
    annotation when it was made, `paired_with`). It measures agreement only: training and exports
    read annotations, never these."""

    crop = models.OneToOneField(Crop, on_delete=models.CASCADE, related_name="blind_label")
    paired_with = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="blind_labels")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    mask_png = models.BinaryField()
    n_cells = models.PositiveIntegerField()
    seconds_spent = models.FloatField(default=0)
    edit_counts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"blind label of crop {self.crop_id}"
