"""Serving the queue: the next crop for a labeller, claimed with a lease, and a crop's place in
the queue.

`lease_next_crop`, in one transaction, returns expired leases to the queue with one conditional
UPDATE, serves the crop the labeller already holds if any (and renews it), else claims the first
free crop with a conditional UPDATE that only one transaction can win. On PostgreSQL that UPDATE
finds its crop with a subquery SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1, so concurrent
labellers pass over each other's crops instead of queueing (and when every waiting crop is
locked, the claim waits for a holder rather than report an empty queue); on SQLite the IMMEDIATE
transaction serialises the claims.

A labeller's crops come in this order: the one they hold, the crops an admin assigned to them
(returned ones among them), a labelled crop waiting for its second, blind label
(annotations.double_labelling), then the open queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotations.double_labelling import claim_for_second_label, waiting_for_second_label
from annotations.leases import (
    claim,
    lease_duration,
    lease_limit,
    max_leases,
    release_expired_leases,
    serialise_labeller,
)
from annotations.models import Crop, CropStatus, Project, Split
from labelserver.errors import Conflict, Forbidden

# The labelling queue's order, column for column the index `crop_queue_order` in
# annotations/models.py (after its equality columns project and status). Crops assigned to the
# asking labeller come before all of these (see `my_queue`).
QUEUE_ORDER: tuple[str, ...] = ("-pinned", "-priority", "-queue_score", "id")


class MyQueue(NamedTuple):
    held: int | None  # the queue crop the user holds a live lease on
    assigned: list[int]  # unlabelled crops assigned to them, best first
    leases: int  # the user's live leases in the project, of any kind (for the lease cap)


def my_queue(*, project: Project, user: AbstractBaseUser, now: datetime) -> MyQueue:
    """In one query: the queue crop this user holds a live lease on (if any: a queue lease, or a
    lease to give a crop its second, blind label), the unlabelled crops an admin assigned to them
    (served first, whatever their split), best first, and how many live leases they hold.

    The query names only the user's columns (leased_by, assigned_to), so the database reads the
    user's few rows through those two indexes; with project_id in the WHERE clause SQLite would
    walk every unlabelled crop of the project instead. The project is picked out here."""
    live = Q(leased_by=user, lease_expires_at__gt=now)
    assigned = Q(status=CropStatus.UNLABELLED, assigned_to=user)
    rows = Crop.objects.filter(live | assigned).order_by(*QUEUE_ORDER).values_list(
        "id", "project_id", "status", "blind_wanted", "leased_by_id", "lease_expires_at")
    mine = [row for row in rows if row[1] == project.pk]
    leased = [row for row in mine if row[4] == user.pk and row[5] is not None and row[5] > now]
    held = [row[0] for row in leased if row[2] == CropStatus.LEASED or row[3]]
    return MyQueue(
        held=held[0] if held else None,
        assigned=[row[0] for row in mine if row[2] == CropStatus.UNLABELLED],
        leases=len(leased),
    )


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


def top_of_queue(project: Project, n: int, split: str = Split.TRAIN) -> list[int]:
    """The first `n` crops the open queue would serve (a batch to pin, tag or assign)."""
    return list(open_queue(project=project, split=split).values_list("id", flat=True)[:n])


# How many claim attempts before a labeller is asked to try again.
CLAIM_ROUNDS = 50


def _claim_first(crop_ids: list[int], user: AbstractBaseUser, expires: datetime) -> int | None:
    return next((crop_id for crop_id in crop_ids if claim(crop_id, user, expires)), None)


def _claim_second_label(project: Project, user: AbstractBaseUser, now: datetime, expires: datetime) -> int | None:
    """Claim a crop waiting for its blind second label; a handful of tries, as another labeller
    may take the same crop first."""
    for crop_id in waiting_for_second_label(project, user, now).values_list("id", flat=True)[:5]:
        if claim_for_second_label(crop_id, user, now, expires):
            return crop_id
    return None


def _claim_locked_head(project: Project, user: AbstractBaseUser, split: str, expires: datetime) -> int | None:
    """PostgreSQL: lock the open queue's first crop no one else is claiming and claim it, in one
    statement (UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id):
    `next` serves every labeller's crop, so a round trip less counts. The locked row is checked
    again against the subquery's conditions (unlabelled, unassigned) before the update, as a
    SELECT ... FOR UPDATE does; the outer condition on the status only restates the claim's.
    None when every waiting crop is locked or none is left."""
    head = open_queue(project=project, split=split).select_for_update(skip_locked=True).values("id")[:1]
    head_sql, head_params = head.query.sql_with_params()
    table = connection.ops.quote_name(Crop._meta.db_table)
    sql = (f"UPDATE {table} SET status = %s, leased_by_id = %s, lease_expires_at = %s "
           f"WHERE id = ({head_sql}) AND status = %s RETURNING id")
    with connection.cursor() as cursor:
        cursor.execute(sql, [CropStatus.LEASED, user.pk, expires, *head_params, CropStatus.UNLABELLED])
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _claim_from_open_queue(project: Project, user: AbstractBaseUser, split: str, expires: datetime) -> int | None:
    """Claim the first crop of the open queue no one else is claiming. When every waiting crop is
    locked (other labellers claiming, or a re-ranking rewriting scores), wait for the first one's
    holder instead of calling the queue empty, then look again (a fresh snapshot: the holder may
    have taken that crop or re-ranked the queue)."""
    for _ in range(CLAIM_ROUNDS):
        if connection.vendor == "postgresql":
            crop_id = _claim_locked_head(project, user, split, expires)
            if crop_id is not None:
                return crop_id
        else:
            crop_id = open_queue_head(project=project, split=split, skip_locked=True)
            if crop_id is not None:
                if claim(crop_id, user, expires):
                    return crop_id
                continue
        if not open_queue(project=project, split=split).exists():
            return None
        open_queue_head(project=project, split=split, skip_locked=False)  # wait
    raise Conflict("the queue is very busy; ask again", code="queue_busy")


class Served(NamedTuple):
    crop_id: int
    # The crop's place in the open queue when known without a query: 1 for the open queue's head,
    # which the labeller just took (see queue_rank); None otherwise.
    rank: int | None = None


def lease_next_crop(
    *, project: Project, user: AbstractBaseUser, split: str = Split.TRAIN, as_admin: bool = False
) -> Served | None:
    """Lease the labeller's next crop, or None when the queue is empty.

    A labeller who already holds a queue crop gets that one again, with its lease renewed.
    Crops assigned to them come first, whatever their split; otherwise unassigned crops of
    `split` (train; validation only when an admin asks). A labeller who holds the most leases
    allowed (chosen crops leased by id) is refused a new one (409 lease_limit); admins are not."""
    if split != Split.TRAIN and not as_admin:
        raise Forbidden("only project admins can ask for validation crops")
    with transaction.atomic():
        now = timezone.now()
        expires = now + lease_duration()
        serialise_labeller(project, user)
        release_expired_leases(project=project, now=now)
        mine = my_queue(project=project, user=user, now=now)
        if mine.held is not None:
            Crop.objects.filter(id=mine.held, leased_by=user).update(lease_expires_at=expires)
            return Served(mine.held)
        if not as_admin and mine.leases >= max_leases():
            raise lease_limit(project.pk, user, now)
        chosen = _claim_first(mine.assigned, user, expires) or (
            _claim_second_label(project, user, now, expires) if split == Split.TRAIN else None)
        if chosen is not None:
            return Served(chosen)
        head = _claim_from_open_queue(project, user, split, expires)
        return None if head is None else Served(head, rank=1)
