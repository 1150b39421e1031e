"""Label images as TIFF: one 2-D plane of cell ids, 0 = background.

Written as 16-bit unsigned when the largest id fits (up to 65535 cells), else 32-bit unsigned;
uncompressed, one page, greyscale, so tifffile, napari, Cellpose, Fiji/ImageJ and QuPath all
read it the same. 16-bit files carry ImageJ metadata (Fiji opens them as a 16-bit image);
ImageJ has no 32-bit integer type and shows a 32-bit file as 32-bit float, which holds every
id below 16,777,216 exactly.

Read back with `read_labels`, which accepts any single-channel PNG or TIFF of whole
non-negative ids up to 2**32 - 1 (a stitched image may hold more than 65535 cells; each crop
still holds at most 65535, which `annotations.masks.as_label_image` checks per crop).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import tifffile

from annotations.imaging import read_label_plane
from annotations.masks import MAX_LABEL, MaskError

MAX_LABEL_32 = 2**32 - 1


def label_dtype(labels: np.ndarray) -> np.dtype:
    """uint16 when every id fits, else uint32."""
    top = int(labels.max()) if labels.size else 0
    if top > MAX_LABEL_32:
        raise MaskError(f"label image has id {top}; at most {MAX_LABEL_32} fits a 32-bit label TIFF")
    return np.dtype(np.uint16) if top <= MAX_LABEL else np.dtype(np.uint32)


def label_tiff_bytes(labels: np.ndarray) -> bytes:
    """A label image as TIFF bytes (16-bit when it fits, else 32-bit)."""
    dtype = label_dtype(labels)
    buffer = io.BytesIO()
    data = np.ascontiguousarray(labels, dtype=dtype)
    if dtype == np.uint16:
        tifffile.imwrite(buffer, data, imagej=True, metadata={"axes": "YX"})
    else:
        tifffile.imwrite(buffer, data, photometric="minisblack", metadata={"axes": "YX"})
    return buffer.getvalue()


def write_label_tiff(path: str | os.PathLike, labels: np.ndarray) -> None:
    Path(path).write_bytes(label_tiff_bytes(labels))


def as_labels(array: np.ndarray, shape: tuple[int, int] | None = None, *, name: str) -> np.ndarray:
    """Check a label image read from a file: 2-D (or one channel), whole non-negative ids, the
    expected (height, width); return it as uint32."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise MaskError(f"{name}: a label image has one channel of cell ids, this one has shape {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise MaskError(
            f"{name}: the label image is {array.shape[1]}x{array.shape[0]} (width x height) "
            f"but its image is {shape[1]}x{shape[0]}"
        )
    _check_values(array, name)
    return array.astype(np.uint32, copy=False)


def _check_values(array: np.ndarray, name: str) -> None:
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise MaskError(f"{name}: the label image has non-integer values; a label image holds whole cell ids")
    elif array.dtype.kind not in "iub":
        raise MaskError(f"{name}: unsupported label pixel type {array.dtype}")
    if array.size and array.min() < 0:
        raise MaskError(f"{name}: the label image has negative ids (min {array.min()}); 0 is background")
    if array.size and array.max() > MAX_LABEL_32:
        raise MaskError(f"{name}: the label image has id {array.max()}, over the 32-bit limit")


def read_labels(path: str | os.PathLike, shape: tuple[int, int] | None = None, *,
                name: str | None = None) -> np.ndarray:
    """A label image file (16-bit PNG, 16/32-bit TIFF, Cellpose *_masks) as uint32 (H, W)."""
    name = name or Path(path).name
    return as_labels(read_label_plane(path, shape, name=name), shape, name=name)
