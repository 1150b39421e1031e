"""Proposals: a click (or a box) on a crop turns into cell masks, from the maps a prediction
already computed (cell probability and flows), without running the network again.

Pure arrays in and out, no Django. The learning side (active_learning/proposals.py) loads the
stored maps of the crop's serving prediction and calls `propose_point`, `propose_box` or
`propose_redo`; where there are no maps (no model yet, or a prediction from before maps were
kept) it calls the classical ones (`classical_point`, `classical_box`) on the crop's pixels.

Why several thresholds. A cell the served prediction missed is most often one the network saw
faintly: its cell probability stayed under Cellpose's threshold (0), or its mask was dropped for a
high flow error. Following the flows again around the click with the threshold lowered finds it;
how far to lower differs per cell (too low and neighbours merge through dim background), so the
flows are followed once at the lowest threshold and Cellpose's own mask reconstruction
(`get_masks_torch`, histogram peaks of where pixels converge) is run for each threshold on the
pixels above it. The candidates are the cells at the click, one per threshold; `choose` picks
the one whose mask agrees best with the flows (Cellpose's flow error). Measured on a model after
two rounds (bench/click_to_cell.py), the strictest threshold that finds a cell usually wins: most
misses are cells Cellpose dropped for their flow error or size, not faint ones. (The flow basin of
the clicked pixel, the pixels that converge where it converges, was tried as a candidate too: on
the 19 misses of a round-1 model it equalled the lowest threshold's cell each time, so it is not
computed.) A chosen cell far larger than the project's cells is split where it narrows
(`split_merge`): a miss is sometimes two touching cells the prediction merged.

The stored maps are quantised to int8 (`pack_maps`): flows in steps of 1/16 (the network's flows
are ~unit vectors x 5, so within +-7.9), cell probability logits in steps of 1/8 (within +-15.9);
bench/click_to_cell.py measures what that costs the proposals.
"""

from __future__ import annotations

import io
import threading
import time
import warnings
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from scipy import ndimage

# Cellpose's mask reconstruction builds a sparse tensor from valid indices; torch's note that it
# skips invariant checks on such tensors says nothing a labelserver operator can act on.
warnings.filterwarnings("ignore", message="Sparse invariant checks", category=UserWarning)

FLOW_STEP = 1 / 16  # int8 units of the stored flows
PROB_STEP = 1 / 8  # int8 units of the stored cell probability logits
MAPS_FORMAT = 1

THRESHOLDS = (0.0, -1.0, -2.0, -3.0)  # cell probability thresholds tried, strict to lenient
MIN_WINDOW = 64  # pixels: the least window side around a click
WINDOW_CELLS = 4.0  # window side in cell diameters
MAX_WINDOW = 256
NITER = 200  # flow steps, Cellpose's default at its own scale
MAX_FLOW_ERROR = 1.0  # candidates whose mask disagrees more with the flows are not cells
MIN_CELL_PX = 10  # smaller candidates are noise (cells cut by the crop's edge can be this small)
MAX_CELL_AREAS = 4.0  # larger candidates, in expected cell areas, are merges of several cells
SPLIT_AREAS = 1.5  # a chosen cell this much larger than expected is split where it narrows
REDO_MAX_IOU = 0.9  # a redo must differ from the given cell at least this much to count as better
NOTHING_BETTER = "the model proposes nothing better for this cell"

_dynamics: ModuleType | None = None
_import_lock = threading.Lock()


@dataclass(frozen=True)
class Maps:
    """A prediction's maps over one crop."""

    cellprob: np.ndarray  # float32 (H, W), logits
    flows: np.ndarray  # float32 (2, H, W), (dY, dX) as the network predicts them

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.cellprob.shape[0]), int(self.cellprob.shape[1]))


@dataclass(frozen=True)
class Proposal:
    """Proposed cells as a crop-sized label image (0 = background, cells 1..cells)."""

    mask: np.ndarray  # uint16 (H, W)
    cells: int
    message: str | None = None


