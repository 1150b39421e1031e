"""Stitch crop annotations back into one label image per image.

Crops are pasted onto an empty canvas one at a time, **oldest annotation first**, and each crop
overwrites its whole window (background included): where crops overlap, the newest annotation
wins every pixel. Cell ids are unique across the image (uint32), numbered 1..N in the order cells first
appear row by row (`renumber_by_position`).

A cell that continues a cell of a crop pasted earlier takes that cell's id instead of becoming a
second cell. Two rules decide "continues":

* Overlap. Inside the part of the window that earlier crops already covered, a new cell
  continues an old cell when the two share more than half of the smaller one's pixels there.
  Crops cut from one label image agree exactly there, so this never joins two cells; two
  labellers who outlined a cell differently get the newer outline, joined to the older one's
  pixels outside the window.
* Contact. Across the line between pixels this crop is the first to cover and covered pixels
  just outside its window (crops that share a border), a new cell continues an old cell when
  they are each other's best partner along that line and touch along at least half of the
  shorter of their two runs on it. A cell cut by a crop border therefore becomes one cell
  again, even when only its tip crosses, and a cell crossing a crop corner joins its parts
  from every side. The one case no rule can tell apart from a cut cell is two different cells
  that touch each other exactly on a crop border without overlap: they are joined. With the
  project's `crop_overlap` > 0 the overlap rule decides instead and the ambiguity disappears.
  (On the shipped DSB 2018 images, tiled at 112-256 px without overlap, stitching gives back
  every original label image exactly; tests/test_formats_stitching.py checks it.)

Each old cell is continued by at most one new cell (the one sharing most with it); a new cell
that continues several old cells (a cell across a crop corner) joins them all.

Memory and time follow the crops, not the image, beyond the canvas itself: joined cells are
recorded in a small table of ids (each id's cell), not rewritten on the canvas, and the final
renumbering reads the canvas a band of rows at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

MIN_OVERLAP_SHARE = 0.5
MIN_CONTACT_FRACTION = 0.5

Window = tuple[int, int, int, int]  # (x, y, width, height) in image pixels


@dataclass(frozen=True)
class Piece:
    """One crop's label image and where it sits. Pass pieces oldest first."""

    window: Window
    mask: np.ndarray  # (height, width) integer labels, 0 = background


@dataclass(frozen=True)
class Stitched:
    labels: np.ndarray  # uint32 (H, W), cells 1..N
    covered: np.ndarray  # bool (H, W): pixels some piece covers
    joined: int  # cells that continued across crops (overlap or contact)

    @property
    def coverage(self) -> float:
        return float(self.covered.mean()) if self.covered.size else 0.0

    @property
    def complete(self) -> bool:
        return bool(self.covered.all())


def stitch(shape: tuple[int, int], pieces: Iterable[Piece]) -> Stitched:
    """One label image of `shape` (height, width) from crop pieces given oldest first."""
    canvas = np.zeros(shape, dtype=np.uint32)
    covered = np.zeros(shape, dtype=bool)
    cells = _Cells()
    joined = 0
    for piece in pieces:
        _check_piece(piece, shape)
        mapping, n_joined = _assign_ids(canvas, covered, piece, cells)
        _paste(canvas, covered, piece, mapping)
        joined += n_joined
    # Renumbered in place: the canvas is the image's size (400 MB for 10,000 x 10,000 pixels).
    labels = renumber_by_position(canvas, cell_of=cells.table, out=canvas)
    return Stitched(labels=labels, covered=covered, joined=joined)


class _Cells:
    """Canvas ids and the cell each belongs to: `table[id]` is the id that stands for its cell
    (itself, unless a later crop joined its cell to another's)."""

    def __init__(self) -> None:
        self.table = np.arange(1024, dtype=np.uint32)
        self.next_id = 1

    def new(self) -> int:
        if self.next_id >= self.table.size:
            grown = np.arange(self.table.size, 2 * self.table.size, dtype=np.uint32)
            self.table = np.concatenate([self.table, grown])
        self.next_id += 1
        return self.next_id - 1

    def join(self, keep: int, other: int) -> None:
        """Every id of `other`'s cell now stands for `keep`'s."""
        self.table[self.table == self.table[other]] = self.table[keep]

    def of(self, ids: np.ndarray) -> np.ndarray:
        return self.table[ids]


