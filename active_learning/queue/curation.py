"""What admins do to the queue: pin, boost, bury, tag, assign, skip, requeue, focus on an image,
tag or split, and choose the strategy and the random share (which re-ranks it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F

from active_learning.queue.ranking import RankingSummary, rank_queue, ranking_version
from active_learning.strategies import STRATEGIES, get_strategy
from annotations.models import Crop, CropStatus, Membership, Project, Tag
from labelserver.errors import DomainError

# Admin focus on an image, tag or split is a priority boost of its crops (above the ranking).
FOCUS_PRIORITY = 10


def queue_settings(project: Project) -> dict[str, Any]:
    version = ranking_version(project)
    return {
        "strategy": project.strategy,
        "random_fraction": project.random_fraction,
        "strategies": sorted(STRATEGIES),
        "ranked_with_version": version.number if version else None,
    }


def set_queue_settings(project: Project, *, strategy: str | None = None,
                       random_fraction: float | None = None) -> RankingSummary:
    """Choose the project's strategy and random control fraction, then re-rank the queue."""
    changes: dict[str, Any] = {}
    if strategy is not None:
        get_strategy(strategy)  # an unknown name is refused (400) before anything changes
        changes["strategy"] = strategy
    if random_fraction is not None:
        if not 0.0 <= random_fraction <= 1.0:
            raise DomainError(f"random_fraction must be between 0 and 1, not {random_fraction}")
        changes["random_fraction"] = random_fraction
    Project.objects.filter(pk=project.pk).update(**changes)
    for name, value in changes.items():
        setattr(project, name, value)
    return rank_queue(project)


def skip_crops(*, project: Project, crop_ids: Iterable[int]) -> int:
    """Take waiting crops out of the queue (a leased crop stays with its labeller)."""
    crops = Crop.objects.filter(project=project, id__in=list(crop_ids), status=CropStatus.UNLABELLED)
    return crops.update(status=CropStatus.SKIPPED)


def focus_queue(*, project: Project, image_id: int | None = None, tag: str | None = None,
                split: str | None = None, priority: int = FOCUS_PRIORITY) -> int:
    """Serve the waiting crops of one image, tag or split before the ranking: a priority boost of
    the matching crops (priority 0 clears the focus). Pins still come first."""
    if image_id is None and tag is None and split is None:
        raise DomainError("say what to focus on: an image, a tag or a split")
    crops = Crop.objects.filter(project=project).exclude(status=CropStatus.LABELLED)
    filters = {"image_id": image_id, "tags__name": tag, "split": split}
    crops = crops.filter(**{k: v for k, v in filters.items() if v is not None})
    return prioritise_crops(project=project, crop_ids=crops.values_list("id", flat=True),
                                          priority=priority)


QUEUE_ACTIONS = ("pin", "unpin", "boost", "bury", "reset_priority", "skip", "requeue", "tag", "untag", "assign",
                 "unassign")


def apply_action(project: Project, action: str, crop_ids: Sequence[int], *, priority: int | None = None,
                 tags: Sequence[str] = (), user_id: int | None = None) -> int:
    """One admin action on a batch of crops; returns how many crops it changed."""
    ids = list(crop_ids)
    if action in ("pin", "unpin"):
        return pin_crops(project=project, crop_ids=ids, pinned=action == "pin")
    if action in ("boost", "bury", "reset_priority"):
        return prioritise_crops(project=project, crop_ids=ids, priority=_priority(action, priority))
    if action == "skip":
        return skip_crops(project=project, crop_ids=ids)
    if action == "requeue":
        return requeue_crops(project=project, crop_ids=ids)
    if action in ("tag", "untag"):
        return _tag(project, action, ids, tags)
    if action in ("assign", "unassign"):
        if action == "assign" and user_id is None:
            raise DomainError("assign needs user_id: the member the crops go to")
        member = user_id if action == "assign" else None
        return assign_crops(project=project, crop_ids=ids, user_id=member)
    raise DomainError(f"unknown queue action {action!r}; known: {', '.join(QUEUE_ACTIONS)}")


