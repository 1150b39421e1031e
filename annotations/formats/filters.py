"""Which annotations an export takes: at most one annotation version per crop.

Filters (all optional; query parameters of the export API and options of `export_project`,
parsed by `annotations.api.export_serializers`):

* ``split``: "train" or "validation" (the crop's split).
* ``tag``: crops carrying this tag.
* ``since`` / ``until``: the annotation was saved in this range, inclusive. A date without a
  time means the whole day (``until=2025-03-01`` takes annotations of March 1st).
* ``reviewed``: only annotations a person saved in the labelling tool (source "editor"), which
  leaves out label images imported as they were and simulated labels.
* ``source``: only annotations of these sources (comma-separated: editor, import, simulation).
* ``review_state``: only annotations in these review states (comma-separated: submitted,
  accepted, corrected, returned); ``accepted,corrected`` is what a reviewed training set reads.
* ``current_only`` (default true): each crop's current version, if it passes the filters. With
  false, each crop's newest version that passes them: ``until`` then gives the project as it
  was at that moment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from annotations.models import Annotation, Image, Project

EDITOR_SOURCE = "editor"


@dataclass(frozen=True)
class ExportFilters:
    split: str | None = None
    tag: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = ()
    review_states: tuple[str, ...] = ()
    current_only: bool = True

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        data["sources"] = list(self.sources)
        data["review_states"] = list(self.review_states)
        return data


# --- Selecting --------------------------------------------------------------------------------


def matching_annotations(project: Project, filters: ExportFilters) -> QuerySet[Annotation]:
    """Every annotation version that passes the filters (several per crop when current_only is off)."""
    annotations = Annotation.objects.filter(crop__project=project)
    if filters.current_only:
        annotations = annotations.filter(is_current=True)
    if filters.split:
        annotations = annotations.filter(crop__split=filters.split)
    if filters.tag:
        annotations = annotations.filter(crop__tags__name=filters.tag)
    if filters.since:
        annotations = annotations.filter(created_at__gte=filters.since)
    if filters.until:
        annotations = annotations.filter(created_at__lte=filters.until)
    if filters.sources:
        annotations = annotations.filter(source__in=filters.sources)
    if filters.review_states:
        annotations = annotations.filter(review_state__in=filters.review_states)
    return annotations


def selected_annotations(project: Project, filters: ExportFilters) -> QuerySet[Annotation]:
    """One annotation per crop: its newest version that passes the filters."""
    matching = matching_annotations(project, filters)
    if filters.current_only:
        return matching  # at most one current version per crop
    newest = matching.filter(crop=OuterRef("crop")).order_by("-version").values("id")[:1]
    return matching.filter(id=Subquery(newest))


def annotations_by_image(project: Project, filters: ExportFilters, *, batch: int = 500
                         ) -> Iterator[tuple[Image, Iterator[Annotation]]]:
    """(image, its selected annotations oldest first) for every image with any, in image order.

    Rows (with their masks) are read in batches and each image's annotations come as an iterator
    to consume before the next image: an image of 100,000 crops never has its annotations in
    memory at once. Each image is read once and shared by its crops (a joined image per row
    would be one object per annotation)."""
    rows = (
        selected_annotations(project, filters)
        .select_related("crop", "author", "started_from")
        .order_by("crop__image_id", "created_at", "id")
    )
    for image_id, group in groupby(rows.iterator(chunk_size=batch), key=lambda a: a.crop.image_id):
        image = Image.objects.get(pk=image_id)
        yield image, _with_image(group, image)


def _with_image(annotations: Iterable[Annotation], image: Image) -> Iterator[Annotation]:
    for annotation in annotations:
        annotation.crop.image = image
        yield annotation


def count_images(project: Project, filters: ExportFilters) -> int:
    return selected_annotations(project, filters).values("crop__image_id").distinct().count()
