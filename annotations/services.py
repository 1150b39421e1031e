"""Writes: projects and members, image uploads, the lease lifecycle, annotations, admin queue ops.

Leases. `lease_next_crop` hands a labeller the best available crop of the queue
(selectors.QUEUE_ORDER): in one transaction it returns expired leases to the queue with one
conditional UPDATE, serves the crop the labeller already holds if any (and renews it), else
claims the first free crop with a conditional UPDATE that only one transaction can win. On
PostgreSQL that crop is read with SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1, so concurrent
labellers pass over each other's crops instead of queueing (and when every waiting crop is
locked, the claim waits for a holder rather than report an empty queue); on SQLite the
IMMEDIATE transaction serialises the claims. A queue lease sets the crop's status to `leased`.

A crop that is already labelled (or skipped) can be leased too, to correct it (`lease_crop`): its
status stays as it is (training still sees it as labelled) and only the holder and expiry are
set. Submitting an annotation needs a live lease and always adds a new version.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import tifffile
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Case, F, Max, Min, Q, Value, When
from django.utils import timezone
from PIL import Image as PILImage
from PIL import UnidentifiedImageError
from rest_framework.authtoken.models import Token

from active_learning.backends import BACKENDS
from active_learning.backends.settings import parse_backend_settings
from active_learning.models import ModelVersion
from active_learning.strategies import UnknownStrategy, get_strategy
from annotations import selectors
from annotations.masks import MaskError, as_label_image, count_cells, decode_rle, encode_png
from annotations.models import Annotation, Crop, CropStatus, Image, Membership, Project, Role, Split, Tag
from labelserver.errors import Conflict, DomainError

if TYPE_CHECKING:
    from annotations.ingest import IngestResult

# How many claim attempts before a labeller is asked to try again.
CLAIM_ROUNDS = 50


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


# --- Tokens ----------------------------------------------------------------------------------


def issue_token(*, username: str, password: str, request: Any = None) -> Token:
    """The user's API token (created on first use), for a correct username and password."""
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise DomainError("unable to log in with this username and password", code="bad_credentials")
    return Token.objects.get_or_create(user=user)[0]


# --- Projects ---------------------------------------------------------------------------------


class InvalidSettings(DomainError):
    """Project settings that break rules, each problem filed under the field it concerns (a form
    shows them beside their fields; the API's detail names them all). One problem alone keeps its
    own code and status: an unknown strategy is 400 `unknown_strategy`, a taken name 409."""

    def __init__(self, errors: dict[str, DomainError]) -> None:
        self.errors = errors
        only = next(iter(errors.values())) if len(errors) == 1 else None
        super().__init__(
            "; ".join(str(error) for error in errors.values()),
            code=only.code if only else "invalid_settings",
            http_status=only.http_status if only else 400,
        )

    @property
    def problems(self) -> dict[str, list[str]]:
        """Messages by field; bad backend settings give one message per bad setting."""
        return {name: list(getattr(error, "problems", [str(error)])) for name, error in self.errors.items()}


# Settings that decide the queue order: changing them re-ranks the queue.
QUEUE_SETTINGS = ("strategy", "random_fraction")


def _backend_errors(project: Project) -> dict[str, DomainError]:
    errors: dict[str, DomainError] = {}
    if project.backend not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        errors["backend"] = DomainError(f"unknown model backend {project.backend!r}; known: {known}")
    try:
        channels = parse_backend_settings(project.backend_settings, model_channels=project.model_channels).channels
    except DomainError as exc:
        return {**errors, "backend_settings": exc}
    fewest = Image.objects.filter(project=project.pk).aggregate(n=Min("channels"))["n"] if project.pk else None
    if fewest is not None and any(c >= fewest for c in channels):
        where = "backend_settings" if "channels" in project.backend_settings else "model_channels"
        errors[where] = DomainError(f"model channels {list(channels)} do not exist in every image: the project has "
                                    f"images with {fewest} channel(s) (0..{fewest - 1})")
    return errors


