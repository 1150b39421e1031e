"""Leases: who may work on a crop, until when.

A queue lease (served by the queue, active_learning.queue.serving) sets the crop's status to
`leased`; when it ends unused the crop returns to the queue. A crop that is already labelled (or
skipped) can be leased too, to correct it (`lease_crop`): its status stays as it is (training
still sees it as labelled) and only the holder and expiry are set. Submitting an annotation
needs a live lease (annotations.submissions) and ends it.

Every change of holder is one conditional UPDATE that only one transaction can win.

A labeller holds at most MAX_LEASES_PER_LABELLER live leases in a project (admins excepted):
otherwise one labeller leasing crop after crop by id could take every open crop, and everyone
else's `next` would answer "queue empty" until the leases ran out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from annotations.models import Crop, CropStatus, Membership, Project, Split
from labelserver.errors import Conflict, Forbidden


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.LABELSERVER["LEASE_SECONDS"])


def status_after_release() -> Case:
    """A queue lease (status leased) goes back to unlabelled; a correction lease keeps its status."""
    return Case(When(status=CropStatus.LEASED, then=Value(CropStatus.UNLABELLED)), default=F("status"))


def release_expired_leases(*, project: Project, now: datetime | None = None) -> int:
    """Return every queue crop whose lease has expired to the queue (one conditional UPDATE)."""
    now = now or timezone.now()
    expired = Crop.objects.filter(project=project, status=CropStatus.LEASED, lease_expires_at__lte=now)
    return expired.update(status=CropStatus.UNLABELLED, leased_by=None, lease_expires_at=None)


def serialise_labeller(project: Project, user: AbstractBaseUser) -> None:
    """On PostgreSQL, lock the labeller's membership so two of their own requests at once (a
    double click) cannot take two crops. SQLite's IMMEDIATE transactions are serial already."""
    if connection.features.has_select_for_update:
        list(Membership.objects.select_for_update().filter(project=project, user=user).values_list("id"))


def claim(crop_id: int, user: AbstractBaseUser, expires: datetime) -> bool:
    """Take an unlabelled crop; only one transaction can win this conditional UPDATE."""
    free = Q(id=crop_id, status=CropStatus.UNLABELLED) & (Q(assigned_to__isnull=True) | Q(assigned_to=user))
    return Crop.objects.filter(free).update(status=CropStatus.LEASED, leased_by=user, lease_expires_at=expires) == 1


def max_leases() -> int:
    return cast(int, settings.LABELSERVER["MAX_LEASES_PER_LABELLER"])


def check_lease_cap(project_id: int, user: AbstractBaseUser, now: datetime, *, renewing: int | None = None) -> None:
    """Refuse a new lease to a labeller who holds the most live leases allowed in the project.
    Renewing a lease one holds (`renewing`) takes nothing new, so it is always allowed."""
    held = Crop.objects.filter(project_id=project_id, leased_by_id=user.pk, lease_expires_at__gt=now)
    if renewing is not None:
        held = held.exclude(id=renewing)
    if held.count() >= max_leases():
        raise lease_limit(project_id, user, now)


def lease_limit(project_id: int, user: AbstractBaseUser, now: datetime) -> Conflict:
    """The refusal of a lease past the cap, naming the crops the labeller holds."""
    held = Crop.objects.filter(project_id=project_id, leased_by_id=user.pk, lease_expires_at__gt=now)
    crop_ids = list(held.order_by("id").values_list("id", flat=True)[: max_leases()])
    return Conflict(
        f"you hold {len(crop_ids)} leases in this project (crops {', '.join(map(str, crop_ids))}), the most "
        "a labeller may hold (MAX_LEASES_PER_LABELLER); submit, skip or release one first",
        code="lease_limit",
    )


def _check_may_lease(crop: Crop, user: AbstractBaseUser) -> None:
    if crop.assigned_to_id not in (None, user.pk):
        raise Forbidden("this crop is assigned to another labeller")
    if crop.split != Split.TRAIN and crop.assigned_to_id != user.pk:
        raise Forbidden("validation crops are labelled only when an admin asks")


