"""Label images (instance masks): validation and the two encodings the project uses.

* Storage: a 16-bit greyscale PNG (lossless, compact, readable by every tool).
* API wire format ("rle"): row-major run-length encoding of the flat label map, as JSON
  ``{"encoding": "rle", "height": H, "width": W, "runs": [id, length, id, length, ...]}``.
  The browser editor's codec (frontend/static/frontend/editor/codec.js) is its twin.

A label image is a 2-D integer array: 0 = background, 1..65535 = one id per cell. Ids need not
be consecutive; `relabel_sequential` makes them so.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image as PILImage

from labelserver.errors import DomainError

MAX_LABEL = 65535
# The largest side of an RLE mask: twice the largest crop (crop_size <= 4096), so a payload's own
# height and width can never ask for more than 128 MB of pixels.
MAX_MASK_SIDE = 8192


class MaskError(DomainError):
    code = "bad_mask"


def as_label_image(array: np.ndarray, shape: tuple[int, int] | None = None, *, name: str = "mask") -> np.ndarray:
    """Check that `array` is a valid label image (of `shape`, when given) and return it as uint16."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise MaskError(f"{name} must be a 2-D label image, got shape {array.shape}")
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise MaskError(
            f"{name} is {array.shape[1]}x{array.shape[0]} (width x height) but its image is {shape[1]}x{shape[0]}"
        )
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise MaskError(f"{name} has non-integer labels; a label image holds whole cell ids")
    elif array.dtype.kind not in "iub":
        raise MaskError(f"{name} has unsupported pixel type {array.dtype}")
    if array.size:
        low, high = array.min(), array.max()
        if low < 0:
            raise MaskError(f"{name} has negative labels (min {low}); 0 is background, cells are 1..{MAX_LABEL}")
        if high > MAX_LABEL:
            raise MaskError(f"{name} has label {high}; at most {MAX_LABEL} cells per image are supported")
    return array.astype(np.uint16, copy=False)


def relabel_sequential(mask: np.ndarray) -> np.ndarray:
    """Renumber cells 1..N in order of first appearance in the sorted id list; 0 stays 0."""
    ids = np.unique(mask)
    ids = ids[ids != 0]
    lookup = np.zeros(int(mask.max()) + 1 if mask.size else 1, dtype=np.uint16)
    lookup[ids] = np.arange(1, len(ids) + 1, dtype=np.uint16)
    return lookup[mask]


def count_cells(mask: np.ndarray) -> int:
    ids = np.unique(mask)
    return int(np.count_nonzero(ids))


def encode_png(mask: np.ndarray) -> bytes:
    mask = as_label_image(mask)
    buffer = io.BytesIO()
    PILImage.fromarray(mask).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(bytes(data))) as image:
        return np.array(image).astype(np.uint16, copy=False)


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    mask = as_label_image(mask)
    flat = mask.ravel()
    if flat.size == 0:
        return {"encoding": "rle", "height": mask.shape[0], "width": mask.shape[1], "runs": []}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [flat.size])))
    runs = np.empty(2 * len(starts), dtype=np.int64)
    runs[0::2] = flat[starts]
    runs[1::2] = lengths
    return {"encoding": "rle", "height": int(mask.shape[0]), "width": int(mask.shape[1]), "runs": runs.tolist()}


def decode_rle(payload: Any, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode the API's RLE payload, refusing anything malformed with a clear message."""
    if not isinstance(payload, dict) or payload.get("encoding") != "rle":
        raise MaskError('mask must be an object {"encoding": "rle", "height", "width", "runs"}')
    height, width, runs = _rle_parts(payload)
    if shape is not None and (height, width) != tuple(shape):
        raise MaskError(f"mask is {width}x{height} but the crop is {shape[1]}x{shape[0]} (width x height)")
    ids, lengths = _rle_pairs(runs, height * width)
    covered = int(lengths.sum())  # int64: each length is at most height x width, so no overflow
    if covered != height * width:
        raise MaskError(f"mask runs cover {covered} pixels, expected {height * width}")
    return np.repeat(ids, lengths).reshape(height, width)


def _rle_parts(payload: dict[str, Any]) -> tuple[int, int, np.ndarray]:
    """Height, width (each 0..MAX_MASK_SIDE) and the runs as float64. A number too large for a
    float (10**400) is refused here: OverflowError, like a malformed list, is a MaskError."""
    try:
        height, width = int(payload["height"]), int(payload["width"])
        runs = np.asarray(payload["runs"], dtype=np.float64)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise MaskError("mask needs integer height and width and a flat list of numbers in runs") from None
    if not (0 <= height <= MAX_MASK_SIDE and 0 <= width <= MAX_MASK_SIDE):
        raise MaskError(f"mask height and width must lie in 0..{MAX_MASK_SIDE}")
    return height, width, runs


def _rle_pairs(runs: np.ndarray, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """The ids (uint16) and lengths (int64) of the runs, each checked before it is converted."""
    if runs.ndim != 1 or runs.size % 2:
        raise MaskError("mask runs must be a flat list of [id, length] pairs")
    ids, lengths = runs[0::2], runs[1::2]
    if not (np.array_equal(ids, np.round(ids)) and np.array_equal(lengths, np.round(lengths))):
        raise MaskError("mask has non-integer labels or run lengths")  # NaN and inf included
    if ids.size and (ids.min() < 0 or ids.max() > MAX_LABEL):
        raise MaskError(f"mask labels must lie in 0..{MAX_LABEL}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > max(pixels, 1)):
        raise MaskError(f"mask run lengths must be positive and at most height x width ({pixels})")
    return ids.astype(np.uint16), lengths.astype(np.int64)
