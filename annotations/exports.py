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

Whole-image outputs (everything except cellpose/crops) stitch each image's crop annotations
into one label image (`annotations.formats.stitching`). By default only images whose crops'
annotations cover every pixel are written whole (`whole_images=complete`): an unlabelled part
would otherwise read as background. `whole_images=any` writes partly covered images too (the
manifest gives each image's coverage); the per-crop Cellpose pairs are always complete.

The export is written to a file (a temporary file for the API) and reports progress per image.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.utils import timezone

from active_learning.models import ModelVersion
from annotations.formats import EXPORT_FORMATS, cellpose_folder, geojson
from annotations.formats.coco import CocoBuilder
from annotations.formats.filters import ExportFilters, annotations_by_image, count_images, parse_bool, parse_filters
from annotations.formats.label_tiff import label_tiff_bytes
from annotations.formats.stitching import Piece, Stitched, stitch
from annotations.imaging import read_crop_pixels
from annotations.masks import MAX_LABEL, decode_png
from annotations.models import Annotation, Image, Project
from labelserver.errors import DomainError, NotFound

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
    model: str | None = None  # "active" or a version number: add its weights
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


# --- Options ----------------------------------------------------------------------------------


def _formats(value: Any) -> tuple[str, ...]:
    names = [n.strip().lower() for n in str(value or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPORT_FORMATS]
    if unknown:
        raise ExportError(f"unknown export format {unknown[0]!r}; choose from {', '.join(EXPORT_FORMATS)}")
    return tuple(dict.fromkeys(names))


def _tolerance(value: Any) -> float:
    try:
        tolerance = float(value or 0)
    except ValueError:
        raise ExportError(f"tolerance must be a number of pixels, got {value!r}") from None
    if not 0 <= tolerance <= 10:
        raise ExportError(f"tolerance must lie between 0 and 10 pixels, got {tolerance:g}")
    return tolerance


def _choice(value: Any, name: str, choices: tuple[str, ...], default: str) -> str:
    value = str(value or default)
    if value not in choices:
        raise ExportError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def parse_export_options(params: Mapping[str, Any]) -> ExportOptions:
    """Options from query parameters or command options, refusing bad values by name.

    ``format`` (or ``formats``): comma-separated cellpose, tiff, coco, geojson; ``model``:
    "active" or a version number; ``images``: copy original images (default true);
    ``image_format``: tif or png for Cellpose pairs; ``whole_images``: complete or any;
    ``object_type`` and ``tolerance``: GeoJSON; plus the filters of formats/filters.py."""
    formats = _formats(params.get("format") or params.get("formats"))
    model = str(params.get("model") or "").strip() or None
    if not formats and model is None:
        raise ExportError(f"name at least one format ({', '.join(EXPORT_FORMATS)}) or a model version")
    extension = _choice(str(params.get("image_format") or "tif").lstrip("."), "image_format", ("tif", "png"), "tif")
    return ExportOptions(
        formats=formats,
        filters=parse_filters(params),
        model=model,
        include_images=parse_bool(params.get("images"), "images", True),
        image_extension=f".{extension}",
        whole_images=_choice(params.get("whole_images"), "whole_images", WHOLE_IMAGES, "complete"),
        geojson_object_type=_choice(params.get("object_type"), "object_type", geojson.OBJECT_TYPES, "detection"),
        geojson_tolerance=_tolerance(params.get("tolerance")),
    )


def model_version_for(project: Project, spec: str) -> ModelVersion:
    """The version an export asks for: "active" or its number; it must have weights."""
    from active_learning.versions import active_version

    if spec == "active":
        version = active_version(project)
        if version is None:
            raise NotFound("the project has no active model version to export")
    else:
        if not spec.isdigit():
            raise ExportError(f"model must be 'active' or a version number, got {spec!r}")
        version = ModelVersion.objects.filter(project=project, number=int(spec)).first()
        if version is None:
            raise NotFound(f"the project has no model version {spec}")
    if not version.weights:
        raise ExportError(f"model version {version.number} has no weights file to export")
    return version


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

    def copy(self, name: str, path: Path) -> None:
        compress = zipfile.ZIP_STORED if path.suffix.lower() in _STORED else zipfile.ZIP_DEFLATED
        self.archive.write(path, name, compress_type=compress)
        self.files.append(name)

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=timezone.localtime().timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED if Path(name).suffix.lower() in _STORED else zipfile.ZIP_DEFLATED
        return info

    def wants(self, fmt: str) -> bool:
        return fmt in self.options.formats


def build_export(project: Project, options: ExportOptions, target: Path, *,
                 progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Write the export zip to `target` and return its manifest."""
    version = model_version_for(project, options.model) if options.model else None
    n_images = count_images(project, options.filters) if options.formats else 0
    total = n_images + (1 if version else 0)
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
        model = _export_model(export, version) if version else None
        if version:
            done += 1
            _report(progress, done, total, f"model version {version.number}")
        manifest = _manifest(export, model)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return manifest


def _report(progress: ProgressCallback | None, done: int, total: int, what: str) -> None:
    if progress is not None:
        progress(done, total, what)


# --- One image --------------------------------------------------------------------------------


def _export_image(export: _Export, image: Image, annotations: list[Annotation]) -> None:
    name = export.names.for_image(image)
    masks = [decode_png(a.mask_png) for a in annotations]
    if export.wants("cellpose"):
        _write_crop_pairs(export, name, annotations, masks)
    pieces = [Piece(_window(a), m) for a, m in zip(annotations, masks, strict=True)]
    stitched = stitch((image.height, image.width), pieces)
    written = stitched.complete or export.options.whole_images == "any"
    if written:
        _write_whole_image(export, image, name, stitched)
    export.images.append(_image_entry(image, name, annotations, stitched, written))
    export.annotations.extend(_annotation_entry(a) for a in annotations)


def _window(annotation: Annotation) -> tuple[int, int, int, int]:
    crop = annotation.crop
    return (crop.x, crop.y, crop.width, crop.height)


def _write_crop_pairs(export: _Export, name: str, annotations: list[Annotation], masks: list[np.ndarray]) -> None:
    for annotation, mask in zip(annotations, masks, strict=True):
        crop = annotation.crop
        example = f"{name}_x{crop.x}_y{crop.y}"
        for file_name, data in cellpose_folder.example_files(example, read_crop_pixels(crop), mask,
                                                             export.options.image_extension):
            export.write(f"cellpose/crops/{file_name}", data)


def _original(export: _Export, image: Image, folder: str, name: str) -> str:
    path = Path(image.file.path)
    file_name = f"{name}{path.suffix.lower()}"
    if export.options.include_images:
        export.copy(f"{folder}/{file_name}", path)
    return file_name


def _write_whole_pair(export: _Export, image: Image, name: str, labels: np.ndarray) -> None:
    """The original file (PNG, JPEG or TIFF, as ingest stores them) as <name>_img.<ext>, so a
    re-import finds the same image by its content, beside <name>_masks."""
    path = Path(image.file.path)
    export.copy(f"cellpose/images/{cellpose_folder.pair_names(name, path.suffix.lower())[0]}", path)
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


def _image_entry(image: Image, name: str, annotations: list[Annotation], stitched: Stitched,
                 written: bool) -> dict[str, Any]:
    return {
        "id": image.pk,
        "name": name,
        "original_name": image.original_name,
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "split": image.split,
        "crops": len(annotations),
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


# --- Model weights ----------------------------------------------------------------------------


def model_card(version: ModelVersion, weights_name: str) -> dict[str, Any]:
    """What a model version is: its settings, metrics and history, and how to load it."""
    return {
        "project": version.project.name,
        "number": version.number,
        "backend": version.backend,
        "origin": version.origin,
        "status": version.status,
        "parent": version.parent.number if version.parent else None,
        "created_at": version.created_at.isoformat(),
        "promoted_at": version.promoted_at.isoformat() if version.promoted_at else None,
        "weights_file": weights_name,
        "weights_sha256": version.weights_sha256,
        "settings": version.settings,
        "metrics": version.metrics,
        "history": version.history,
        "n_train_crops": version.n_train_crops,
        "n_train_cells": version.n_train_cells,
        "trained_on_annotations": sorted(version.trained_on.values_list("id", flat=True)),
        "usage": f"from cellpose import models; models.CellposeModel(pretrained_model='{weights_name}')",
    }


def _export_model(export: _Export, version: ModelVersion) -> dict[str, Any]:
    stem = f"model/{slug(export.project.name)}_v{version.number}"
    weights_name = f"{stem}.pth"
    export.copy(weights_name, Path(version.weights.path))
    card = model_card(version, Path(weights_name).name)
    export.write(f"{stem}.json", json.dumps(card, indent=2).encode())
    return {"id": version.pk, "number": version.number, "weights": weights_name, "card": f"{stem}.json",
            "weights_sha256": version.weights_sha256}
