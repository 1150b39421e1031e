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
    # One trial of a sweep, and the step that ends a sweep (see active_learning/sweeps.py).
    SWEEP_TRIAL = "sweep_trial", "Sweep trial"
    SWEEP_FINISH = "sweep_finish", "Sweep finish"
    # Moving files in and out of a project (active_learning/transfers.py), on the default queue.
    INGEST = "ingest", "Ingest an image"
    IMPORT = "import", "Import annotations"
    EXPORT = "export", "Export"


# Kinds run by the CPU workers of the `default` queue; the others need the model (the `gpu` queue).
TRANSFER_JOB_KINDS = (JobKind.INGEST, JobKind.IMPORT, JobKind.EXPORT)


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
    # What a finished job made, for its caller: an ingest's image, an import's report, an export's file.
    result = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # The sweep a trial or finishing job belongs to.
    sweep = models.ForeignKey("Sweep", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")

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


class SweepKind(models.TextChoices):
    SEARCH = "search", "Settings search"  # an Optuna study over the training settings
    SUBSAMPLE = "subsample", "Subsample study"  # retrain on nested shares of the labelled crops


class SweepStatus(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHING = "finishing", "Finishing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Sweep(models.Model):
    """A set of training trials run as ordinary jobs; for a search, an Optuna study kept in the
    project's own database (`study_name`)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sweeps")
    kind = models.CharField(max_length=20, choices=SweepKind.choices, default=SweepKind.SEARCH)
    status = models.CharField(max_length=20, choices=SweepStatus.choices, default=SweepStatus.RUNNING)
    n_trials = models.PositiveIntegerField()
    parallel = models.PositiveIntegerField(default=1)  # trial jobs queued at a time
    # Trial jobs queued so far (claimed with a conditional UPDATE, so two ending trials never
    # queue the same slot); resuming sets it back to the trials that counted.
    n_launched = models.PositiveIntegerField(default=0)
    # search: {"<parameter>": {"low", "high", "log"} | {"choices": [...]} | {"fixed": value}};
    # subsample: {"fractions": [...], "seeds": [...]}
    search_space = models.JSONField(default=dict, blank=True)
    study_name = models.CharField(max_length=100, blank=True)
    # search: {"candidate": version id, "promoted": bool}; subsample: the fitted curve and its answer
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} sweep {self.pk} ({self.status})"


class TrialState(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETE = "complete", "Complete"
    PRUNED = "pruned", "Pruned"
    FAILED = "failed", "Failed"


class SweepTrial(models.Model):
    """One training of a sweep: the settings it ran with and what it measured on the validation crops."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="trials")
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="sweep_trial")
    number = models.PositiveIntegerField()  # Optuna's trial number; the plan's slot for a subsample study
    params = models.JSONField(default=dict, blank=True)  # what was searched (or the share and seed)
    settings = models.JSONField(default=dict, blank=True)  # the backend settings it trained with
    state = models.CharField(max_length=20, choices=TrialState.choices, default=TrialState.RUNNING)
    ap50 = models.FloatField(null=True, blank=True)
    ap75 = models.FloatField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)  # the objective (sweeps.objective)
    n_train_crops = models.PositiveIntegerField(default=0)
    n_train_cells = models.PositiveIntegerField(default=0)
    history = models.JSONField(default=list, blank=True)  # per-epoch {"epoch", "loss", "val_loss"}
    trained_on = models.JSONField(default=list, blank=True)  # the annotation ids it trained on
    # The version a trial fine-tuned from ("active" start point); None from scratch or named weights.
    start_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sweep", "number"], name="unique_sweep_trial_number")]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"trial {self.number} of sweep {self.sweep_id} ({self.state})"