def _queue_errors(project: Project, names: Iterable[str]) -> dict[str, DomainError]:
    errors: dict[str, DomainError] = {}
    if "strategy" in names:
        try:
            get_strategy(project.strategy)
        except UnknownStrategy as exc:
            errors["strategy"] = exc
    fraction = project.random_fraction
    if "random_fraction" in names and not 0.0 <= fraction <= 1.0:
        errors["random_fraction"] = DomainError(f"random_fraction must be between 0 and 1, not {fraction}")
    return errors


def _check_project(project: Project, *, queue_settings: Iterable[str] = QUEUE_SETTINGS) -> None:
    """Refuse settings that break a rule, naming every problem at once (InvalidSettings).
    `queue_settings`: which of the strategy and random fraction to check (those being set)."""
    errors = {**_backend_errors(project), **_queue_errors(project, queue_settings)}
    if project.crop_overlap >= project.crop_size:
        message = f"crop_overlap ({project.crop_overlap}) must be smaller than crop_size ({project.crop_size})"
        errors["crop_overlap"] = DomainError(message)
    if Project.objects.filter(name=project.name).exclude(pk=project.pk).exists():
        errors["name"] = Conflict(f"a project named {project.name!r} already exists")
    if errors:
        raise InvalidSettings(errors)


@transaction.atomic
def create_project(*, name: str, creator: AbstractBaseUser, **fields: Any) -> Project:
    """Create a project; its creator becomes its first admin."""
    project = Project(name=name, **fields)
    _check_project(project)
    project.save()
    Membership.objects.create(project=project, user=creator, role=Role.ADMIN)
    return project


def queue_setting_changes(project: Project, changes: dict[str, Any]) -> dict[str, Any]:
    """The strategy and random fraction among `changes` that differ from the project's."""
    return {name: changes[name] for name in QUEUE_SETTINGS
            if name in changes and changes[name] != getattr(project, name)}


def check_project_changes(project: Project, changes: dict[str, Any]) -> None:
    """Raise InvalidSettings naming every rule `changes` would break; changes nothing (`project`
    included). A strategy or random fraction is checked when it changes, so a project left with a
    strategy that no longer exists can still be renamed."""
    candidate = copy.copy(project)
    for name, value in changes.items():
        setattr(candidate, name, value)
    _check_project(candidate, queue_settings=queue_setting_changes(project, changes))


def update_project(*, project: Project, **changes: Any) -> Project:
    """Change a project's settings, all or nothing. crop_size and crop_overlap apply to images
    ingested later. A new strategy or random fraction re-ranks the queue, through the same
    function as the queue settings endpoint (active_learning.queue.set_queue_settings)."""
    from active_learning.queue import set_queue_settings  # active_learning.queue imports this module

    requeue = queue_setting_changes(project, changes)
    check_project_changes(project, changes)
    for name, value in changes.items():
        setattr(project, name, value)
    project.save(update_fields=list(changes) or None)
    if requeue:
        set_queue_settings(project, **requeue)
    return project


# --- Members ----------------------------------------------------------------------------------


def _membership(project: Project, user_id: int) -> Membership:
    membership = Membership.objects.filter(project=project, user_id=user_id).select_related("user").first()
    if membership is None:
        raise DomainError(f"user {user_id} is not a member of this project", code="not_found", http_status=404)
    return membership


def _keep_an_admin(membership: Membership) -> None:
    """Refuse to take away the project's last admin. The admins' rows are locked (PostgreSQL), so
    two admins demoting each other at once cannot both pass; called inside a transaction."""
    if membership.role != Role.ADMIN:
        return
    admins = Membership.objects.select_for_update().filter(project=membership.project_id, role=Role.ADMIN)
    if not any(pk != membership.pk for pk in admins.order_by("pk").values_list("pk", flat=True)):
        raise Conflict("a project needs at least one admin; make someone else admin first")


def add_member(*, project: Project, username: str, role: str = Role.LABELLER) -> Membership:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise DomainError(f"there is no user named {username!r}", code="unknown_user")
    membership, created = Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
    if not created:
        raise Conflict(f"{username} is already a member ({membership.role}); change the role instead")
    return membership