@dataclass(frozen=True)
class Candidate:
    mask: np.ndarray  # bool, window-sized
    source: str  # the threshold, "t=-1"
    flow_error: float
    area: int


@dataclass(frozen=True)
class Window:
    top: int
    left: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


class Deadline:
    """A time limit the proposal checks between its steps (a step is a few milliseconds). It
    starts once Cellpose is imported: the first proposal of a process pays that (7-10 s) on top."""

    def __init__(self, seconds: float | None) -> None:
        _cellpose_dynamics()
        self.end = None if seconds is None else time.monotonic() + seconds

    def passed(self) -> bool:
        return self.end is not None and time.monotonic() > self.end


# --- storage -------------------------------------------------------------------------------------------


def pack_maps(cellprob: np.ndarray, flows: np.ndarray) -> bytes:
    """The maps as a compressed npz of int8 arrays (3 bytes a pixel before compression)."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        format=np.array(MAPS_FORMAT),
        cellprob=_quantise(cellprob, PROB_STEP),
        flows=_quantise(flows, FLOW_STEP),
    )
    return buffer.getvalue()


def unpack_maps(data: bytes) -> Maps:
    with np.load(io.BytesIO(bytes(data))) as arrays:
        return Maps(
            cellprob=arrays["cellprob"].astype(np.float32) * np.float32(PROB_STEP),
            flows=arrays["flows"].astype(np.float32) * np.float32(FLOW_STEP),
        )


def _quantise(array: np.ndarray, step: float) -> np.ndarray:
    return np.clip(np.rint(np.asarray(array, np.float32) / step), -127, 127).astype(np.int8)


def quantised(maps: Maps) -> Maps:
    """What the maps become once stored (for measuring the cost of quantisation)."""
    return unpack_maps(pack_maps(maps.cellprob, maps.flows))


# --- flows ---------------------------------------------------------------------------------------------


def _cellpose_dynamics() -> ModuleType:
    """cellpose.dynamics, imported once per process through the backend (which sets up Cellpose)."""
    global _dynamics
    with _import_lock:
        if _dynamics is None:
            from active_learning.backends.cellpose import cellpose_modules

            cellpose_modules()
            from cellpose import dynamics

            _dynamics = dynamics
    return _dynamics


def warm_up() -> None:
    """Import Cellpose and compile its flow steps now, not on a labeller's first click. On one
    round cell whose flows point at its centre, so the steps run whole (and log no warning)."""
    rows, cols = np.mgrid[:64, :64].astype(np.float32) - 32.0
    distance = np.hypot(rows, cols) + 1e-6
    inside = distance < 10
    flows = np.stack([-rows / distance, -cols / distance]) * inside
    maps = Maps(np.where(inside, 5.0, -5.0).astype(np.float32), flows.astype(np.float32))
    propose_point(maps, 32.0, 32.0, diameter=20.0)



def cell_window(shape: tuple[int, int], x: float, y: float, diameter: float) -> Window:
    """A square window around (x, y), sized to the cells and clipped to the crop."""
    side = int(min(MAX_WINDOW, max(MIN_WINDOW, WINDOW_CELLS * diameter)))
    return box_window(shape, (x - side / 2, y - side / 2, x + side / 2, y + side / 2))


def box_window(shape: tuple[int, int], box: tuple[float, float, float, float], margin: float = 0.0) -> Window:
    height, width = shape
    x0, y0, x1, y1 = box
    left, top = max(0, int(np.floor(x0 - margin))), max(0, int(np.floor(y0 - margin)))
    right, bottom = min(width, int(np.ceil(x1 + margin))), min(height, int(np.ceil(y1 + margin)))
    return Window(top, left, max(1, bottom - top), max(1, right - left))


def follow(maps: Maps, window: Window, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each window pixel above `threshold` ends after following the flows: (pixel indices
    (2, N), end points (2, N) int), as Cellpose's compute_masks does."""
    dynamics = _cellpose_dynamics()
    rows, cols = window.slices
    prob, flows = maps.cellprob[rows, cols], maps.flows[:, rows, cols]
    inside = prob > threshold
    inds = np.nonzero(inside)
    if inds[0].size == 0:
        return np.zeros((2, 0), np.int64), np.zeros((2, 0), np.int64)
    ends = dynamics.follow_flows(flows * inside / 5.0, inds=inds, niter=NITER, interp=True)
    ends = np.rint(ends.cpu().numpy() if hasattr(ends, "cpu") else np.asarray(ends)).astype(np.int64)
    return np.stack(inds).astype(np.int64), ends.reshape(2, -1)