def lease_crop(*, crop: Crop, user: AbstractBaseUser, as_admin: bool = False, as_reviewer: bool = False) -> Crop:
    """Lease one chosen crop (to label it, or to correct its annotation), or renew one's lease.
    A labeller past the lease cap is refused (409 lease_limit); admins are not capped. Reviewers
    may lease any labelled crop to correct it, whoever it is assigned to and whatever its split."""
    reviewing = as_reviewer and crop.status == CropStatus.LABELLED
    if not (as_admin or reviewing):
        _check_may_lease(crop, user)
    with transaction.atomic():
        now = timezone.now()
        if not as_admin:
            serialise_labeller(crop.project, user)  # two requests at once cannot both pass the cap
            check_lease_cap(crop.project_id, user, now, renewing=crop.id)
        free = Q(leased_by__isnull=True) | Q(leased_by=user) | Q(lease_expires_at__lte=now)
        status = Case(When(status=CropStatus.UNLABELLED, then=Value(CropStatus.LEASED)), default=F("status"))
        taken = Crop.objects.filter(Q(id=crop.id) & free).update(
            status=status, leased_by=user, lease_expires_at=now + lease_duration()
        )
        if not taken:
            raise lease_conflict(crop.id, user, now)
    crop.refresh_from_db(fields=["status", "leased_by", "lease_expires_at"])
    return crop


def lease_conflict(crop_id: int, user: AbstractBaseUser, now: datetime) -> Conflict:
    """Say why `user` holds no live lease on the crop."""
    crop = Crop.objects.only("leased_by", "lease_expires_at").get(pk=crop_id)
    expires = crop.lease_expires_at.isoformat() if crop.lease_expires_at else None
    if crop.leased_by_id is None:
        message = f"you hold no lease on crop {crop_id}; ask for it with next (or lease it) first"
        return Conflict(message, code="no_lease")
    if crop.leased_by_id != user.pk and crop.lease_expires_at > now:
        return Conflict(f"crop {crop_id} is leased by another labeller until {expires}", code="leased_by_other")
    if crop.leased_by_id == user.pk:
        return Conflict(
            f"your lease on crop {crop_id} expired at {expires}; lease it again (or ask for the next crop)",
            code="lease_expired",
        )
    return Conflict(f"you hold no lease on crop {crop_id}; its last lease expired at {expires}", code="no_lease")


def end_lease(crop: Crop, user: AbstractBaseUser, now: datetime, **changes: Any) -> None:
    """Clear the user's live lease on the crop, applying `changes`, or refuse with 409."""
    live = Crop.objects.filter(id=crop.id, leased_by=user, lease_expires_at__gt=now)
    if live.update(leased_by=None, lease_expires_at=None, **changes) != 1:
        raise lease_conflict(crop.id, user, now)


def skip_crop(*, crop: Crop, user: AbstractBaseUser) -> None:
    """Skip a crop the queue served: it leaves the queue as skipped (an admin can requeue it)."""
    now = timezone.now()
    live = Crop.objects.filter(id=crop.id, leased_by=user, lease_expires_at__gt=now)
    if live.filter(status=CropStatus.LEASED).update(status=CropStatus.SKIPPED, leased_by=None, lease_expires_at=None):
        return
    if live.exists():
        message = f"crop {crop.id} is {crop.status}, not served from the queue; release it instead of skipping"
        raise Conflict(message, code="not_queued")
    raise lease_conflict(crop.id, user, now)


def release_crop(*, crop: Crop, user: AbstractBaseUser, as_admin: bool = False) -> None:
    """Give a lease back: a queue crop returns to the queue. Admins may release anyone's lease."""
    held = Crop.objects.filter(id=crop.id, leased_by__isnull=False)
    if not as_admin:
        held = held.filter(leased_by=user)
    if held.update(status=status_after_release(), leased_by=None, lease_expires_at=None) != 1:
        raise lease_conflict(crop.id, user, timezone.now())