@transaction.atomic
def set_member_role(*, project: Project, user_id: int, role: str) -> Membership:
    membership = _membership(project, user_id)
    if role != Role.ADMIN:
        _keep_an_admin(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, project: Project, user_id: int) -> Membership:
    """Remove a member; their leases in the project return to the queue, their assignments lapse.
    Returns the membership as it was."""
    membership = _membership(project, user_id)
    _keep_an_admin(membership)
    crops = Crop.objects.filter(project=project)
    crops.filter(leased_by_id=user_id).update(status=_status_after_release(), leased_by=None, lease_expires_at=None)
    crops.filter(assigned_to_id=user_id).update(assigned_to=None)
    membership.delete()
    return membership


# --- Images -----------------------------------------------------------------------------------


def upload_image(
    *, project: Project, file: Any, mask: Any = None, user: AbstractBaseUser | None = None
) -> IngestResult:
    """Store an uploaded image (and optional label image) and tile it into crops."""
    from annotations.ingest import ingest_image  # written in parallel; imported when used

    return ingest_image(project, file, original_name=file.name, mask_source=mask, user=user)


def set_image_split(*, image: Image, split: str) -> Image:
    """Move an image, and so all its crops, to the train or validation split."""
    from annotations import ingest  # the ingestion engineer's module keeps the split rules

    ingest.set_image_split(image, split)
    return image


# --- Leases -----------------------------------------------------------------------------------


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.LABELSERVER["LEASE_SECONDS"])


def _status_after_release() -> Case:
    """A queue lease (status leased) goes back to unlabelled; a correction lease keeps its status."""
    return Case(When(status=CropStatus.LEASED, then=Value(CropStatus.UNLABELLED)), default=F("status"))


def release_expired_leases(*, project: Project, now: datetime | None = None) -> int:
    """Return every queue crop whose lease has expired to the queue (one conditional UPDATE)."""
    now = now or timezone.now()
    expired = Crop.objects.filter(project=project, status=CropStatus.LEASED, lease_expires_at__lte=now)
    return expired.update(status=CropStatus.UNLABELLED, leased_by=None, lease_expires_at=None)


def _serialise_labeller(project: Project, user: AbstractBaseUser) -> None:
    """On PostgreSQL, lock the labeller's membership so two of their own requests at once (a
    double click) cannot take two crops. SQLite's IMMEDIATE transactions are serial already."""
    if connection.features.has_select_for_update:
        list(Membership.objects.select_for_update().filter(project=project, user=user).values_list("id"))


def _claim(crop_id: int, user: AbstractBaseUser, expires: datetime) -> bool:
    """Take an unlabelled crop; only one transaction can win this conditional UPDATE."""
    free = Q(id=crop_id, status=CropStatus.UNLABELLED) & (Q(assigned_to__isnull=True) | Q(assigned_to=user))
    return Crop.objects.filter(free).update(status=CropStatus.LEASED, leased_by=user, lease_expires_at=expires) == 1


def _claim_first(crop_ids: list[int], user: AbstractBaseUser, expires: datetime) -> int | None:
    return next((crop_id for crop_id in crop_ids if _claim(crop_id, user, expires)), None)


def _claim_from_open_queue(project: Project, user: AbstractBaseUser, split: str, expires: datetime) -> int | None:
    """Claim the first crop of the open queue no one else is claiming. When every waiting crop is
    locked (other labellers claiming, or a re-ranking rewriting scores), wait for the first one's
    holder instead of calling the queue empty, then look again (a fresh snapshot: the holder may
    have taken that crop or re-ranked the queue)."""
    for _ in range(CLAIM_ROUNDS):
        crop_id = selectors.open_queue_head(project=project, split=split, skip_locked=True)
        if crop_id is None:
            if not selectors.open_queue(project=project, split=split).exists():
                return None
            selectors.open_queue_head(project=project, split=split, skip_locked=False)  # wait
        elif _claim(crop_id, user, expires):
            return crop_id
    raise Conflict("the queue is very busy; ask again", code="queue_busy")


