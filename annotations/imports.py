"""Import label images, COCO JSON or GeoJSON polygons into a project, all or nothing.

Input: a folder, a zip of one, or a single .json/.geojson file. Formats:

* ``cellpose`` / ``tiff``: image + label image pairs (`annotations.formats.cellpose_folder`:
  Cellpose ``<name>_img`` + ``<name>_masks``, ``_cp_masks``, or ``images/`` + ``masks/``).
* ``coco``: one COCO instance segmentation JSON; images by their ``file_name``.
* ``geojson``: ``<name>.geojson`` per image (QuPath export); the image is ``<name>.<ext>``.

An image comes from the bundle (it is ingested like any upload: stored once, tiled into crops;
a file the project already holds is matched by its content) or, when the bundle leaves it out,
from the project by its name (``original_name``, or the same name without extension). A
reference found in neither place refuses the import ("unknown image reference").

Modes: ``labels`` makes each crop of the image a new current annotation version (source
"import"), cut from the image's label image and renumbered per crop (cells 1..N in the order
they first appear row by row); the crop counts as labelled, also where it holds no cells.
``predictions`` hands the cut masks to a `PredictionSink`: predictions belong to the learning
part, which the labelling part must not import, so `active_learning.model_transfer.import_bundle`
passes one that stores them as predictions of a new model version (origin "import", status
retired, no weights) that labellers correct; the crops stay in the queue. (The labelling tool
shows the active version's prediction when it has one, so imported predictions are for crops the
active model has not predicted.) The options (`ImportOptions`) are parsed by
`annotations.api.export_serializers`.

Overlapping objects (COCO, GeoJSON) are resolved by `OverlapRule` (smaller object wins,
or reject). Everything is checked before anything is written where that is possible (file
structure, image references, sizes); the writing then runs in one transaction, and if anything
fails the transaction rolls back and the files this import stored are deleted: nothing partial
is kept. Errors name the file and the problem.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.db import transaction
from django.db.models import Max

from annotations.formats import cellpose_folder, coco, geojson
from annotations.formats.instances import OverlapRule, PaintReport, paint
from annotations.formats.label_tiff import read_labels
from annotations.formats.stitching import renumber_by_position
from annotations.imaging import read_header
from annotations.ingest import ensure_labelled_validation, ingest_image
from annotations.masks import as_label_image, count_cells, encode_png
from annotations.models import Annotation, Crop, CropStatus, Image, Project
from labelserver import storage
from labelserver.errors import DomainError

IMPORT_FORMATS = ("cellpose", "tiff", "coco", "geojson")
IMPORT_SOURCE = "import"
MAX_BUNDLE_BYTES = 8 * 1024**3  # uncompressed size of a zip bundle
MAX_BUNDLE_FILES = 100_000
ProgressCallback = Callable[[int, int, str], None]
LabelReader = Callable[[tuple[int, int]], tuple[np.ndarray, PaintReport | None]]


class ImportMode(StrEnum):
    LABELS = "labels"
    PREDICTIONS = "predictions"


class BundleError(DomainError):
    code = "bad_import"


@dataclass(frozen=True)
class ImportOptions:
    format: str
    mode: ImportMode = ImportMode.LABELS
    overlap: OverlapRule = OverlapRule.SMALLER_WINS
    object_type: str | None = None  # GeoJSON: only features of this QuPath objectType


@dataclass
class ImportReport:
    format: str
    mode: str
    images_created: int = 0
    images_existing: int = 0
    annotations: int = 0
    predictions: int = 0
    cells: int = 0
    contested_pixels: int = 0
    dropped_objects: list[str] = field(default_factory=list)
    crowd_annotations_skipped: int = 0
    model_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Item:
    """One image's labels: where they come from and how to read them."""

    source: str  # the label file, for messages
    image_name: str
    image_path: Path | None  # None: the image is already in the project
    existing: Image | None
    read: LabelReader


@dataclass(frozen=True)
class CropCut:
    """One crop's cut of an imported label image, renumbered 1..N."""

    crop: Crop
    mask_png: bytes  # 16-bit PNG
    n_cells: int


class PredictionSink(Protocol):
    """Where ``mode=predictions`` stores the cut masks (active_learning.model_transfer)."""

    def begin(self, project: Project, source_name: str, options: ImportOptions) -> int:
        """Called in the import's transaction before the first image; returns the number the report
        gives as model_version."""
        ...

    def add(self, cuts: list[CropCut]) -> int:
        """Store one image's cuts; returns how many predictions were stored."""
        ...