# Rows read at once when renumbering: about 4 million pixels, whatever the image's width.
BAND_PIXELS = 1 << 22


def renumber_by_position(labels: np.ndarray, dtype: type = np.uint32, *,
                         cell_of: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Cells numbered 1..N in the order they first appear, row by row: one label image per
    partition into cells, whatever ids it came with. `cell_of` maps each id to the id of its
    cell first (ids of one cell become one). Reads `labels` a band of rows at a time; `out` (of
    `labels`' shape and `dtype`, `labels` itself too) receives the result."""
    height, width = labels.shape
    rows = max(1, BAND_PIXELS // max(width, 1))

    def band(top: int) -> np.ndarray:
        part = labels[top : top + rows]
        return part if cell_of is None else cell_of[part]

    size = int(labels.max(initial=0)) + 1 if cell_of is None else int(cell_of.max(initial=0)) + 1
    unseen = np.iinfo(np.int64).max
    first = np.full(size, unseen, dtype=np.int64)
    for top in range(0, height, rows):
        ids, index = np.unique(band(top).ravel(), return_index=True)
        new = first[ids] == unseen
        first[ids[new]] = index[new] + top * width
    cells = np.flatnonzero(first != unseen)
    cells = cells[cells != 0]
    lookup: np.ndarray = np.zeros(size, dtype=dtype)
    lookup[cells[np.argsort(first[cells], kind="stable")]] = np.arange(1, cells.size + 1, dtype=dtype)
    if out is None:
        out = np.empty(labels.shape, dtype=dtype)
    elif out.shape != labels.shape or out.dtype != dtype:
        raise ValueError(f"out is {out.dtype} {out.shape}, the result {np.dtype(dtype)} {labels.shape}")
    for top in range(0, height, rows):
        out[top : top + rows] = lookup[band(top)]
    return out


def _check_piece(piece: Piece, shape: tuple[int, int]) -> None:
    x, y, w, h = piece.window
    if piece.mask.shape != (h, w):
        raise ValueError(f"piece mask is {piece.mask.shape} but its window is {w}x{h}")
    if x < 0 or y < 0 or x + w > shape[1] or y + h > shape[0]:
        raise ValueError(f"window {piece.window} lies outside the {shape[1]}x{shape[0]} image")


def _region(window: Window) -> tuple[slice, slice]:
    x, y, w, h = window
    return slice(y, y + h), slice(x, x + w)


def _assign_ids(canvas: np.ndarray, covered: np.ndarray, piece: Piece, cells: _Cells) -> tuple[np.ndarray, int]:
    """A lookup local id -> canvas id for the piece: continuing cells get their old cell's id. A
    cell that continues two old cells (pasted from different crops) joins them."""
    local = piece.mask.astype(np.int64, copy=False)
    ids = np.unique(local)
    ids = ids[ids != 0]
    lookup = np.zeros(int(ids.max()) + 1 if ids.size else 1, dtype=np.uint32)
    joins = _joins(canvas, covered, piece, local, cells)
    for cell in ids.tolist():
        olds = joins.get(cell)
        if olds is None:
            lookup[cell] = cells.new()
            continue
        lookup[cell] = olds[0]
        for other in olds[1:]:
            cells.join(olds[0], other)
    return lookup, len(joins)


def _joins(canvas: np.ndarray, covered: np.ndarray, piece: Piece, local: np.ndarray,
           cells: _Cells) -> dict[int, list[int]]:
    """New cell -> the old cells it continues (largest shared part first), each named by its
    cell's id. Each old cell is continued by at most one new cell: the one sharing most with it."""
    region = _region(piece.window)
    candidates = _overlap_matches(local, cells.of(canvas[region]), covered[region])
    for inside, outside in _border_pairs(canvas, covered, piece):
        candidates += _contact_matches(inside, cells.of(outside))
    joins: dict[int, list[int]] = {}
    owner: dict[int, int] = {}
    for cell, old, _ in sorted(candidates, key=lambda match: -match[2]):
        if owner.setdefault(old, cell) == cell and old not in joins.get(cell, []):
            joins.setdefault(cell, []).append(old)
    return joins


def _pair_counts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (a, b) value pairs of two equal-length 1-D arrays, with how often each occurs."""
    if a.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    keys = (a.astype(np.int64) << 32) | b.astype(np.int64)
    pairs, counts = np.unique(keys, return_counts=True)
    return pairs >> 32, pairs & 0xFFFFFFFF, counts


def _sizes(values: np.ndarray) -> dict[int, int]:
    ids, counts = np.unique(values, return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist(), strict=True))


def _overlap_matches(local: np.ndarray, old: np.ndarray, seen: np.ndarray) -> list[tuple[int, int, int]]:
    """(new cell, old cell, shared pixels) where, inside the already-covered region, the two
    share more than half of the smaller one's pixels there."""
    if not seen.any():
        return []
    new_px, old_px = local[seen], old[seen].astype(np.int64)
    new_size, old_size = _sizes(new_px), _sizes(old_px)
    return [
        (int(a), int(b), int(n))
        for a, b, n in zip(*_pair_counts(new_px, old_px), strict=True)
        if a and b and n > MIN_OVERLAP_SHARE * min(new_size[int(a)], old_size[int(b)])
    ]


def _border_pairs(canvas: np.ndarray, covered: np.ndarray, piece: Piece) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per side of the window, (new label, old label) across the line between pixels this piece
    covers first and covered neighbours outside it. Edge pixels that an earlier crop already
    covered are left out: that crop saw both sides and the overlap rule speaks for them."""
    x, y, w, h = piece.window
    height, width = canvas.shape
    region = _region(piece.window)
    local, seen = piece.mask, covered[region]
    sides = [
        (y > 0, (0, slice(None)), (y - 1, slice(x, x + w))),
        (y + h < height, (-1, slice(None)), (y + h, slice(x, x + w))),
        (x > 0, (slice(None), 0), (slice(y, y + h), x - 1)),
        (x + w < width, (slice(None), -1), (slice(y, y + h), x + w)),
    ]
    pairs = []
    for exists, edge, neighbour in sides:
        if exists:
            keep = covered[neighbour] & ~seen[edge]
            if keep.any():
                pairs.append((local[edge][keep].astype(np.int64), canvas[neighbour][keep].astype(np.int64)))
    return pairs


def _contact_matches(inside: np.ndarray, outside: np.ndarray) -> list[tuple[int, int, int]]:
    """(new cell, old cell, contact length) across one border line: mutual best partners
    touching along at least half of the shorter of their two runs on the line."""
    run_new, run_old = _sizes(inside), _sizes(outside)
    best_new: dict[int, tuple[int, int]] = {}
    best_old: dict[int, tuple[int, int]] = {}
    for a, b, n in zip(*_pair_counts(inside, outside), strict=True):
        a, b, n = int(a), int(b), int(n)
        if not (a and b):
            continue
        if n > best_new.get(a, (0, 0))[1]:
            best_new[a] = (b, n)
        if n > best_old.get(b, (0, 0))[1]:
            best_old[b] = (a, n)
    return [
        (a, b, n)
        for a, (b, n) in best_new.items()
        if best_old[b][0] == a and n >= MIN_CONTACT_FRACTION * min(run_new[a], run_old[b])
    ]


def _paste(canvas: np.ndarray, covered: np.ndarray, piece: Piece, lookup: np.ndarray) -> None:
    region = _region(piece.window)
    canvas[region] = lookup[piece.mask]
    covered[region] = True
