"""Export a project's annotations (and optionally a model version) as one zip file.

Layout of the zip (only the parts asked for)::

    manifest.json                       what the export holds: filters, annotation versions,
                                        images and their coverage, model version, file list
    cellpose/crops/<image>_x<X>_y<Y>_img.tif + _masks.tif    one pair per annotated crop
    cellpose/images/<image>_img.tif + _masks.tif             one pair per whole image (stitched)
    tiff/images/<image>.<ext>           the original image file, as uploaded
    tiff/masks/<image>.tif              16/32-bit label TIFF per image (stitched)
    coco/annotations.json + coco/images/<image>.<ext>
    geojson/<image>.geojson + geojson/images/<image>.<ext>
    model/<project>_v<N>.pth + model/<project>_v<N>.json     weights (Cellpose-loadable) and
                                        their settings, metrics and training history
                                        (written by active_learning.model_transfer)

Whole-image outputs (everything except cellpose/crops) stitch each image's crop annotations
into one label image (`annotations.formats.stitching`). By default only images whose crops'
annotations cover every pixel are written whole (`whole_images=complete`): an unlabelled part
would otherwise read as background. `whole_images=any` writes partly covered images too (the
manifest gives each image's coverage); the per-crop Cellpose pairs are always complete.

The export is written to a file (a temporary file for the API) and reports progress per image.
Model versions belong to the learning part, which the labelling part must not import: an export
that carries one gets it as an `ExportPart` (`active_learning.model_transfer.export_zip`), and
the options (`ExportOptions`) are parsed by `annotations.api.export_serializers`.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.utils import timezone

from annotations.formats import cellpose_folder, geojson
from annotations.formats.coco import CocoBuilder
from annotations.formats.filters import ExportFilters, annotations_by_image, count_images
from annotations.formats.label_tiff import label_tiff_bytes
from annotations.formats.stitching import Piece, Stitched, stitch
from annotations.imaging import read_crop_pixels
from annotations.masks import MAX_LABEL, decode_png
from annotations.models import Annotation, Image, Project
from labelserver import storage
from labelserver.errors import DomainError

GENERATOR = "labelserver"
MANIFEST_VERSION = 1
WHOLE_IMAGES = ("complete", "any")
ProgressCallback = Callable[[int, int, str], None]  # (done, total, what is being written)
_STORED = (".png", ".jpg", ".jpeg", ".pth", ".pt")  # already compressed: stored, not deflated


class ExportError(DomainError):
    code = "bad_export"


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...] = ("cellpose",)
    filters: ExportFilters = field(default_factory=ExportFilters)
    model: str | None = None  # "active" or a version number: the learning part adds its weights
    include_images: bool = True  # copy the original image files beside the annotations
    image_extension: str = ".tif"  # Cellpose pairs: ".tif" or ".png"
    whole_images: str = "complete"
    geojson_object_type: str = "detection"
    geojson_tolerance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "formats": list(self.formats), "filters": self.filters.to_dict(), "model": self.model,
            "include_images": self.include_images, "image_extension": self.image_extension,
            "whole_images": self.whole_images, "geojson_object_type": self.geojson_object_type,
            "geojson_tolerance": self.geojson_tolerance,
        }


# --- What another part adds -------------------------------------------------------------------


class ZipFiles(Protocol):
    """Where an `ExportPart` writes its files; each lands in the manifest's file list."""

    def write(self, name: str, data: bytes) -> None: ...

    def copy(self, name: str, stored: str) -> None: ...  # a stored file (labelserver.storage), by its name


class ExportPart(Protocol):
    """Files another part adds to the zip: a model version's weights and card
    (`active_learning.model_transfer.ModelVersionPart`). Its entry is the manifest's model_version."""

    @property
    def description(self) -> str: ...  # the progress text once it is written

    def write(self, files: ZipFiles) -> dict[str, Any]: ...  # returns its manifest entry


# --- Names ------------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "image"


@dataclass
class _Names:
    used: set[str] = field(default_factory=set)

    def for_image(self, image: Image) -> str:
        name = slug(Path(image.original_name).stem)
        if name.lower() in self.used:
            name = f"{name}-{image.pk}"
        self.used.add(name.lower())
        return name


# --- The zip ----------------------------------------------------------------------------------


@dataclass
class _Export:
    project: Project
    options: ExportOptions
    archive: zipfile.ZipFile
    names: _Names = field(default_factory=_Names)
    coco: CocoBuilder = field(default_factory=CocoBuilder)
    images: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def write(self, name: str, data: bytes) -> None:
        self.archive.writestr(self._info(name), data)
        self.files.append(name)

    def copy(self, name: str, stored: str) -> None:
        """The stored file `stored`, streamed from the storage into the zip as `name`."""
        with self.archive.open(self._info(name), "w", force_zip64=True) as out:
            storage.copy_to(stored, out)
        self.files.append(name)

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=timezone.localtime().timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED if Path(name).suffix.lower() in _STORED else zipfile.ZIP_DEFLATED
        return info

    def wants(self, fmt: str) -> bool:
        return fmt in self.options.formats


def build_export(project: Project, options: ExportOptions, target: Path, *,
                 progress: ProgressCallback | None = None, model: ExportPart | None = None) -> dict[str, Any]:
    """Write the export zip to `target` and return its manifest. `model` writes the model version
    that `options.model` names; the two come together (active_learning.model_transfer.export_zip)."""
    if (options.model is None) != (model is None):
        raise ValueError("options.model and the model part go together: use active_learning.model_transfer")
    n_images = count_images(project, options.filters) if options.formats else 0
    total = n_images + (1 if model else 0)
    done = 0
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        export = _Export(project, options, archive)
        if options.formats:
            for image, annotations in annotations_by_image(project, options.filters):
                _export_image(export, image, annotations)
                done += 1
                _report(progress, done, total, image.original_name)
        if export.wants("coco"):
            export.coco.description = f"labelserver project {project.name}"
            export.write("coco/annotations.json", json.dumps(export.coco.dataset()).encode())
        model_entry = model.write(export) if model else None
        if model:
            done += 1
            _report(progress, done, total, model.description)
        manifest = _manifest(export, model_entry)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return manifest