def lease_next_crop(
    *, project: Project, user: AbstractBaseUser, split: str = Split.TRAIN, as_admin: bool = False
) -> int | None:
    """Lease the labeller's next crop and return its id, or None when the queue is empty.

    A labeller who already holds a queue crop gets that one again, with its lease renewed.
    Crops assigned to them come first, whatever their split; otherwise unassigned crops of
    `split` (train; validation only when an admin asks)."""
    if split != Split.TRAIN and not as_admin:
        raise Forbidden("only project admins can ask for validation crops")
    with transaction.atomic():
        now = timezone.now()
        expires = now + lease_duration()
        _serialise_labeller(project, user)
        release_expired_leases(project=project, now=now)
        held, assigned = selectors.my_queue(project=project, user=user, now=now)
        if held is not None:
            Crop.objects.filter(id=held, leased_by=user).update(lease_expires_at=expires)
            return held
        return _claim_first(assigned, user, expires) or _claim_from_open_queue(project, user, split, expires)


def _check_may_lease(crop: Crop, user: AbstractBaseUser) -> None:
    if crop.assigned_to_id not in (None, user.pk):
        raise Forbidden("this crop is assigned to another labeller")
    if crop.split != Split.TRAIN and crop.assigned_to_id != user.pk:
        raise Forbidden("validation crops are labelled only when an admin asks")


def lease_crop(*, crop: Crop, user: AbstractBaseUser, as_admin: bool = False) -> Crop:
    """Lease one chosen crop (to label it, or to correct its annotation), or renew one's lease."""
    if not as_admin:
        _check_may_lease(crop, user)
    now = timezone.now()
    free = Q(leased_by__isnull=True) | Q(leased_by=user) | Q(lease_expires_at__lte=now)
    status = Case(When(status=CropStatus.UNLABELLED, then=Value(CropStatus.LEASED)), default=F("status"))
    taken = Crop.objects.filter(Q(id=crop.id) & free).update(
        status=status, leased_by=user, lease_expires_at=now + lease_duration()
    )
    if not taken:
        raise _lease_conflict(crop.id, user, now)
    crop.refresh_from_db(fields=["status", "leased_by", "lease_expires_at"])
    return crop


def _lease_conflict(crop_id: int, user: AbstractBaseUser, now: datetime) -> Conflict:
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


def _end_lease(crop: Crop, user: AbstractBaseUser, now: datetime, **changes: Any) -> None:
    """Clear the user's live lease on the crop, applying `changes`, or refuse with 409."""
    live = Crop.objects.filter(id=crop.id, leased_by=user, lease_expires_at__gt=now)
    if live.update(leased_by=None, lease_expires_at=None, **changes) != 1:
        raise _lease_conflict(crop.id, user, now)


def skip_crop(*, crop: Crop, user: AbstractBaseUser) -> None:
    """Skip a crop the queue served: it leaves the queue as skipped (an admin can requeue it)."""
    now = timezone.now()
    live = Crop.objects.filter(id=crop.id, leased_by=user, lease_expires_at__gt=now)
    if live.filter(status=CropStatus.LEASED).update(status=CropStatus.SKIPPED, leased_by=None, lease_expires_at=None):
        return
    if live.exists():
        message = f"crop {crop.id} is {crop.status}, not served from the queue; release it instead of skipping"
        raise Conflict(message, code="not_queued")
    raise _lease_conflict(crop.id, user, now)


def release_crop(*, crop: Crop, user: AbstractBaseUser, as_admin: bool = False) -> None:
    """Give a lease back: a queue crop returns to the queue. Admins may release anyone's lease."""
    held = Crop.objects.filter(id=crop.id, leased_by__isnull=False)
    if not as_admin:
        held = held.filter(leased_by=user)
    if held.update(status=_status_after_release(), leased_by=None, lease_expires_at=None) != 1:
        raise _lease_conflict(crop.id, user, timezone.now())


def requeue_crops(*, project: Project, crop_ids: Iterable[int]) -> int:
    """Send skipped crops back to the queue."""
    skipped = Crop.objects.filter(project=project, id__in=list(crop_ids), status=CropStatus.SKIPPED)
    return skipped.update(status=CropStatus.UNLABELLED)