def reconstruct(inds: np.ndarray, ends: np.ndarray, keep: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Cellpose's own masks (histogram peaks of the end points) from the kept pixels."""
    import torch

    dynamics = _cellpose_dynamics()
    if not keep.any():
        return np.zeros(shape, np.uint16)
    ends_t = torch.from_numpy(np.ascontiguousarray(ends[:, keep])).to(torch.int)
    kept = (inds[0][keep], inds[1][keep])
    return np.asarray(dynamics.get_masks_torch(ends_t, kept, shape, max_size_fraction=0.9)).reshape(shape)


def flow_error(mask: np.ndarray, flows: np.ndarray) -> float:
    """Mean squared difference between the flows the mask implies and the predicted ones, as
    Cellpose's flow_threshold measures it (0 = a cell the flows agree with; Cellpose drops > 0.4)."""
    import torch

    dynamics = _cellpose_dynamics()
    rows, cols = np.nonzero(mask)
    box = np.s_[max(rows.min() - 2, 0) : rows.max() + 3, max(cols.min() - 2, 0) : cols.max() + 3]  # cheaper
    implied = np.asarray(dynamics.masks_to_flows(mask[box].astype(np.int32), device=torch.device("cpu")))
    diff = ((implied - flows[(slice(None), *box)] / 5.0) ** 2).sum(axis=0)
    return float(diff[mask[box]].mean())


# --- choosing a cell -----------------------------------------------------------------------------------


def candidates_at(maps: Maps, window: Window, seed: tuple[int, int], diameter: float,
                  deadline: Deadline, thresholds: tuple[float, ...] = THRESHOLDS) -> list[Candidate]:
    """The cells at the seed (window coordinates), one per threshold, the strictest first; past
    the deadline, no more once one is found."""
    shape = (window.height, window.width)
    inds, ends = follow(maps, window, min(thresholds))
    prob = maps.cellprob[window.slices][inds[0], inds[1]] if inds.size else np.zeros(0)
    flows = maps.flows[(slice(None), *window.slices)]
    radius = max(2.0, diameter / 4)
    found: list[Candidate] = []
    for threshold in thresholds:
        if found and deadline.passed():
            break
        keep = prob > threshold
        labels = reconstruct(inds, ends, keep, shape)
        mask = _cell_near(labels, seed, radius)
        if mask is not None:
            found.append(_candidate(mask, f"t={threshold:g}", flows))
    return found


def _candidate(mask: np.ndarray, source: str, flows: np.ndarray) -> Candidate:
    return Candidate(mask=mask, source=source, flow_error=flow_error(mask, flows), area=int(mask.sum()))


def _cell_near(labels: np.ndarray, seed: tuple[int, int], radius: float) -> np.ndarray | None:
    """The cell under the seed, else the nearest one within `radius`."""
    cell = int(labels[seed])
    if cell == 0:
        distance, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        if distance[seed] > radius:
            return None
        cell = int(labels[rows[seed], cols[seed]])
    return ndimage.binary_fill_holes(labels == cell)


def _component_at(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    labels, _ = ndimage.label(mask)
    return labels == labels[seed] if labels[seed] else np.zeros_like(mask)


def choose(found: list[Candidate], diameter: float) -> Candidate | None:
    """The rule: of the candidates of a plausible size, the one whose mask agrees best with the
    flows (the lowest flow error, at most MAX_FLOW_ERROR). Lower thresholds add dim pixels at a
    cell's rim, which the flows do not point into the cell, so the error rises as a candidate
    outgrows its cell: a measure of fit that needs no truth. (On the 50 misses of the benchmark's
    model, bench/click_to_cell.py, this recovers 74 % at IoU >= 0.5; preferring the candidate most
    thresholds agree on, 62 %; always threshold -2, 60 %; the best candidate in hindsight, 78 %.)"""
    largest = MAX_CELL_AREAS * np.pi * (diameter / 2) ** 2
    fit = [c for c in found if MIN_CELL_PX <= c.area <= largest and c.flow_error <= MAX_FLOW_ERROR]
    return min(fit, key=lambda c: c.flow_error, default=None)


def split_merge(mask: np.ndarray, seed: tuple[int, int], diameter: float) -> np.ndarray:
    """Where the chosen cell is much larger than the project's cells, it is most often two touching
    cells the flows lead to one centre; a watershed of its distance map splits it where it narrows,
    and the part at the click is the proposal. Cells of the usual size are kept whole."""
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    if mask.sum() <= SPLIT_AREAS * np.pi * (diameter / 2) ** 2:
        return mask
    distance = ndimage.distance_transform_edt(mask)
    peaks = peak_local_max(distance, min_distance=max(2, int(diameter / 3)), labels=mask.astype(np.int32),
                           exclude_border=False)
    if len(peaks) < 2:
        return mask
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    parts = watershed(-distance, markers, mask=mask)
    return parts == parts[seed] if parts[seed] else mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


# --- the three proposals from flows ---------------------------------------------------------------------


def propose_point(maps: Maps, x: float, y: float, *, diameter: float, seconds: float | None = None) -> Proposal:
    """The cell at crop pixel (x = column, y = row)."""
    window = cell_window(maps.shape, x, y, diameter)
    seed = _seed(window, x, y)
    best = choose(candidates_at(maps, window, seed, diameter, Deadline(seconds)), diameter)
    if best is None:
        return _nothing(maps.shape, "no cell found here")
    return _placed(maps.shape, window, [split_merge(best.mask, seed, diameter)])


def propose_redo(maps: Maps, x: float, y: float, cell: np.ndarray, *, diameter: float,
                 seconds: float | None = None) -> Proposal:
    """A better outline for `cell` (bool, crop-sized) at (x, y): a candidate that differs from it."""
    window = cell_window(maps.shape, x, y, max(diameter, _diameter_of(cell)))
    seed = _seed(window, x, y)
    given = cell[window.slices]
    found = [c for c in candidates_at(maps, window, seed, diameter, Deadline(seconds))
             if _iou(c.mask, given) < REDO_MAX_IOU]
    best = choose(found, max(diameter, _diameter_of(cell)))
    if best is None:
        return _nothing(maps.shape, NOTHING_BETTER)
    return _placed(maps.shape, window, [best.mask])


def propose_box(maps: Maps, box: tuple[float, float, float, float], *, diameter: float,
                threshold: float = -1.0, seconds: float | None = None) -> Proposal:
    """Every cell whose centre lies inside the box, by Cellpose's reconstruction at `threshold`
    over the box and a margin of half a cell (so cells cut by the box's edge stay whole)."""
    inner = box_window(maps.shape, box)
    window = box_window(maps.shape, box, margin=diameter / 2)
    inds, ends = follow(maps, window, threshold)
    labels = reconstruct(inds, ends, np.ones(inds.shape[1], bool), (window.height, window.width))
    cells = [ndimage.binary_fill_holes(labels == i) for i in range(1, int(labels.max()) + 1)]
    cells = [c for c in cells if c.sum() >= MIN_CELL_PX and _centre_in(c, window, inner)]
    if not cells:
        return _nothing(maps.shape, "no cell found in this box")
    return _placed(maps.shape, window, cells)


def differs(proposal: Proposal, cell: np.ndarray) -> bool:
    """Whether a proposed cell is another outline than `cell` (bool, crop-sized), not the same one."""
    return proposal.cells > 0 and _iou(proposal.mask > 0, cell) < REDO_MAX_IOU


def _centre_in(mask: np.ndarray, window: Window, inner: Window) -> bool:
    row, col = ndimage.center_of_mass(mask)
    row, col = row + window.top, col + window.left
    return inner.top <= row < inner.top + inner.height and inner.left <= col < inner.left + inner.width


def _seed(window: Window, x: float, y: float) -> tuple[int, int]:
    row = min(max(int(y) - window.top, 0), window.height - 1)
    col = min(max(int(x) - window.left, 0), window.width - 1)
    return row, col


def _diameter_of(cell: np.ndarray) -> float:
    return float(2 * np.sqrt(np.count_nonzero(cell) / np.pi))


def _placed(shape: tuple[int, int], window: Window, cells: list[np.ndarray]) -> Proposal:
    """Window-sized cells as one crop-sized label image; a later cell never takes an earlier's pixels."""
    mask = np.zeros(shape, np.uint16)
    view = mask[window.slices]
    for i, cell in enumerate(cells, 1):
        view[cell & (view == 0)] = i
    return Proposal(mask=mask, cells=len(cells))


def _nothing(shape: tuple[int, int], message: str) -> Proposal:
    return Proposal(mask=np.zeros(shape, np.uint16), cells=0, message=message)


# --- classical: no model yet ----------------------------------------------------------------------------


def classical_point(image: np.ndarray, x: float, y: float, *, diameter: float) -> Proposal:
    """The region at the click after a threshold and a distance-transform watershed of the window."""
    shape = (int(image.shape[0]), int(image.shape[1]))
    window = cell_window(shape, x, y, diameter)
    seed = _seed(window, x, y)
    labels = _watershed(_grey(image)[window.slices], diameter, seed)
    mask = _cell_near(labels, seed, max(2.0, diameter / 4)) if labels.any() else None
    if mask is None:
        return _nothing(shape, "no cell found here")
    return _placed(shape, window, [mask])


def classical_box(image: np.ndarray, box: tuple[float, float, float, float], *, diameter: float) -> Proposal:
    shape = (int(image.shape[0]), int(image.shape[1]))
    inner, window = box_window(shape, box), box_window(shape, box, margin=diameter / 2)
    labels = _watershed(_grey(image)[window.slices], diameter, None)
    cells = [labels == i for i in range(1, int(labels.max()) + 1)]
    cells = [c for c in cells if c.sum() >= MIN_CELL_PX and _centre_in(c, window, inner)]
    if not cells:
        return _nothing(shape, "no cell found in this box")
    return _placed(shape, window, cells)


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return image.mean(axis=-1) if image.ndim == 3 else image


def _watershed(grey: np.ndarray, diameter: float, seed: tuple[int, int] | None) -> np.ndarray:
    """Otsu's threshold on the smoothed window; cells are the side of it the click is on (bright
    nuclei in fluorescence, dark ones in brightfield), split by a watershed of the distance map."""
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.segmentation import watershed

    smooth = ndimage.gaussian_filter(grey, 1.0)
    if float(smooth.max() - smooth.min()) < 1e-6:
        return np.zeros(grey.shape, np.int32)
    level = threshold_otsu(smooth)
    bright = True if seed is None else bool(smooth[seed] > level) or _brighter_cells(smooth, level)
    foreground = smooth > level if bright else smooth <= level
    foreground = ndimage.binary_opening(ndimage.binary_fill_holes(foreground), iterations=1)
    distance = ndimage.distance_transform_edt(foreground)
    peaks = peak_local_max(distance, min_distance=max(2, int(diameter / 3)), labels=ndimage.label(foreground)[0])
    markers = np.zeros(grey.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=foreground).astype(np.int32)


def _brighter_cells(smooth: np.ndarray, level: float) -> bool:
    """With the click on the background side: cells are the minority side of the threshold."""
    return bool((smooth > level).mean() < 0.5)