def _report(progress: ProgressCallback | None, done: int, total: int, what: str) -> None:
    if progress is not None:
        progress(done, total, what)


# --- One image --------------------------------------------------------------------------------


def _export_image(export: _Export, image: Image, annotations: Iterable[Annotation]) -> None:
    name = export.names.for_image(image)
    first = len(export.annotations)

    # One crop at a time: its row read, its mask decoded, its Cellpose pair written, it is pasted
    # into the stitched image and its manifest entry kept; neither the image's annotations nor
    # their masks are held.
    def pieces() -> Iterator[Piece]:
        for annotation in annotations:
            export.annotations.append(_annotation_entry(annotation))
            yield _piece(export, name, annotation)

    stitched = stitch((image.height, image.width), pieces())
    written = stitched.complete or export.options.whole_images == "any"
    if written:
        _write_whole_image(export, image, name, stitched)
    export.images.append(_image_entry(image, name, len(export.annotations) - first, stitched, written))


def _piece(export: _Export, name: str, annotation: Annotation) -> Piece:
    mask = decode_png(annotation.mask_png)
    crop = annotation.crop
    if export.wants("cellpose"):
        example = f"{name}_x{crop.x}_y{crop.y}"
        for file_name, data in cellpose_folder.example_files(example, read_crop_pixels(crop), mask,
                                                             export.options.image_extension):
            export.write(f"cellpose/crops/{file_name}", data)
    return Piece((crop.x, crop.y, crop.width, crop.height), mask)


def _original(export: _Export, image: Image, folder: str, name: str) -> str:
    stored = image.file.name or ""
    file_name = f"{name}{Path(stored).suffix.lower()}"
    if export.options.include_images:
        export.copy(f"{folder}/{file_name}", stored)
    return file_name


def _write_whole_pair(export: _Export, image: Image, name: str, labels: np.ndarray) -> None:
    """The original file (PNG, JPEG or TIFF, as ingest stores them) as <name>_img.<ext>, so a
    re-import finds the same image by its content, beside <name>_masks."""
    stored = image.file.name or ""
    export.copy(f"cellpose/images/{cellpose_folder.pair_names(name, Path(stored).suffix.lower())[0]}", stored)
    mask_extension = export.options.image_extension if labels.max(initial=0) <= MAX_LABEL else ".tif"
    mask_name = cellpose_folder.pair_names(name, mask_extension)[1]
    export.write(f"cellpose/images/{mask_name}", cellpose_folder.mask_bytes(labels, mask_extension))


def _write_whole_image(export: _Export, image: Image, name: str, stitched: Stitched) -> None:
    labels = stitched.labels
    if export.wants("cellpose"):
        _write_whole_pair(export, image, name, labels)
    if export.wants("tiff"):
        _original(export, image, "tiff/images", name)
        export.write(f"tiff/masks/{name}.tif", label_tiff_bytes(labels))
    if export.wants("coco"):
        file_name = _original(export, image, "coco/images", name)
        export.coco.add_image(file_name, labels, labelserver_image_id=image.pk)
    if export.wants("geojson"):
        _original(export, image, "geojson/images", name)
        features = geojson.label_features(labels, object_type=export.options.geojson_object_type,
                                          tolerance=export.options.geojson_tolerance)
        export.write(f"geojson/{name}.geojson", json.dumps(features).encode())


# --- Manifest ---------------------------------------------------------------------------------


def _image_entry(image: Image, name: str, n_crops: int, stitched: Stitched, written: bool) -> dict[str, Any]:
    return {
        "id": image.pk,
        "name": name,
        "original_name": image.original_name,
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "split": image.split,
        "crops": n_crops,
        "coverage": round(stitched.coverage, 6),
        "cells": int(stitched.labels.max()),
        "whole_image_written": written,
    }


def _annotation_entry(annotation: Annotation) -> dict[str, Any]:
    crop, started = annotation.crop, annotation.started_from
    return {
        "id": annotation.pk,
        "version": annotation.version,
        "is_current": annotation.is_current,
        "crop_id": crop.pk,
        "image_id": crop.image_id,
        "window": [crop.x, crop.y, crop.width, crop.height],
        "split": crop.split,
        "source": annotation.source,
        "author": annotation.author.get_username() if annotation.author else None,
        "created_at": annotation.created_at.isoformat(),
        "n_cells": annotation.n_cells,
        "started_from_model_version": started.number if started else None,
        "review_state": annotation.review_state,
    }


def _manifest(export: _Export, model: dict[str, Any] | None) -> dict[str, Any]:
    images = export.images
    return {
        "generator": GENERATOR,
        "manifest_version": MANIFEST_VERSION,
        "created_at": timezone.now().isoformat(),
        "project": {"id": export.project.pk, "name": export.project.name},
        "options": export.options.to_dict(),
        "counts": {
            "images": len(images),
            "whole_images": sum(1 for i in images if i["whole_image_written"]),
            "partial_images_not_written_whole": [i["name"] for i in images if not i["whole_image_written"]],
            "annotations": len(export.annotations),
            "cells_in_crops": sum(a["n_cells"] for a in export.annotations),
        },
        "images": images,
        "annotations": export.annotations,
        "model_version": model,
        "files": export.files,
    }