# --- Annotations ------------------------------------------------------------------------------


def _read_png(upload: Any, shape: tuple[int, int]) -> np.ndarray:
    try:
        with PILImage.open(upload) as image:
            if image.size != (shape[1], shape[0]):
                raise MaskError(f"mask_file is {image.size[0]}x{image.size[1]} but the crop is {shape[1]}x{shape[0]}")
            return np.array(image)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MaskError(f"mask_file is not a readable PNG: {exc}") from None


def _read_tiff(upload: Any, shape: tuple[int, int]) -> np.ndarray:
    try:
        with tifffile.TiffFile(upload) as tiff:
            stored = tuple(d for d in tiff.series[0].shape if d != 1)
            if stored != tuple(shape):
                raise MaskError(f"mask_file has shape {tiff.series[0].shape} but the crop is {shape[1]}x{shape[0]}")
            return tiff.series[0].asarray().reshape(shape)
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as exc:
        raise MaskError(f"mask_file is not a readable TIFF: {exc}") from None


def read_label_file(upload: Any, shape: tuple[int, int]) -> np.ndarray:
    """A label image uploaded as a 16-bit PNG or a TIFF; the size is checked before decoding."""
    data = upload.read()
    if data.startswith(b"\x89PNG"):
        return _read_png(io.BytesIO(data), shape)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _read_tiff(io.BytesIO(data), shape)
    raise MaskError("mask_file must be a PNG or TIFF label image")


def submitted_mask(crop: Crop, *, rle: Any = None, file: Any = None) -> np.ndarray:
    """The label image of a submission: RLE JSON (the editor) or a label-image file (scripts)."""
    shape = (crop.height, crop.width)
    if (rle is None) == (file is None):
        raise MaskError("send the mask either as RLE JSON in `mask` or as a label image in `mask_file`")
    mask = decode_rle(rle, shape) if file is None else read_label_file(file, shape)
    return as_label_image(mask, shape)


def _model_version(project_id: int, version_id: int | None) -> ModelVersion | None:
    if version_id is None:
        return None
    version = ModelVersion.objects.filter(pk=version_id, project_id=project_id).first()
    if version is None:
        raise DomainError(f"started_from: model version {version_id} is not a model of this project")
    return version


def _add_version(crop: Crop, **fields: Any) -> Annotation:
    latest = Annotation.objects.filter(crop=crop).aggregate(v=Max("version"))["v"] or 0
    Annotation.objects.filter(crop=crop, is_current=True).update(is_current=False)
    return Annotation.objects.create(crop=crop, version=latest + 1, is_current=True, **fields)


def submit_annotation(
    *,
    crop: Crop,
    user: AbstractBaseUser,
    mask: np.ndarray,
    seconds_spent: float = 0.0,
    edit_counts: dict[str, int] | None = None,
    started_from_id: int | None = None,
    source: str = "editor",
) -> Annotation:
    """Save a labeller's mask as the crop's new current annotation version and end their lease.
    Needs a live lease; the earlier versions are kept."""
    mask = as_label_image(mask, (crop.height, crop.width))
    started_from = _model_version(crop.project_id, started_from_id)
    png, n_cells = encode_png(mask), count_cells(mask)
    with transaction.atomic():
        _end_lease(crop, user, timezone.now(), status=CropStatus.LABELLED)
        annotation = _add_version(
            crop, author=user, mask_png=png, n_cells=n_cells, source=source, started_from=started_from,
            seconds_spent=seconds_spent, edit_counts=edit_counts or {}, queue_reason=crop.queue_reason,
        )
        transaction.on_commit(lambda: _after_annotation(crop.project_id))
    return annotation


def _after_annotation(project_id: int) -> None:
    # Retraining after N new annotations is checked by a worker, off the labeller's request.
    from active_learning.jobs import dispatch_held
    from active_learning.tasks import check_annotation_trigger

    if not dispatch_held():
        check_annotation_trigger.delay(project_id)


# --- Admin queue operations (bulk: the ranked-queue admin view acts on many crops) -------------


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
