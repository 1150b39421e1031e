from django.contrib import admin

from active_learning import models


@admin.register(models.Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "kind", "status", "trigger", "created_at", "finished_at")
    list_filter = ("kind", "status", "project")


@admin.register(models.ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("project", "number", "status", "origin", "n_train_crops", "created_at")
    list_filter = ("project", "status")
    raw_id_fields = ("parent", "training_job")
    filter_horizontal = ()
    exclude = ("trained_on",)


@admin.register(models.Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ("id", "crop", "model_version", "n_cells", "created_at")
    raw_id_fields = ("crop", "model_version")
    exclude = ("mask_png",)


@admin.register(models.CropScore)
class CropScoreAdmin(admin.ModelAdmin):
    list_display = ("crop", "model_version", "strategy", "score")
    list_filter = ("strategy",)
    raw_id_fields = ("crop", "model_version")
