from django.contrib import admin

from annotations import models


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "crop_size", "backend", "strategy", "created_at")


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("project", "user", "role")
    list_filter = ("role", "project")


@admin.register(models.Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("original_name", "project", "width", "height", "channels", "dtype", "split")
    list_filter = ("project", "split")


@admin.register(models.Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "project")


@admin.register(models.Crop)
class CropAdmin(admin.ModelAdmin):
    list_display = ("id", "image", "x", "y", "width", "height", "status", "split", "pinned", "priority", "queue_score")
    list_filter = ("project", "status", "split", "pinned")
    raw_id_fields = ("image", "assigned_to", "leased_by")


@admin.register(models.Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ("id", "crop", "version", "is_current", "author", "n_cells", "source", "created_at")
    list_filter = ("is_current", "source")
    raw_id_fields = ("crop", "started_from")
    exclude = ("mask_png",)
