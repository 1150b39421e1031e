"""python manage.py import_images PROJECT PATH... [--masks-suffix _masks] [--masks-dir DIR] [--user NAME]

Adds image files to a project, with their label images when there are any. A directory stands
for the image files directly inside it; a directory with an images/ folder (the shipped data/
layout: images/<id>.png + masks/<id>.png) stands for images/, with masks/ as its label folder.

Label images are found by Cellpose's convention, <name>_masks.<ext> beside the image (the
suffix is --masks-suffix), or in --masks-dir under the image's own file name (or its stem with
any label extension, or with the suffix). An image without one is imported unlabelled.

A file that fails is reported and skipped; the command goes on with the rest and exits with
status 1 when any failed.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from annotations.ingest import IngestResult, ensure_labelled_validation, ingest_image
from annotations.models import Project
from labelserver.errors import DomainError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
LABEL_SUFFIXES = (".png", ".tif", ".tiff")


@dataclass(frozen=True)
class ImportItem:
    image: Path
    mask: Path | None


@dataclass
class Tally:
    created: int = 0
    duplicates: int = 0
    crops: int = 0
    annotations: int = 0
    failed: int = 0
    # Images already in the project that came with a label image: the labels were not imported.
    labels_not_imported: list[ImportItem] = field(default_factory=list)


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def expand_paths(paths: list[Path], *, masks_suffix: str, masks_dir: Path | None) -> list[ImportItem]:
    """The images named by files and directories, each with its label image if one exists."""
    items: list[ImportItem] = []
    for path in paths:
        images, folder_masks = _images_in(path, masks_suffix)
        label_dir = masks_dir or folder_masks
        items += [ImportItem(image, find_mask(image, masks_suffix=masks_suffix, masks_dir=label_dir))
                  for image in images]
    return items


def _images_in(path: Path, masks_suffix: str) -> tuple[list[Path], Path | None]:
    """(image files, label folder implied by the layout) for one command-line path."""
    if not path.is_dir():
        return [path], None  # a missing file is reported as a failure of that file
    images = sorted(p for p in path.iterdir() if is_image_file(p) and not _is_mask_name(p, masks_suffix))
    if not images and (path / "images").is_dir():
        nested, _ = _images_in(path / "images", masks_suffix)
        return nested, (path / "masks") if (path / "masks").is_dir() else None
    return images, None


def _is_mask_name(path: Path, masks_suffix: str) -> bool:
    return bool(masks_suffix) and path.stem.endswith(masks_suffix)


def find_mask(image: Path, *, masks_suffix: str, masks_dir: Path | None) -> Path | None:
    """The label image of `image`, by the masks folder or Cellpose's <name>_masks.<ext>."""
    suffixed = [f"{image.stem}{masks_suffix}{ext}" for ext in LABEL_SUFFIXES] if masks_suffix else []
    if masks_dir is not None:
        names = [image.name] + [f"{image.stem}{ext}" for ext in LABEL_SUFFIXES] + suffixed
        candidates = [masks_dir / name for name in names]
    else:
        candidates = [image.parent / name for name in suffixed]
    return next((c for c in candidates if c.is_file()), None)


def find_project(reference: str) -> Project:
    """A project by name, or by id when the reference is a number that names none."""
    project = Project.objects.filter(name=reference).first()
    if project is None and reference.isdigit():
        project = Project.objects.filter(pk=int(reference)).first()
    if project is None:
        names = ", ".join(repr(n) for n in Project.objects.order_by("name").values_list("name", flat=True)[:20])
        raise CommandError(f"no project named {reference!r} (projects: {names or 'none yet'})")
    return project


def find_user(username: str | None) -> Any:
    """The user a --user option names (None when not given)."""
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user named {username!r}")
    return user


