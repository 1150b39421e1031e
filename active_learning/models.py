"""Model versions, background jobs, predictions and uncertainty scores."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotations.models import Crop, Project


class JobKind(models.TextChoices):
    TRAIN = "train", "Train"
    PREDICT = "predict", "Predict"
    SCORE = "score", "Score"
    EVALUATE = "evaluate", "Evaluate"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class Job(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=JobKind.choices)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    # The model version a job works from (predict/score/evaluate), or fine-tunes from (train).
    model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    trigger = models.CharField(max_length=30, default="manual")  # manual, schedule, annotations, promotion
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Live progress for the UI: {"epoch": 3, "n_epochs": 50, "loss": 0.4, "val_loss": 0.5, "done": 3, "total": 50}
    progress = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            # Never two trainings of one project at once: the database refuses the second.
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(kind="train", status__in=["queued", "running"]),
                name="one_active_training_per_project",
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="job_liveness")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"


class ModelVersionStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    number = models.PositiveIntegerField()
    backend = models.CharField(max_length=50, default="cellpose")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    training_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Where the weights came from when not trained here: "scratch", "pretrained:cyto3", "upload".
    origin = models.CharField(max_length=100, default="trained")
    weights = models.FileField(upload_to="models/", max_length=300, blank=True)
    weights_sha256 = models.CharField(max_length=64, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=list, blank=True)  # per-epoch {"epoch", "loss", "val_loss"}
    trained_on = models.ManyToManyField("annotations.Annotation", blank=True, related_name="+")
    n_train_crops = models.PositiveIntegerField(default=0)
    n_train_cells = models.PositiveIntegerField(default=0)
    # Evaluation on the validation split: {"ap50": .., "ap75": .., "ap90": .., "n_crops": .., "per_crop": [...]}
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=ModelVersionStatus.choices, default=ModelVersionStatus.CANDIDATE)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_model_version_number"),
            models.UniqueConstraint(fields=["project"], condition=Q(status="active"), name="one_active_model_version"),
        ]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"{self.project} v{self.number} ({self.status})"


class Prediction(models.Model):
    """A model version's instance mask for a crop, served to labellers as a starting point."""

    crop = models.ForeignKey(Crop, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    mask_png = models.BinaryField()
    n_cells = models.PositiveIntegerField()
    # Per-cell uncertainty, {"<cell id>": score}, so the editor can point at doubtful cells.
    cell_uncertainty = models.JSONField(default=dict, blank=True)
    # The missed_cells strategy's regions, so the editor can circle them.
    possible_missed_cells = models.JSONField(
        default=list, blank=True,
        help_text="Places outside the predicted cells where the model may have missed a cell: "
        "[[x, y, radius], ...] in crop pixels, largest first.",
    )
    # The network's cell probability and flows over the crop (backends/proposals.pack_maps: an
    # npz of int8 maps, 54 kB per 256-px crop on average, 28-85), so a click proposes a cell without running the
    # network again. Kept for the serving version's predictions only (prediction.store_predictions).
    maps = models.BinaryField(
        null=True, blank=True, editable=False,
        help_text="Cell probability and flows of the prediction, quantised to int8 in a compressed npz.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["crop", "model_version"], name="unique_prediction")]

    def __str__(self) -> str:
        return f"prediction of crop {self.crop_id} by version {self.model_version_id}"


class CropScore(models.Model):
    """A strategy's score of a crop under a model version; never recomputed for the same key."""

    crop = models.ForeignKey(Crop, on_delete=models.CASCADE, related_name="scores")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="scores")
    strategy = models.CharField(max_length=50)
    score = models.FloatField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["crop", "model_version", "strategy"], name="unique_crop_score")
        ]
        indexes = [models.Index(fields=["model_version", "strategy", "-score"], name="score_ranking")]

    def __str__(self) -> str:
        return f"{self.strategy} score {self.score:.3f} of crop {self.crop_id}"
