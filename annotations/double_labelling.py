"""Double labelling: a share of labelled training crops is served, blind, to a second labeller, so
that how much labellers agree can be measured (active_learning.agreement).

When a labeller submits the first annotation of a training crop, the crop is sampled with the
project's `double_label_share`. The sample is a fixed hash of the crop id, not a coin tossed at
submission, so which crops are double-labelled does not depend on who labels when, and a share
of 5 % is 5 % of every labeller's crops. A sampled crop keeps its status (labelled: training reads
its first annotation at once) and waits with `blind_wanted` for a second label.

The queue serves a waiting crop before the open queue to any member who has never annotated it
(active_learning.queue.serving), with a lease like a correction's. While it waits, the first
label is hidden from everyone but its author and the project's admins: the crop's detail and
history leave it out. The second labeller's submission is stored as a `BlindLabel` paired with
the annotation it was drawn beside; it never replaces that annotation. (So while a crop waits,
any submission by someone who never annotated it is its second label, an admin's included.) A crop that waits for its
second label waits for review too (annotations.reviews), so a reviewer sees both.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotations.leases import end_lease
from annotations.masks import count_cells, encode_png
from annotations.models import Annotation, BlindLabel, Crop, CropStatus, Project, Split
from labelserver.errors import Conflict

# Knuth's multiplicative hash: consecutive crop ids spread evenly over [0, 2**32).
_GOLDEN = 2654435761
_SPAN = 2**32


def sampled(crop_id: int, share: float) -> bool:
    """Whether the crop is in the sample of `share` (0..1) of all crops."""
    return (crop_id * _GOLDEN) % _SPAN < share * _SPAN


def sample_first_label(crop: Crop, annotation: Annotation) -> None:
    """After the first annotation of a training crop: mark the crop for a second, blind label if
    it falls in the project's sample. Only labels drawn in the editor (not imports or simulations)."""
    if (annotation.version == 1 and annotation.source == "editor" and crop.split == Split.TRAIN
            and sampled(crop.pk, crop.project.double_label_share)):
        Crop.objects.filter(pk=crop.pk).update(blind_wanted=True)
        crop.blind_wanted = True


def is_blind_for(crop: Crop, user: AbstractBaseUser) -> bool:
    """Whether the crop waits for a second label that `user` could give: they never annotated it."""
    return crop.blind_wanted and not Annotation.objects.filter(crop=crop, author_id=user.pk).exists()


def waiting_for_second_label(project: Project, user: AbstractBaseUser, now: datetime):
    """Labelled crops of the project that wait for a blind label `user` may give, free to lease,
    oldest first."""
    theirs = Annotation.objects.filter(crop=OuterRef("pk"), author_id=user.pk)
    free = Q(leased_by__isnull=True) | Q(lease_expires_at__lte=now)
    crops = Crop.objects.filter(project=project, blind_wanted=True, status=CropStatus.LABELLED,
                                assigned_to__isnull=True)
    return crops.filter(free).filter(~Exists(theirs)).order_by("id")


def claim_for_second_label(crop_id: int, user: AbstractBaseUser, now: datetime, expires: datetime) -> bool:
    """Lease a waiting crop for its blind label; one conditional UPDATE only one transaction wins.
    The status stays labelled, like a correction lease's."""
    free = Q(leased_by__isnull=True) | Q(lease_expires_at__lte=now)
    waiting = Crop.objects.filter(Q(id=crop_id, blind_wanted=True, status=CropStatus.LABELLED) & free)
    return waiting.update(leased_by=user, lease_expires_at=expires) == 1


def submit_blind_label(
    *, crop: Crop, user: AbstractBaseUser, mask: np.ndarray, seconds_spent: float = 0.0,
    edit_counts: dict[str, int] | None = None,
) -> BlindLabel:
    """Store the second labeller's mask beside the crop's current annotation and end their lease.
    The crop stops waiting; its annotations are untouched."""
    with transaction.atomic():
        end_lease(crop, user, timezone.now())
        if not Crop.objects.filter(pk=crop.pk, blind_wanted=True).update(blind_wanted=False):
            raise Conflict(f"crop {crop.pk} has its second label already", code="already_double_labelled")
        paired_with = Annotation.objects.get(crop=crop, is_current=True)
        return BlindLabel.objects.create(
            crop=crop, paired_with=paired_with, author_id=user.pk, mask_png=encode_png(mask), n_cells=count_cells(mask),
            seconds_spent=seconds_spent, edit_counts=edit_counts or {},
        )
