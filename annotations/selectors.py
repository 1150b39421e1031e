"""Reads: what a user may see, the labelling queue, and what a crop shows to its labeller.

Every lookup by id goes through a `*_for(user, id)` selector that only finds rows of projects the
user belongs to (staff see every project), so another project's objects answer 404, never 403.
Each row comes annotated with `user_role` (the user's Membership role, or None for staff who are
not members), which annotations.permissions reads without another query.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from active_learning.models import ModelVersionStatus, Prediction
from annotations.models import Annotation, Crop, CropStatus, Image, Membership, Project, Split, Tag
from labelserver.errors import NotFound

# The labelling queue's order, column for column the index `crop_queue_order` in
# annotations/models.py (after its equality columns project and status). Crops assigned to the
# asking labeller come before all of these (see `my_queue`).
QUEUE_ORDER: tuple[str, ...] = ("-pinned", "-priority", "-queue_score", "id")


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


def crop_detail(crop_id: int) -> Crop:
    """A crop with what the labeller sees: tag names, its current annotation, the prediction to
    start from and its rank in the queue. Five small indexed queries; `next` serves one per request."""
    crop = Crop.objects.select_related("image").get(pk=crop_id)
    crop.rank = queue_rank(crop)
    crop.tag_names = sorted(Tag.objects.filter(crops=crop_id).values_list("name", flat=True))
    crop.current_annotation = current_annotation(crop)
    crop.prediction = newest_prediction(crop)
    return crop


def current_annotation(crop: Crop) -> Annotation | None:
    return Annotation.objects.filter(crop=crop, is_current=True).select_related("author").first()


def newest_prediction(crop: Crop) -> Prediction | None:
    """The active model version's prediction if there is one, else the newest model's (a crop
    has one prediction per model version, so a handful at most: chosen here, not in SQL)."""
    predictions = list(Prediction.objects.filter(crop=crop).select_related("model_version"))
    return max(
        predictions,
        key=lambda p: (p.model_version.status == ModelVersionStatus.ACTIVE, p.model_version.number),
        default=None,
    )


def annotation_history(crop: Crop) -> QuerySet[Annotation]:
    return Annotation.objects.filter(crop=crop).select_related("author").order_by("-version")


# --- The labelling queue ----------------------------------------------------------------------


def my_queue(*, project: Project, user: AbstractBaseUser, now: datetime) -> tuple[int | None, list[int]]:
    """In one query: the queue crop this user holds a live lease on (if any), and the unlabelled
    crops an admin assigned to them (served first, whatever their split), best first.

    The query names only the user's columns (leased_by, assigned_to), so the database reads the
    user's few rows through those two indexes; with project_id in the WHERE clause SQLite would
    walk every unlabelled crop of the project instead. The project is picked out here."""
    held = Q(status=CropStatus.LEASED, leased_by=user, lease_expires_at__gt=now)
    assigned = Q(status=CropStatus.UNLABELLED, assigned_to=user)
    rows = Crop.objects.filter(held | assigned).order_by(*QUEUE_ORDER).values_list("id", "project_id", "status")
    mine = [(crop_id, status) for crop_id, project_id, status in rows if project_id == project.pk]
    held_ids = [crop_id for crop_id, status in mine if status == CropStatus.LEASED]
    return (held_ids[0] if held_ids else None), [crop_id for crop_id, status in mine if status != CropStatus.LEASED]


def open_queue(*, project: Project | int, split: str = Split.TRAIN) -> QuerySet[Crop]:
    """Unassigned crops of one split, best first; walks the index `crop_queue_order`."""
    crops = Crop.objects.filter(project=project, status=CropStatus.UNLABELLED, split=split, assigned_to__isnull=True)
    return crops.order_by(*QUEUE_ORDER)


def open_queue_head(*, project: Project, split: str, skip_locked: bool) -> int | None:
    """The first unassigned crop, locked on PostgreSQL (a no-op on SQLite, whose IMMEDIATE
    transactions already serialise claims). With skip_locked a crop another transaction holds is
    passed over, not waited for; without it the read waits for the holder to commit. One row
    only: a claimer that locked more would hide crops it will never take from everyone else."""
    crops = open_queue(project=project, split=split).select_for_update(skip_locked=skip_locked)
    return crops.values_list("id", flat=True).first()


def queue_rank(crop: Crop) -> int | None:
    """The crop's place in the open queue of its split now (1 = served next): 1 + the waiting
    unassigned crops ahead of it in QUEUE_ORDER. None for a crop outside the queue (labelled or
    skipped, e.g. leased for correction).

    One COUNT over the four disjoint ways of being ahead, as UNION ALL: each part is a range of
    the index `crop_queue_order` (SQLite plans the same four as an OR by scanning every waiting
    crop of the project), so the cost grows with the rank, and a crop just served is near 1."""
    if crop.status not in (CropStatus.UNLABELLED, CropStatus.LEASED):
        return None
    queue = open_queue(project=crop.project_id, split=crop.split).order_by().values("id")
    same_pin = queue.filter(pinned__in=[crop.pinned])  # an equality the index can use (not `NOT pinned`)
    parts = [
        queue.filter(pinned__gt=crop.pinned),
        same_pin.filter(priority__gt=crop.priority),
        same_pin.filter(priority=crop.priority, queue_score__gt=crop.queue_score),
        same_pin.filter(priority=crop.priority, queue_score=crop.queue_score, id__lt=crop.pk),
    ]
    return parts[0].union(*parts[1:], all=True).count() + 1
