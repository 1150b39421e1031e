"""Image ingestion: store an original once, tile it into crops, render their display PNGs, and
optionally import a label image as the crops' first annotations.

Rules:
* Identity is the sha256 of the file's bytes. The same file ingested twice into a project
  returns the existing Image (`created=False`); its label image, if any, is not re-imported.
* The original is stored once (labelserver.storage: under MEDIA_ROOT or in the object store) as
  images/<sha256[:2]>/<sha256><ext>, where the extension follows the detected format (.png,
  .jpg, .tif), not the uploaded name. Projects that hold the same file share it.
* Crop display PNGs are stored as crops/<project id>/<sha256[:2]>/<sha256>/<x>_<y>_<w>x<h>.png
  (per project, because display channels are a project setting), rendered once here.
* Split (see `split_for_hash`): decided per image, never per crop, so overlapping crops of one
  image never straddle train and validation. Every crop copies its image's split.
* Atomic per image: all decoding, rendering and label checks run before the database
  transaction that inserts the rows; if anything fails, the rows roll back and every file this
  call wrote is deleted. (Run it outside any outer transaction that may roll back later: a
  rollback there would leave files behind.)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from annotations.exports import ProgressCallback
from annotations.imaging import (
    DisplayLevels,
    ImageHeader,
    ImageReadError,
    PixelSource,
    Window,
    display_channels,
    display_levels,
    open_label_source,
    open_source,
    render_display_png,
    tile_windows,
)
from annotations.masks import MaskError, as_label_image, count_cells, encode_png, relabel_sequential
from annotations.models import Annotation, Crop, CropStatus, Image, Project, Split
from labelserver import storage
from labelserver.errors import DomainError

Source = str | os.PathLike | IO[bytes] | Any  # a path, a binary file object or a Django File
CHUNK_BYTES = 1 << 20
STAGING_DIR = storage.SCRATCH_DIR  # under MEDIA_ROOT, so on a local disk finished files move into place


@dataclass(frozen=True)
class IngestResult:
    image: Image
    created: bool  # False: the project already held this file; nothing was changed
    crops: int  # crops of the image (new or existing)
    imported_annotations: int  # annotations created from the label image by this call


@dataclass(frozen=True)
class _Staged:
    path: Path
    sha256: str


@dataclass
class _Ledger:
    """Files this ingestion wrote, deleted again unless the ingestion commits."""

    temporary: list[Path] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # storage names

    def discard_written(self) -> None:
        for name in reversed(self.written):
            if name.startswith("images/") and Image.objects.filter(file=name).exists():
                continue  # a concurrent ingestion into another project committed the same original
            storage.delete(name)
        self.written.clear()

    def discard_temporary(self) -> None:
        for path in self.temporary:
            path.unlink(missing_ok=True)
        self.temporary.clear()


@contextmanager
def _ledger() -> Iterator[_Ledger]:
    ledger = _Ledger()
    try:
        yield ledger
    except BaseException:
        ledger.discard_written()
        raise
    finally:
        ledger.discard_temporary()


# --- Public API -----------------------------------------------------------------------------


def ingest_image(project: Project, source: Source, *, original_name: str, mask_source: Source | None = None,
                 user: Any = None, progress: ProgressCallback | None = None) -> IngestResult:
    """Add one image to a project: store it, tile it into crops with display PNGs, and import
    `mask_source` (a label image of the same size) as the crops' first annotations. `progress`
    hears of each crop rendered (done, total, the image's name); an exception it raises (a
    cancelled job) undoes the ingestion like any other.

    Bad input raises a DomainError (ImageReadError, MaskError) and leaves no rows and no files."""
    with _ledger() as ledger:
        staged = _stage(source, original_name, ledger, hash_it=True)
        existing = _existing(project, staged.sha256)
        if existing is not None:
            return _already_there(existing)
        try:
            return _ingest_new(project, staged, original_name, mask_source, user, ledger, progress)
        except IntegrityError:
            # The same file committed by a concurrent ingestion between our check and insert.
            ledger.discard_written()
            existing = _existing(project, staged.sha256)
            if existing is None:
                raise
            return _already_there(existing)


def check_upload(source: Source, *, original_name: str, mask_source: Source | None = None) -> ImageHeader:
    """What a web request checks before it queues an ingestion: both headers (a supported format,
    within the size limits; a one-channel label image of the image's size). No pixels are decoded
    and a big upload is read from its temporary file, so an image that can never be ingested is
    refused at once (a 400) rather than by a failed job."""
    header = open_source(_readable(source), name=original_name).header
    if mask_source is not None:
        open_label_source(_readable(mask_source), header.shape,
                          name=_source_name(mask_source) or f"label image of {original_name}")
    return header


def _readable(source: Source) -> Source:
    """An upload Django spooled to disk as its path (reading a header must not load 2 GB)."""
    temporary = getattr(source, "temporary_file_path", None)
    return Path(temporary()) if callable(temporary) else source


def split_fraction(sha256: str) -> float:
    """The image's place in [0, 1): its hash's first 60 bits as a fraction."""
    return int(sha256[:15], 16) / 16**15


def split_for_hash(sha256: str, validation_fraction: float) -> str:
    """Validation when the hash's fraction is below the project's validation_fraction: stable
    across re-uploads and upload order, and close to the requested share over many images."""
    return Split.VALIDATION if split_fraction(sha256) < validation_fraction else Split.TRAIN


def set_image_split(image: Image, split: str) -> int:
    """Move an image, and all its crops with it, to `split`; returns how many crops moved."""
    if split not in Split.values:
        raise DomainError(f"split must be one of {', '.join(Split.values)}, got {split!r}", code="bad_split")
    with transaction.atomic():
        Image.objects.filter(pk=image.pk).update(split=split)
        moved = Crop.objects.filter(image=image).update(split=split)
    image.split = split
    return moved


def ensure_labelled_validation(project: Project) -> Image | None:
    """Make sure validation has labelled crops once there is enough to split.

    When at least two images have labelled crops and none of them is in validation, the
    labelled training image whose hash lies closest to the validation side is moved there
    (deterministic). Returns the moved image, or None when nothing needed to change."""
    labelled = list(
        Image.objects.filter(project=project, crops__status=CropStatus.LABELLED).distinct().order_by("id")
    )
    if len(labelled) < 2 or any(image.split == Split.VALIDATION for image in labelled):
        return None
    chosen = min(labelled, key=lambda image: (split_fraction(image.sha256), image.id))
    set_image_split(chosen, Split.VALIDATION)
    return chosen


def file_sha256(source: Source) -> str:
    """The sha256 of a file's bytes (the identity ingestion uses), without storing anything."""
    digest = hashlib.sha256()
    for chunk in _chunks(source, str(source)):
        digest.update(chunk)
    return digest.hexdigest()


def original_storage_name(sha256: str, extension: str) -> str:
    return f"images/{sha256[:2]}/{sha256}{extension}"


def display_storage_name(project: Project, sha256: str, window: Window) -> str:
    x, y, w, h = window
    return f"crops/{project.pk}/{sha256[:2]}/{sha256}/{x}_{y}_{w}x{h}.png"


# --- Steps ----------------------------------------------------------------------------------


def _existing(project: Project, sha256: str) -> Image | None:
    return Image.objects.filter(project=project, sha256=sha256).first()


def _already_there(image: Image) -> IngestResult:
    return IngestResult(image=image, created=False, crops=image.crops.count(), imported_annotations=0)


def _ingest_new(project: Project, staged: _Staged, original_name: str, mask_source: Source | None, user: Any,
                ledger: _Ledger, progress: ProgressCallback | None) -> IngestResult:
    source = open_source(staged.path, name=original_name)
    header = source.header
    labels = _open_labels(mask_source, header, original_name, ledger)
    windows = tile_windows(header.width, header.height, project.crop_size, project.crop_overlap)
    levels = display_levels(source, display_channels(header.channels, project.display_channels, name=original_name))
    displays = _render_displays(project, staged.sha256, source, levels, windows, ledger, progress, original_name)
    masks = [_crop_labels(*labels, window) for window in windows] if labels is not None else None
    stored = _store_original(staged, header, ledger)
    with transaction.atomic():
        image = _create_image(project, staged.sha256, stored, header, original_name, user)
        crops = _create_crops(image, windows, displays, labelled=masks is not None)
        annotations = _create_annotations(crops, masks, user) if masks is not None else 0
    return IngestResult(image=image, created=True, crops=len(crops), imported_annotations=annotations)


def _open_labels(mask_source: Source | None, header: ImageHeader, original_name: str,
                 ledger: _Ledger) -> tuple[PixelSource, str] | None:
    """The label image opened for reading crop windows (its header checked), and its name."""
    if mask_source is None:
        return None
    mask_name = _source_name(mask_source) or f"label image of {original_name}"
    path = _local_path(mask_source)
    if path is None:
        path = _stage(mask_source, mask_name, ledger, hash_it=False).path
    return open_label_source(path, header.shape, name=mask_name), mask_name


def _render_displays(project: Project, sha256: str, source: PixelSource, levels: DisplayLevels,
                     windows: list[Window], ledger: _Ledger, progress: ProgressCallback | None,
                     original_name: str) -> list[str]:
    names = []
    for done, window in enumerate(windows, start=1):
        png = render_display_png(source.window(*window), levels)
        name = default_storage.save(display_storage_name(project, sha256, window), ContentFile(png))
        ledger.written.append(name)
        names.append(name)
        if progress is not None:
            progress(done, len(windows), original_name)
    return names


def _crop_labels(labels: PixelSource, name: str, window: Window) -> tuple[bytes, int]:
    """The crop's cut of the label image, its ids checked and renumbered 1..N: (16-bit PNG, cell count)."""
    try:
        cut = labels.window(*window)
    except ImageReadError as exc:
        raise MaskError(str(exc)) from None
    mask = relabel_sequential(as_label_image(cut, name=name))
    return encode_png(mask), count_cells(mask)


def _store_original(staged: _Staged, header: ImageHeader, ledger: _Ledger) -> str:
    """Move the staged upload to its content-addressed name, unless that file already exists
    (another project holds the same bytes)."""
    name = original_storage_name(staged.sha256, header.extension)
    if storage.save_local_file(name, staged.path, move=True):
        ledger.written.append(name)
    return name


def _create_image(project: Project, sha256: str, stored: str, header: ImageHeader, original_name: str,
                  user: Any) -> Image:
    return Image.objects.create(
        project=project,
        sha256=sha256,
        file=stored,
        original_name=original_name[:300],
        width=header.width,
        height=header.height,
        channels=header.channels,
        dtype=header.dtype,
        split=split_for_hash(sha256, project.validation_fraction),
        uploaded_by=user if getattr(user, "pk", None) else None,
    )


def _create_crops(image: Image, windows: list[Window], displays: list[str], *, labelled: bool) -> list[Crop]:
    status = CropStatus.LABELLED if labelled else CropStatus.UNLABELLED
    crops = [
        Crop(project_id=image.project_id, image=image, x=x, y=y, width=w, height=h, split=image.split,
             status=status, display=display)
        for (x, y, w, h), display in zip(windows, displays, strict=True)
    ]
    return Crop.objects.bulk_create(crops)


def _create_annotations(crops: list[Crop], masks: list[tuple[bytes, int]], user: Any) -> int:
    author = user if getattr(user, "pk", None) else None
    annotations = [
        Annotation(crop=crop, version=1, is_current=True, author=author, mask_png=png, n_cells=n_cells,
                   source="import")
        for crop, (png, n_cells) in zip(crops, masks, strict=True)
    ]
    return len(Annotation.objects.bulk_create(annotations))


# --- Reading the upload ---------------------------------------------------------------------


def _source_name(source: Source) -> str | None:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) and name else None


