"""Cellpose training folders and other image + label image pairs.

Export: ``<name>_img.tif`` + ``<name>_masks.tif`` per example (``.png`` on request, when the
image fits PNG: 8 or 16 bit, 1, 3 or 4 channels, and at most 65535 cells; otherwise TIFF). Images
are written as stored, (H, W) for one channel, (H, W, C) otherwise; masks as label TIFF
(`annotations.formats.label_tiff`) or 16-bit PNG. `cellpose.io.load_train_test_data(folder,
image_filter="_img", mask_filter="_masks")` and Cellpose's GUI/CLI read the folder as it is.

Import (`find_pairs`): a folder of images and label images matched by name:
* Cellpose: ``<name>_img.<ext>`` or ``<name>.<ext>`` beside ``<name>_masks.<ext>`` (also
  ``_cp_masks``, Cellpose's saved predictions, and ``_labels``/``_label``);
* a label folder: ``masks/`` (or ``labels/``) holding ``<name>.<ext>`` (or ``<name>_masks.<ext>``),
  with the images in ``images/`` or beside the label folder (the layout of this project's data/
  folder and of the label-TIFF export).
Cellpose ``_seg.npy`` files are not read (loading them runs pickled code): save masks as PNG or
TIFF from the Cellpose GUI instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image as PILImage

from annotations.formats.label_tiff import label_tiff_bytes
from annotations.masks import MAX_LABEL

IMAGE_EXTENSIONS = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
LABEL_EXTENSIONS = (".tif", ".tiff", ".png")
IMAGE_SUFFIX = "_img"
MASK_SUFFIXES = ("_cp_masks", "_masks", "_labels", "_label")
LABEL_FOLDERS = ("masks", "labels")
# Files Cellpose writes beside its images that are neither images nor label images.
IGNORED_SUFFIXES = ("_flows", "_cellprob", "_cp_output", "_seg", "_outlines")


# --- Export -----------------------------------------------------------------------------------


def pair_names(name: str, extension: str = ".tif") -> tuple[str, str]:
    """The image and mask file names of one example."""
    return f"{name}{IMAGE_SUFFIX}{extension}", f"{name}_masks{extension}"


def fits_png(pixels: np.ndarray, labels: np.ndarray) -> bool:
    channels = pixels.shape[-1] if pixels.ndim == 3 else 1
    return pixels.dtype in (np.uint8, np.uint16) and channels in (1, 3, 4) and int(labels.max(initial=0)) <= MAX_LABEL


def image_bytes(pixels: np.ndarray, extension: str) -> bytes:
    """An (H, W, C) image as TIFF or PNG bytes; one channel is written as (H, W)."""
    plane = pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels
    buffer = io.BytesIO()
    if extension == ".png":
        PILImage.fromarray(np.ascontiguousarray(plane)).save(buffer, format="PNG")
    else:
        photometric = "rgb" if plane.ndim == 3 and plane.shape[-1] in (3, 4) and plane.dtype == np.uint8 \
            else "minisblack"
        tifffile.imwrite(buffer, np.ascontiguousarray(plane), photometric=photometric)
    return buffer.getvalue()


def mask_bytes(labels: np.ndarray, extension: str) -> bytes:
    if extension == ".png":
        buffer = io.BytesIO()
        PILImage.fromarray(np.ascontiguousarray(labels, dtype=np.uint16)).save(buffer, format="PNG")
        return buffer.getvalue()
    return label_tiff_bytes(labels)


def example_files(name: str, pixels: np.ndarray, labels: np.ndarray, extension: str = ".tif"
                  ) -> list[tuple[str, bytes]]:
    """(file name, bytes) of one training example; falls back to TIFF when PNG cannot hold it."""
    if extension == ".png" and not fits_png(pixels, labels):
        extension = ".tif"
    image_name, mask_name = pair_names(name, extension)
    return [(image_name, image_bytes(pixels, extension)), (mask_name, mask_bytes(labels, extension))]


# --- Import -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelPair:
    name: str  # the image's name as the project will know it
    image: Path | None  # None: a label image for an image the project already holds
    labels: Path


def _stem_and_role(path: Path) -> tuple[str, str]:
    """(base name, "image" | "mask" | "ignored") of a file by its name."""
    stem = path.stem
    if path.name.endswith("_seg.npy"):
        return stem, "ignored"
    for suffix in MASK_SUFFIXES:
        if stem.endswith(suffix) and path.suffix.lower() in LABEL_EXTENSIONS:
            return stem.removesuffix(suffix), "mask"
    if any(stem.endswith(s) for s in IGNORED_SUFFIXES) or path.suffix.lower() not in IMAGE_EXTENSIONS:
        return stem, "ignored"
    return stem.removesuffix(IMAGE_SUFFIX), "image"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _label_folder(folder: Path) -> Path | None:
    return next((folder / n for n in LABEL_FOLDERS if (folder / n).is_dir()), None)


def _pairs_in_label_folder(images: Path, labels: Path) -> tuple[list[LabelPair], list[Path]]:
    by_stem = {p.stem: p for p in _files(images) if _stem_and_role(p)[1] == "image"}
    pairs = []
    for label in _files(labels):
        if label.suffix.lower() not in LABEL_EXTENSIONS:
            continue
        base = _stem_and_role(label)[0]
        image = by_stem.pop(label.stem, None) or by_stem.pop(base, None)
        pairs.append(LabelPair(name=image.name if image else base, image=image, labels=label))
    return pairs, sorted(by_stem.values())


def _pairs_side_by_side(folder: Path) -> tuple[list[LabelPair], list[Path]]:
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for path in _files(folder):
        base, role = _stem_and_role(path)
        if role == "image":
            images.setdefault(base, path)
        elif role == "mask":
            masks.setdefault(base, path)
    pairs = [
        LabelPair(name=_image_name(images[b]) if b in images else b, image=images.get(b), labels=masks[b])
        for b in sorted(masks)
    ]
    return pairs, [images[b] for b in sorted(images) if b not in masks]


def _image_name(path: Path) -> str:
    """The image's name without Cellpose's `_img` tag: `a_img.tif` is image `a.tif`."""
    return path.stem.removesuffix(IMAGE_SUFFIX) + path.suffix


def find_pairs(folder: Path) -> tuple[list[LabelPair], list[Path]]:
    """Label images in `folder` with their images, and the images left without a label image.

    A label image whose image is not in the folder comes with `image=None` and `name` its base
    name: the caller looks for that image in the project."""
    label_folder = _label_folder(folder)
    if label_folder is not None:
        images = folder / "images"
        return _pairs_in_label_folder(images if images.is_dir() else folder, label_folder)
    return _pairs_side_by_side(folder)