# --- The bundle -------------------------------------------------------------------------------


def _safe_members(archive: zipfile.ZipFile, name: str) -> list[zipfile.ZipInfo]:
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_BUNDLE_FILES:
        raise BundleError(f"{name}: holds {len(members):,} files, more than {MAX_BUNDLE_FILES:,}")
    if sum(m.file_size for m in members) > MAX_BUNDLE_BYTES:
        raise BundleError(f"{name}: unpacks to more than {MAX_BUNDLE_BYTES:,} bytes")
    for member in members:
        parts = Path(member.filename).parts
        if member.filename.startswith(("/", "\\")) or ".." in parts or ":" in member.filename:
            raise BundleError(f"{name}: refuses the unsafe path {member.filename!r}")
    return members


@contextmanager
def open_bundle(source: Path) -> Iterator[tuple[Path, Path | None]]:
    """(folder to read, the single file given or None), unpacking a zip into a temporary folder."""
    if source.is_dir():
        yield source, None
        return
    if not source.is_file():
        raise BundleError(f"{source.name}: no such file or folder")
    if not zipfile.is_zipfile(source):
        yield source.parent, source
        return
    folder = Path(tempfile.mkdtemp(prefix="labelserver-import-"))
    try:
        with zipfile.ZipFile(source) as archive:
            archive.extractall(folder, members=_safe_members(archive, source.name))
        yield _single_top_folder(folder), None
    except zipfile.BadZipFile as exc:
        raise BundleError(f"{source.name}: not a readable zip file ({exc})") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _single_top_folder(folder: Path) -> Path:
    """A zip of one folder stands for that folder (unless it is a part of a layout: masks/)."""
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    layout = ("images", *cellpose_folder.LABEL_FOLDERS)
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in layout:
        return entries[0]
    return folder


def export_part(root: Path, fmt: str) -> Path:
    """In a labelserver export (manifest.json at its root), the part that holds `fmt` whole."""
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return root
    try:
        generator = json.loads(manifest.read_text()).get("generator")
    except (OSError, ValueError, AttributeError, RecursionError):
        return root
    if generator != "labelserver":
        return root
    part = root / ("cellpose/images" if fmt == "cellpose" else fmt)
    if not part.is_dir():
        raise BundleError(f"this labelserver export holds no {fmt} files (no {part.relative_to(root)}/ folder)")
    return part


# --- Finding images ---------------------------------------------------------------------------


def project_image(project: Project, name: str) -> Image | None:
    """A project image by its original name, or by the same name without extension."""
    exact = list(Image.objects.filter(project=project, original_name=name)[:2])
    if len(exact) == 1:
        return exact[0]
    stem = Path(name).stem
    matches = [i for i in Image.objects.filter(project=project, original_name__startswith=stem)
               if Path(i.original_name).stem == stem]
    if len(exact) > 1 or len(matches) > 1:
        raise BundleError(f"{name}: several images of the project have this name; include the image file itself")
    return matches[0] if matches else None


def _image_shape(path: Path | None, existing: Image | None) -> tuple[int, int]:
    if existing is not None:
        return (existing.height, existing.width)
    assert path is not None, "_resolve found the image either in the project or in the bundle"
    return read_header(path).shape


def _resolve(project: Project, source: str, image_name: str, image_path: Path | None) -> Image | None:
    """The project image a label file names when the bundle lacks it; refuses unknown references."""
    if image_path is not None:
        return None
    existing = project_image(project, image_name)
    if existing is None:
        raise BundleError(f"{source}: unknown image reference {image_name!r}: the image is neither in the "
                           "import nor in the project")
    return existing


# --- Planning, per format ---------------------------------------------------------------------


def _label_pair_items(project: Project, root: Path, bundle: str) -> list[_Item]:
    pairs, unlabelled = cellpose_folder.find_pairs(root)
    if unlabelled:
        names = ", ".join(p.name for p in unlabelled[:5])
        raise BundleError(f"{names}: no label image found (looked for <name>_masks.<png|tif>, <name>_cp_masks, "
                           "or masks/<name>.<png|tif>)")
    if not pairs:
        raise BundleError(f"{bundle}: no label images found (<name>_masks.<png|tif> or a masks/ folder)")
    items = []
    for pair in pairs:
        existing = _resolve(project, pair.labels.name, pair.name, pair.image)
        shape = _image_shape(pair.image, existing)
        _check_label_header(pair.labels, shape)
        items.append(_Item(pair.labels.name, pair.name, pair.image, existing, _label_file_reader(pair.labels)))
    return items


