"""Cells the model nearly found: connected regions outside every predicted cell (and its ring)
where the cell probability is above a tenth, of at least a small cell's size. They are cells the
network leaned towards but left below the mask threshold, or masks Cellpose dropped (flow error,
minimum size). The score is how many such regions a crop holds.

The model's doubt reads only where it hesitates: a nucleus it confidently misses leaves no high
entropy over the crop and no flow error (there is no mask to check). On the DSB2018 domain shift
most of the serving models' errors were missed cells, and on one experiment none of the doubt
signals ranked crops by their errors while this count did
(docs/decisions/0005-missed-cells-signal.md). The regions' centres are kept as places for the
editor to circle: where a labeller is most likely to find a cell to add
(docs/decisions/0006-missed-cell-rings.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import center_of_mass, maximum, sum_labels
from skimage.measure import label

from active_learning.strategies.base import Score, ScoringInput, Strategy
from active_learning.strategies.maps import probability

# Above this probability a pixel is one the model did not rule out (Cellpose calls cells above
# 0.5 by default; a project may move that threshold, the window here stays).
NEAR_CELL_PROBABILITY = 0.1
# Regions smaller than this are specks, not cells: twice Cellpose's default minimum mask size.
MIN_REGION_PX = 30


@dataclass(frozen=True)
class Region:
    """A connected region outside the predicted cells where the model leaned towards a cell."""

    x: float  # centre, in crop coordinates (pixel i spans [i, i + 1))
    y: float
    radius: float  # of a disc of the region's area
    area: int  # pixels
    peak: float  # the highest cell probability in it
    mass: float  # the sum of its cell probabilities


def near_cells(item: ScoringInput) -> tuple[np.ndarray, list[Region]]:
    """The pixels outside the predicted cells (and their ring) above NEAR_CELL_PROBABILITY, and
    their regions of at least MIN_REGION_PX pixels, largest first."""
    p = probability(item.prediction.cellprob)
    near = (p > NEAR_CELL_PROBABILITY) & (item.cells_with_ring == 0)
    regions = label(near)  # 8-connected
    sizes = np.bincount(regions.ravel())[1:]
    kept = np.flatnonzero(sizes >= MIN_REGION_PX) + 1
    kept = kept[np.argsort(-sizes[kept - 1], kind="stable")]
    if not len(kept):
        return near, []
    centres = center_of_mass(near, regions, kept)
    peaks = maximum(p, regions, kept)
    masses = sum_labels(p, regions, kept)
    return near, [Region(float(x) + 0.5, float(y) + 0.5, float(np.sqrt(sizes[k - 1] / np.pi)), int(sizes[k - 1]),
                         float(peak), float(mass))
                  for (y, x), k, peak, mass in zip(centres, kept, peaks, masses, strict=True)]


class MissedCellsStrategy(Strategy):
    name = "missed_cells"

    def score(self, item: ScoringInput) -> Score:
        near, regions = near_cells(item)
        places = tuple((round(r.x, 1), round(r.y, 1), round(r.radius, 1)) for r in regions)
        return Score(float(len(regions)), {"regions": len(regions), "pixels": float(near.mean())}, places=places)
