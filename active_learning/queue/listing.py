"""The ranked queue as admins see it: each crop with its rank, the reason it is there, and the
scores the ranking version stored for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import QuerySet

from active_learning.models import CropScore, ModelVersion
from active_learning.queue.ranking import ranking_version
from active_learning.queue.serving import QUEUE_ORDER
from active_learning.scoring import DESCRIPTOR
from annotations.models import Crop, CropStatus, Project, Split


@dataclass(frozen=True)
class QueueEntry:
    crop: Crop
    rank: int
    reason: str
    scores: dict[str, float]
    model_version: int | None


def shown_reason(crop: Crop) -> str:
    """Why the crop is where it is: an admin's pin or priority outranks the strategy's reason."""
    if crop.pinned:
        return "pinned"
    if crop.priority > 0:
        return f"boost:{crop.priority}"
    if crop.priority < 0:
        return f"buried:{crop.priority}"
    return crop.queue_reason or "unranked"


def queue_crops(project: Project, *, split: str = Split.TRAIN, statuses: Sequence[str] = (CropStatus.UNLABELLED,
                CropStatus.LEASED), tag: str | None = None, image_id: int | None = None,
                assigned_to: int | None = None) -> QuerySet[Crop]:
    crops = Crop.objects.filter(project=project, split=split, status__in=list(statuses))
    filters = {"tags__name": tag, "image_id": image_id, "assigned_to_id": assigned_to}
    crops = crops.filter(**{k: v for k, v in filters.items() if v is not None})
    return crops.select_related("leased_by", "assigned_to", "image").prefetch_related("tags").order_by(
        *QUEUE_ORDER
    )


def queue_page(crops: QuerySet[Crop], project: Project, *, offset: int = 0, limit: int = 50) -> list[QueueEntry]:
    """One page of the ranked queue with each crop's rank (its position in this order), reason,
    and the scores the ranking version stored for it."""
    page = list(crops[offset : offset + limit])
    version = ranking_version(project)
    number = version.number if version else None
    scores = _scores_of(version, [crop.pk for crop in page])
    return [
        QueueEntry(crop, offset + i + 1, shown_reason(crop), scores.get(crop.pk, {}), number)
        for i, crop in enumerate(page)
    ]


def _scores_of(version: ModelVersion | None, crop_ids: list[int]) -> dict[int, dict[str, float]]:
    if version is None or not crop_ids:
        return {}
    rows = CropScore.objects.filter(model_version=version, crop_id__in=crop_ids).exclude(strategy=DESCRIPTOR)
    scores: dict[int, dict[str, float]] = {}
    for crop_id, strategy, score in rows.values_list("crop_id", "strategy", "score"):
        if score >= 0:
            scores.setdefault(crop_id, {})[strategy] = score
    return scores