def _check_label_header(path: Path, shape: tuple[int, int]) -> None:
    header = read_header(path)
    if header.shape != shape:
        raise BundleError(f"{path.name}: the label image is {header.width}x{header.height} (width x height) "
                           f"but its image is {shape[1]}x{shape[0]}")


def _label_file_reader(path: Path) -> LabelReader:
    return lambda shape: (read_labels(path, shape), None)


def _find_file(root: Path, relative: str, index: dict[str, list[Path]]) -> Path | None:
    for candidate in (root / relative, root / "images" / relative):
        if candidate.is_file():
            return candidate
    found = index.get(Path(relative).name, [])
    return found[0] if len(found) == 1 else None


def _file_index(root: Path) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            index.setdefault(path.name, []).append(path)
    return index


def _coco_file(root: Path, single: Path | None, bundle: str) -> Path:
    if single is not None:
        return single
    files = sorted(p for p in root.rglob("*.json") if p.name != "manifest.json")
    if len(files) != 1:
        found = ", ".join(p.name for p in files[:5]) or "none"
        raise BundleError(f"{bundle}: a COCO import needs exactly one .json file (found {found})")
    return files[0]


def _coco_items(project: Project, root: Path, single: Path | None, bundle: str, report: ImportReport,
                overlap: OverlapRule) -> list[_Item]:
    path = _coco_file(root, single, bundle)
    data = coco.read_coco(path)
    report.crowd_annotations_skipped = data.crowd_skipped
    index = _file_index(path.parent)
    items = []
    for entry in data.images:
        image_path = _find_file(path.parent, entry.file_name, index)
        existing = _resolve(project, path.name, Path(entry.file_name).name, image_path)
        shape = _image_shape(image_path, existing)
        if shape != entry.shape:
            raise BundleError(f"{path.name}: image {entry.file_name!r} is {entry.width}x{entry.height} in the "
                               f"file but {shape[1]}x{shape[0]} in fact (width x height)")
        read = _objects_reader(lambda s, e=entry: coco.coco_objects(data, e), path.name, overlap)
        items.append(_Item(path.name, Path(entry.file_name).name, image_path, existing, read))
    return items


def _objects_reader(objects: Callable[[tuple[int, int]], list], name: str, overlap: OverlapRule) -> LabelReader:
    return lambda shape: paint(objects(shape), shape, rule=overlap, name=name)


def _geojson_items(project: Project, root: Path, single: Path | None, bundle: str, overlap: OverlapRule,
                   object_type: str | None) -> list[_Item]:
    files = [single] if single is not None else sorted(root.glob("*.geojson")) + sorted(root.glob("*.json"))
    files = [f for f in files if f.name != "manifest.json"]
    if not files:
        raise BundleError(f"{bundle}: no .geojson files found")
    images = {p.stem: p for folder in (root, root / "images") if folder.is_dir() for p in folder.iterdir()
              if p.is_file() and p.suffix.lower() in cellpose_folder.IMAGE_EXTENSIONS}
    items = []
    for path in files:
        features = geojson.load_features(path)
        image_path = images.get(path.stem)
        existing = _resolve(project, path.name, image_path.name if image_path else path.stem, image_path)
        _image_shape(image_path, existing)  # a broken image fails here, before anything is written
        read = _objects_reader(
            lambda shape, f=features, n=path.name: geojson.read_objects(f, shape, name=n, object_type=object_type),
            path.name, overlap)
        items.append(_Item(path.name, image_path.name if image_path else existing.original_name, image_path,
                           existing, read))
    return items


def plan_import(project: Project, root: Path, single: Path | None, bundle: str, options: ImportOptions,
                report: ImportReport) -> list[_Item]:
    """Check the bundle's structure, references and sizes; nothing is written. `bundle` is
    the name of what the user gave, for messages."""
    root = export_part(root, options.format) if single is None else root
    if options.format in ("cellpose", "tiff"):
        items = _label_pair_items(project, root, bundle)
    elif options.format == "coco":
        items = _coco_items(project, root, single, bundle, report, options.overlap)
    else:
        items = _geojson_items(project, root, single, bundle, options.overlap, options.object_type)
    _refuse_repeats(items)
    return items


def _refuse_repeats(items: list[_Item]) -> None:
    seen: dict[str, str] = {}
    for item in items:
        key = str(item.image_path or f"project image {item.existing.pk}")
        if key in seen:
            raise BundleError(f"{item.source}: image {item.image_name!r} is labelled twice (also by {seen[key]})")
        seen[key] = item.source


# --- Writing ----------------------------------------------------------------------------------