def _priority(action: str, priority: int | None) -> int:
    if action == "reset_priority":
        return 0
    magnitude = abs(priority) if priority is not None else 1
    if magnitude == 0:
        raise DomainError(f"{action} needs a priority other than 0")
    return magnitude if action == "boost" else -magnitude


def _tag(project: Project, action: str, ids: list[int], tags: Sequence[str]) -> int:
    if not tags:
        raise DomainError(f"{action} needs tags")
    add, remove = (tags, ()) if action == "tag" else ((), tags)
    tag_crops(project=project, crop_ids=ids, add=add, remove=remove)
    return Crop.objects.filter(project=project, id__in=ids).count()


def requeue_crops(*, project: Project, crop_ids: Iterable[int]) -> int:
    """Send skipped crops back to the queue."""
    skipped = Crop.objects.filter(project=project, id__in=list(crop_ids), status=CropStatus.SKIPPED)
    return skipped.update(status=CropStatus.UNLABELLED)


def _crops(project: Project, crop_ids: Iterable[int]):
    return Crop.objects.filter(project=project, id__in=list(crop_ids))


def pin_crops(*, project: Project, crop_ids: Iterable[int], pinned: bool = True) -> int:
    """Pinned crops are served before all others."""
    return _crops(project, crop_ids).update(pinned=pinned)


def prioritise_crops(*, project: Project, crop_ids: Iterable[int], priority: int) -> int:
    """Set the admin priority: > 0 boosts, < 0 buries, 0 leaves the ranking to the strategy."""
    return _crops(project, crop_ids).update(priority=priority)


def shift_priority(*, project: Project, crop_ids: Iterable[int], by: int) -> int:
    """Boost (by > 0) or bury (by < 0) crops relative to their current admin priority."""
    return _crops(project, crop_ids).update(priority=F("priority") + by)


def assign_crops(*, project: Project, crop_ids: Iterable[int], user_id: int | None) -> int:
    """Reserve crops for one member (served to them first, never to anyone else); None frees them."""
    if user_id is not None and not Membership.objects.filter(project=project, user_id=user_id).exists():
        raise DomainError(f"user {user_id} is not a member of this project; crops go to members only")
    return _crops(project, crop_ids).update(assigned_to_id=user_id)


def _tags(project: Project, names: Iterable[str]) -> list[Tag]:
    return [Tag.objects.get_or_create(project=project, name=name.strip())[0] for name in names if name.strip()]


@transaction.atomic
def tag_crops(
    *, project: Project, crop_ids: Iterable[int], add: Iterable[str] = (), remove: Iterable[str] = ()
) -> None:
    crops = list(_crops(project, crop_ids))
    added, removed = _tags(project, add), Tag.objects.filter(project=project, name__in=list(remove))
    through = Crop.tags.through
    through.objects.bulk_create(
        [through(crop_id=c.id, tag_id=t.id) for c in crops for t in added], ignore_conflicts=True
    )
    through.objects.filter(crop__in=crops, tag__in=removed).delete()


@transaction.atomic
def set_crop_tags(*, crop: Crop, names: Iterable[str]) -> None:
    crop.tags.set(_tags(crop.project, names))


@transaction.atomic
def update_crop(*, crop: Crop, **changes: Any) -> None:
    """One admin edit of one crop: any of pinned, priority, tags, assigned_to (a user id or None)."""
    ids = [crop.id]
    if "pinned" in changes:
        pin_crops(project=crop.project, crop_ids=ids, pinned=changes["pinned"])
    if "priority" in changes:
        prioritise_crops(project=crop.project, crop_ids=ids, priority=changes["priority"])
    if "assigned_to" in changes:
        assign_crops(project=crop.project, crop_ids=ids, user_id=changes["assigned_to"])
    if "tags" in changes:
        set_crop_tags(crop=crop, names=changes["tags"])