def _local_path(source: Source) -> Path | None:
    return Path(source) if isinstance(source, (str, os.PathLike)) else None


def _chunks(source: Source, name: str) -> Iterator[bytes]:
    """The bytes of a path, a Django File/UploadedFile or a binary file object, in chunks."""
    if isinstance(source, (str, os.PathLike)):
        try:
            handle = open(source, "rb")
        except FileNotFoundError:
            raise ImageReadError(f"{name}: file not found")
        with handle:
            yield from iter(lambda: handle.read(CHUNK_BYTES), b"")
        return
    if not hasattr(source, "read"):
        raise TypeError(f"cannot read an image from {type(source).__name__}")
    if getattr(source, "seekable", lambda: False)():
        source.seek(0)
    if hasattr(source, "chunks"):
        yield from source.chunks(CHUNK_BYTES)
    else:
        yield from iter(lambda: source.read(CHUNK_BYTES), b"")


def _stage(source: Source, name: str, ledger: _Ledger, *, hash_it: bool) -> _Staged:
    """Copy the upload into MEDIA_ROOT's staging folder (on a local storage, the same disk as its
    final place), hashing it on the way."""
    folder = Path(settings.MEDIA_ROOT) / STAGING_DIR
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=folder, suffix=".upload")
    path = Path(temp_name)
    ledger.temporary.append(path)
    digest = hashlib.sha256() if hash_it else None
    with os.fdopen(handle, "wb") as out:
        for chunk in _chunks(source, name):
            out.write(chunk)
            if digest is not None:
                digest.update(chunk)
    return _Staged(path=path, sha256=digest.hexdigest() if digest is not None else "")