@dataclass
class _Written:
    """Files the import stored (originals and crop displays), deleted again if it fails."""

    names: list[str] = field(default_factory=list)

    def add_image(self, image: Image) -> None:
        self.names.append(image.file.name)
        self.names.extend(image.crops.values_list("display", flat=True))

    def discard(self) -> None:
        for name in self.names:
            if name.startswith("images/") and Image.objects.filter(file=name).exists():
                continue  # another project holds the same original
            storage.delete(name)


def _crop_masks(image: Image, labels: np.ndarray, source: str) -> list[CropCut]:
    """Each crop's cut of the label image, renumbered 1..N."""
    cuts = []
    for crop in image.crops.order_by("id"):
        cut = renumber_by_position(labels[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width], np.int64)
        mask = as_label_image(cut, name=f"{source}: the crop at x={crop.x}, y={crop.y}")
        cuts.append(CropCut(crop, encode_png(mask), count_cells(mask)))
    return cuts


def _add_annotations(cuts: list[CropCut], user: Any) -> int:
    crops = [cut.crop for cut in cuts]
    versions = Annotation.objects.filter(crop__in=crops).values("crop_id").annotate(v=Max("version"))
    latest = dict(versions.values_list("crop_id", "v"))
    Annotation.objects.filter(crop__in=crops, is_current=True).update(is_current=False)
    author = user if getattr(user, "pk", None) else None
    Annotation.objects.bulk_create([
        Annotation(crop=cut.crop, version=latest.get(cut.crop.pk, 0) + 1, is_current=True, author=author,
                   mask_png=cut.mask_png, n_cells=cut.n_cells, source=IMPORT_SOURCE)
        for cut in cuts
    ])
    unlabelled = (CropStatus.UNLABELLED, CropStatus.LEASED, CropStatus.SKIPPED)
    Crop.objects.filter(id__in=[c.pk for c in crops], status__in=unlabelled).update(status=CropStatus.LABELLED)
    return len(cuts)


def _image_for(project: Project, item: _Item, user: Any, written: _Written, report: ImportReport) -> Image:
    if item.image_path is None:
        report.images_existing += 1
        return item.existing
    result = ingest_image(project, item.image_path, original_name=item.image_name, user=user)
    if result.created:
        written.add_image(result.image)
        report.images_created += 1
    else:
        report.images_existing += 1
    return result.image


def _import_item(project: Project, item: _Item, user: Any, written: _Written, report: ImportReport,
                 predictions: PredictionSink | None) -> None:
    image = _image_for(project, item, user, written, report)
    labels, painted = item.read((image.height, image.width))
    if painted is not None:
        report.contested_pixels += painted.contested_pixels
        report.dropped_objects += [f"{item.source}: {what}" for what in painted.dropped]
    report.cells += int(len(np.unique(labels)) - 1)
    cuts = _crop_masks(image, labels, item.source)
    if predictions is None:
        report.annotations += _add_annotations(cuts, user)
    else:
        report.predictions += predictions.add(cuts)


def import_annotations(project: Project, source: Path, options: ImportOptions, *, user: Any = None,
                       progress: ProgressCallback | None = None,
                       predictions: PredictionSink | None = None) -> ImportReport:
    """Import `source` (folder, zip, or one .json/.geojson file) into `project`, all or nothing.
    ``mode=predictions`` needs `predictions`, where the masks go
    (active_learning.model_transfer.import_bundle passes it)."""
    if (options.mode == ImportMode.PREDICTIONS) != (predictions is not None):
        raise ValueError("mode=predictions and a prediction sink go together: use active_learning.model_transfer")
    report = ImportReport(format=options.format, mode=str(options.mode))
    written = _Written()
    with open_bundle(Path(source)) as (root, single):
        items = plan_import(project, root, single, Path(source).name, options, report)
        try:
            with transaction.atomic():
                _write_items(project, items, options, Path(source).name, user, written, report, progress,
                             predictions)
        except BaseException:
            written.discard()
            raise
    return report


def _write_items(project: Project, items: list[_Item], options: ImportOptions, source_name: str, user: Any,
                 written: _Written, report: ImportReport, progress: ProgressCallback | None,
                 predictions: PredictionSink | None) -> None:
    report.model_version = predictions.begin(project, source_name, options) if predictions else None
    for done, item in enumerate(items, start=1):
        _import_item(project, item, user, written, report, predictions)
        if progress is not None:
            progress(done, len(items), item.image_name)
    if options.mode == ImportMode.LABELS:
        ensure_labelled_validation(project)
