"""Reviewing annotations: reviewers (and admins) accept a submitted annotation or return it to its
author with a comment. A correction is not an action here: it is a new version a reviewer submits
through the ordinary submit path (annotations.submissions), recorded as `corrected`.

Only a crop's current, still-submitted annotation can be accepted or returned: a newer version
replaces what was reviewed, and a decision already made is not silently overwritten by a second
reviewer (409). Each decision is one conditional UPDATE, so two reviewers at once cannot both win.

A crop that waits for its second, blind label (annotations.double_labelling) waits for review
too, so the reviewer sees both labels. A decision ends the reviewer's own lease on the crop, if
they took one to look at it in the editor.

The queue's orders: newest first; most changed from the model's prediction first (the cells a
labeller changed are where a reviewer's eye pays most); a sample, newest first, of each
labeller's work (the project's `review_sample_share`, drawn by a fixed hash of the annotation id,
so each labeller's share holds however much they label, and the sample does not change between
requests); or shuffled afresh on each request.

A returned crop goes back to its author first: it becomes unlabelled again and assigned to the
author, and the queue serves a labeller's assigned crops before all others
(active_learning.queue.serving.my_queue). Their next submission is a new, `submitted` version.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, F, QuerySet, Value, When
from django.utils import timezone

from annotations.double_labelling import sampled
from annotations.leases import status_after_release
from annotations.models import REVIEW_ROLES, Annotation, Crop, CropStatus, Membership, Project, ReviewState
from labelserver.errors import Conflict, DomainError

ACCEPT, RETURN = "accept", "return"
REVIEW_ACTIONS = (ACCEPT, RETURN)
NEWEST, DIFFERENCE, SAMPLE, RANDOM = "newest", "difference", "sample", "random"
REVIEW_ORDERS = (NEWEST, DIFFERENCE, SAMPLE, RANDOM)
# The sample is drawn from this many of the newest annotations in the state asked for, so that a
# request reads a bounded number of ids however large the project.
SAMPLE_WINDOW = 20_000


def may_review(user: AbstractBaseUser, project: Project | int) -> bool:
    """Staff, and project members with a reviewing role."""
    if getattr(user, "is_staff", False):  # AbstractBaseUser does not declare it; the user model does
        return True
    project_id = project if isinstance(project, int) else project.pk
    return Membership.objects.filter(project_id=project_id, user_id=user.pk, role__in=REVIEW_ROLES).exists()


def review_queue(project: Project, *, state: str = ReviewState.SUBMITTED, order: str = NEWEST) -> QuerySet[Annotation]:
    """The project's current annotations in one review state, in one of REVIEW_ORDERS (see above).
    Crops waiting for their second label are left out until it comes."""
    annotations = Annotation.objects.filter(
        crop__project=project, is_current=True, review_state=state, crop__blind_wanted=False
    ).select_related("author", "reviewed_by")
    newest = ("-created_at", "-id")
    if order == RANDOM:
        return annotations.order_by("?")
    if order == DIFFERENCE:
        return annotations.order_by(F("prediction_difference").desc(nulls_last=True), *newest)
    if order == SAMPLE:
        window = annotations.order_by(*newest).values_list("id", flat=True)[:SAMPLE_WINDOW]
        chosen = [pk for pk in window if sampled(pk, project.review_sample_share)]
        return annotations.filter(id__in=chosen).order_by(*newest)
    return annotations.order_by(*newest)


def review_annotation(
    *, annotation: Annotation, reviewer: AbstractBaseUser, action: str, comment: str = ""
) -> Annotation:
    """Accept the annotation, or return it to its author with a comment (required)."""
    comment = comment.strip()
    if action == RETURN and not comment:
        raise DomainError("say in `comment` what the labeller should change", code="comment_required")
    state = ReviewState.ACCEPTED if action == ACCEPT else ReviewState.RETURNED
    with transaction.atomic():
        pending = Annotation.objects.filter(pk=annotation.pk, is_current=True, review_state=ReviewState.SUBMITTED,
                                            crop__blind_wanted=False)
        decided = pending.update(
            review_state=state, reviewed_by=reviewer, reviewed_at=timezone.now(), review_comment=comment
        )
        if decided != 1:
            raise _not_reviewable(annotation.pk)
        Crop.objects.filter(pk=annotation.crop_id, leased_by_id=reviewer.pk).update(
            status=status_after_release(), leased_by=None, lease_expires_at=None
        )
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
    annotation = Annotation.objects.select_related("crop").get(pk=annotation_id)
    if annotation.crop.blind_wanted:
        return Conflict(f"annotation {annotation_id}'s crop waits for its second, blind label; review it after that",
                        code="awaiting_second_label")
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