class Command(BaseCommand):
    help = "Import image files (and their label images) into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="project name (or id)")
        parser.add_argument("paths", nargs="+", type=Path, help="image files and/or directories of images")
        parser.add_argument("--masks-suffix", default="_masks",
                            help="label image beside an image: <name><suffix>.<ext> (default: _masks)")
        parser.add_argument("--masks-dir", type=Path, default=None,
                            help="folder of label images named like their images")
        parser.add_argument("--user", default=None, help="username recorded as uploader and label author")

    def handle(self, *args: Any, **options: Any) -> None:
        project = find_project(options["project"])
        user = find_user(options["user"])
        masks_dir = options["masks_dir"]
        if masks_dir is not None and not masks_dir.is_dir():
            raise CommandError(f"--masks-dir {masks_dir} is not a directory")
        items = expand_paths(options["paths"], masks_suffix=options["masks_suffix"], masks_dir=masks_dir)
        if not items:
            raise CommandError("no image files found (looked for " + ", ".join(IMAGE_SUFFIXES) + ")")
        tally = self._import_all(project, items, user, verbosity=options["verbosity"])
        self._finish(project, tally, len(items))

    def _import_all(self, project: Project, items: list[ImportItem], user: Any, *, verbosity: int) -> Tally:
        tally = Tally()
        bar_file = _bar_stream(self.stderr)
        for item in tqdm(items, desc=f"Importing into {project.name}", unit="image", file=bar_file, disable=None):
            try:
                result = ingest_image(project, item.image, original_name=item.image.name, mask_source=item.mask,
                                      user=user)
            except Exception as exc:  # one bad file must not stop the others; each is reported
                tally.failed += 1
                self._report(bar_file, f"FAILED {item.image}: {_describe(exc)}", error=True)
                continue
            self._count(tally, result, item)
            if verbosity >= 2:
                self._report(bar_file, _describe_result(item, result))
        return tally

    def _count(self, tally: Tally, result: IngestResult, item: ImportItem) -> None:
        if result.created:
            tally.created += 1
            tally.crops += result.crops
            tally.annotations += result.imported_annotations
        else:
            tally.duplicates += 1
            if item.mask is not None:
                tally.labels_not_imported.append(item)

    def _report(self, bar_file: TextIO, line: str, *, error: bool = False) -> None:
        with tqdm.external_write_mode(file=bar_file):
            if error:
                self.stderr.write(line)
            else:
                self.stdout.write(line)

    def _finish(self, project: Project, tally: Tally, total: int) -> None:
        if tally.annotations:
            moved = ensure_labelled_validation(project)
            if moved is not None:
                self.stdout.write(f"Moved {moved.original_name} to the validation split, so validation has labels.")
        self.stdout.write(
            f"Imported {tally.created} new image(s) into {project.name!r}: {tally.crops} crops, "
            f"{tally.annotations} labelled from label images; {tally.duplicates} already in the project; "
            f"{tally.failed} failed."
        )
        if tally.labels_not_imported:
            self.stdout.write(_labels_not_imported(project, tally.labels_not_imported))
        if tally.failed:
            raise CommandError(f"{tally.failed} of {total} file(s) failed; see the messages above")


def _bar_stream(wrapper: Any) -> TextIO:
    """The raw stream under Django's OutputWrapper: tqdm redraws with \\r, which the wrapper
    would turn into new lines."""
    return getattr(wrapper, "_out", sys.stderr)


def _labels_not_imported(project: Project, items: list[ImportItem]) -> str:
    """What to do about label images beside images the project already had: import_images skips
    such an image whole, its label image included."""
    first = items[0]
    assert first.mask is not None
    folders = sorted({shlex.quote(str(folder)) if (folder := _pairs_folder(item)) else "FOLDER" for item in items})
    examples = f"{first.image.name} with {first.mask.name}" + (f" and {len(items) - 1} more" if len(items) > 1 else "")
    commands = "\n".join(f"  python manage.py import_annotations {shlex.quote(project.name)} {folder} "
                         "--format cellpose" for folder in folders)
    return (f"The labels of {len(items)} image(s) already in the project were NOT imported ({examples}): "
            "import_images skips an image it already has, label image included. To import those labels "
            "(a FOLDER holds images and label images as <name>.png beside <name>_masks.png, or images/ beside "
            "masks/, and every image in it needs its label image; the images are matched to the project's by "
            f"their content):\n{commands}")


def _pairs_folder(item: ImportItem) -> Path | None:
    """The folder import_annotations --format cellpose reads the pair from: the image's folder, or
    the folder above images/ when the label image is in masks/ or labels/ beside it; None when the
    label image is elsewhere (--masks-dir)."""
    folder, labels = item.image.parent, item.mask.parent if item.mask is not None else None
    if labels == folder:
        return folder
    if labels is not None and labels.parent == folder.parent and folder.name == "images" \
            and labels.name in ("masks", "labels"):
        return folder.parent
    return None


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"


def _describe_result(item: ImportItem, result: IngestResult) -> str:
    if not result.created:
        return f"skipped {item.image}: already in the project as {result.image.original_name}"
    labels = f", {result.imported_annotations} labelled from {item.mask.name}" if item.mask else ""
    return f"ok {item.image}: {result.crops} crops ({result.image.split}){labels}"
