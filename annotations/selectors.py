"""Reads: what a user may see of projects, members, images, crops and annotations (the queue's
reads are active_learning.queue's; a crop with its prediction is active_learning.selectors').

Every lookup by id goes through a `*_for(user, id)` selector that only finds rows of projects the
user belongs to (staff see every project), so another project's objects answer 404, never 403.
Each row comes annotated with `user_role` (the user's Membership role, or None for staff who are
not members), which annotations.permissions reads without another query.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from annotations.models import Annotation, Crop, CropStatus, Image, Membership, Project
from labelserver.errors import NotFound


def _role_subquery(user: AbstractBaseUser, project_ref: str) -> Subquery:
    roles = Membership.objects.filter(project=OuterRef(project_ref), user=user).values("role")[:1]
    return Subquery(roles)


def _visible(queryset: QuerySet, user: AbstractBaseUser, project_ref: str) -> QuerySet:
    queryset = queryset.annotate(user_role=_role_subquery(user, project_ref))
    return queryset if user.is_staff else queryset.filter(user_role__isnull=False)


def _find(queryset: QuerySet, pk: int, user: AbstractBaseUser, project_path: str, what: str):
    """Row `pk` if it is in one of the user's projects (staff: any project), with `user_role` set;
    else NotFound. One join through the user's membership: this runs on every request."""
    mine = queryset.filter(pk=pk, **{f"{project_path}memberships__user": user})
    row = mine.annotate(user_role=F(f"{project_path}memberships__role")).first()
    if row is None and user.is_staff:
        row = queryset.filter(pk=pk).first()
        if row is not None:
            row.user_role = None
    if row is None:
        raise NotFound(f"{what} {pk} does not exist or is not in one of your projects")
    return row


# --- Projects and members ---------------------------------------------------------------------


def projects_for(user: AbstractBaseUser) -> QuerySet[Project]:
    return _visible(Project.objects.all(), user, "pk").order_by("name")


def project_for(user: AbstractBaseUser, project_id: int) -> Project:
    return _find(Project.objects.all(), project_id, user, "", "Project")


def role_in(user: AbstractBaseUser, project: Project) -> str | None:
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def crop_counts(project: Project) -> dict[str, int]:
    rows = Crop.objects.filter(project=project).values("status").annotate(n=Count("id")).order_by()
    counts = {status: 0 for status in CropStatus.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def project_members(project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")


# --- Images -----------------------------------------------------------------------------------


def _with_crop_counts(images: QuerySet[Image]) -> QuerySet[Image]:
    return images.annotate(
        n_crops=Count("crops"), n_labelled=Count("crops", filter=Q(crops__status=CropStatus.LABELLED))
    )


def image_for(user: AbstractBaseUser, image_id: int) -> Image:
    return _find(_with_crop_counts(Image.objects.all()), image_id, user, "project__", "Image")


def project_images(project: Project) -> QuerySet[Image]:
    return _with_crop_counts(Image.objects.filter(project=project)).order_by("id")


def image_with_counts(image_id: int) -> Image:
    return _with_crop_counts(Image.objects.filter(pk=image_id)).get()


# --- Crops ------------------------------------------------------------------------------------


def crop_for(user: AbstractBaseUser, crop_id: int) -> Crop:
    return _find(Crop.objects.select_related("project", "image"), crop_id, user, "project__", "Crop")


def crop_display_for(user: AbstractBaseUser, crop_id: int) -> str:
    """The storage name of a crop's display PNG, if the user may see the crop (NotFound otherwise).
    Read on every editor open, so kept lean: one indexed query through the user's membership that
    reads the one column naming the file (no model built, no role read)."""
    mine = Crop.objects.filter(pk=crop_id, project__memberships__user_id=user.pk)
    name = mine.values_list("display", flat=True)[:1]
    if not name and getattr(user, "is_staff", False):
        name = Crop.objects.filter(pk=crop_id).values_list("display", flat=True)[:1]
    if not name:
        raise NotFound(f"Crop {crop_id} does not exist or is not in one of your projects")
    return name[0]


def image_file_for(user: AbstractBaseUser, image_id: int) -> Image:
    """An image (for its stored original) if the user may see it; NotFound otherwise."""
    images = Image.objects.only("id", "project_id", "file", "original_name")
    return _find(images, image_id, user, "project__", "Image")


def project_crops(
    project: Project,
    *,
    status: str | None = None,
    split: str | None = None,
    tag: str | None = None,
    image_id: int | None = None,
    assigned_to: int | None = None,
) -> QuerySet[Crop]:
    filters = {"status": status, "split": split, "tags__name": tag, "image_id": image_id, "assigned_to": assigned_to}
    crops = Crop.objects.filter(project=project, **{k: v for k, v in filters.items() if v is not None})
    return crops.prefetch_related("tags").order_by("id")


def current_annotation(crop: Crop) -> Annotation | None:
    return Annotation.objects.filter(crop=crop, is_current=True).select_related("author", "reviewed_by").first()


def annotation_for(user: AbstractBaseUser, annotation_id: int) -> Annotation:
    return _find(Annotation.objects.select_related("crop"), annotation_id, user, "crop__project__", "Annotation")


def annotation_history(crop: Crop) -> QuerySet[Annotation]:
    return Annotation.objects.filter(crop=crop).select_related("author", "reviewed_by").order_by("-version")


# --- The labelling queue ----------------------------------------------------------------------


