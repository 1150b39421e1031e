"""Reviewing annotations: reviewers (and admins) accept a submitted annotation or return it to its
author with a comment. A correction is not an action here: it is a new version a reviewer submits
through the ordinary submit path (annotations.submissions), recorded as `corrected`.

Only a crop's current, still-submitted annotation can be accepted or returned: a newer version
replaces what was reviewed, and a decision already made is not silently overwritten by a second
reviewer (409). Each decision is one conditional UPDATE, so two reviewers at once cannot both win.

A returned crop goes back to its author first: it becomes unlabelled again and assigned to the
author, and the queue serves a labeller's assigned crops before all others
(active_learning.queue.serving.my_queue). Their next submission is a new, `submitted` version.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, QuerySet, Value, When
from django.utils import timezone

from annotations.models import REVIEW_ROLES, Annotation, Crop, CropStatus, Membership, Project, ReviewState
from labelserver.errors import Conflict, DomainError

ACCEPT, RETURN = "accept", "return"
REVIEW_ACTIONS = (ACCEPT, RETURN)
NEWEST, RANDOM = "newest", "random"
REVIEW_ORDERS = (NEWEST, RANDOM)


def may_review(user: AbstractBaseUser, project: Project | int) -> bool:
    """Staff, and project members with a reviewing role."""
    if getattr(user, "is_staff", False):  # AbstractBaseUser does not declare it; the user model does
        return True
    project_id = project if isinstance(project, int) else project.pk
    return Membership.objects.filter(project_id=project_id, user_id=user.pk, role__in=REVIEW_ROLES).exists()


def review_queue(project: Project, *, state: str = ReviewState.SUBMITTED, order: str = NEWEST) -> QuerySet[Annotation]:
    """The project's current annotations in one review state: newest first, or shuffled (a random
    sample: each request shuffles afresh, so take one page of it)."""
    annotations = Annotation.objects.filter(crop__project=project, is_current=True, review_state=state)
    annotations = annotations.select_related("author", "reviewed_by")
    return annotations.order_by("?") if order == RANDOM else annotations.order_by("-created_at", "-id")


def review_annotation(
    *, annotation: Annotation, reviewer: AbstractBaseUser, action: str, comment: str = ""
) -> Annotation:
    """Accept the annotation, or return it to its author with a comment (required)."""
    comment = comment.strip()
    if action == RETURN and not comment:
        raise DomainError("say in `comment` what the labeller should change", code="comment_required")
    state = ReviewState.ACCEPTED if action == ACCEPT else ReviewState.RETURNED
    with transaction.atomic():
        pending = Annotation.objects.filter(pk=annotation.pk, is_current=True, review_state=ReviewState.SUBMITTED)
        decided = pending.update(
            review_state=state, reviewed_by=reviewer, reviewed_at=timezone.now(), review_comment=comment
        )
        if decided != 1:
            raise _not_reviewable(annotation.pk)
        if state == ReviewState.RETURNED:
            _back_to_author(annotation)
    annotation.refresh_from_db()
    return annotation


def _back_to_author(annotation: Annotation) -> None:
    """Queue the crop again, for its author before anyone else. A crop someone holds a lease on
    (to correct it) becomes a queue lease of theirs, so no one can claim it under them; when it
    ends unused the crop returns to the queue like any other."""
    status = Case(When(leased_by__isnull=False, then=Value(CropStatus.LEASED)), default=Value(CropStatus.UNLABELLED))
    Crop.objects.filter(pk=annotation.crop_id).update(status=status, assigned_to=annotation.author_id)


def _not_reviewable(annotation_id: int) -> Conflict:
    annotation = Annotation.objects.only("is_current", "review_state").get(pk=annotation_id)
    if not annotation.is_current:
        return Conflict(
            f"annotation {annotation_id} is no longer its crop's current version; review the current one",
            code="not_current",
        )
    return Conflict(f"annotation {annotation_id} is already {annotation.review_state}", code="already_reviewed")


def submission_review(crop: Crop, author: AbstractBaseUser) -> dict[str, object]:
    """The review fields of a new version: a reviewer replacing someone else's current annotation
    corrects it (recorded as theirs, and reviewed by them); any other submission awaits review."""
    previous = list(Annotation.objects.filter(crop=crop, is_current=True).values_list("author_id", flat=True))
    if not previous or previous[0] == author.pk or not may_review(author, crop.project_id):
        return {"review_state": ReviewState.SUBMITTED}
    return {"review_state": ReviewState.CORRECTED, "reviewed_by": author, "reviewed_at": timezone.now()}
