"""Cells the model nearly found: connected regions outside every predicted cell (and its ring)
where the cell probability is above a tenth, of at least a small cell's size. They are cells the
network leaned towards but left below the mask threshold, or masks Cellpose dropped (flow error,
minimum size). The score is how many such regions a crop holds.

The model's doubt reads only where it hesitates: a nucleus it confidently misses leaves no high
entropy over the crop and no flow error (there is no mask to check). On the DSB2018 domain shift
most of the serving models' errors were missed cells, and on one experiment none of the doubt
signals ranked crops by their errors while this count did (docs/benchmarks.md, Run 12). The
regions' centres are kept as places for the editor to circle: where a labeller is most likely
to find a cell to add."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import center_of_mass
from skimage.measure import label

from active_learning.strategies.base import Score, ScoringInput, Strategy
from active_learning.strategies.maps import probability

# Above this probability a pixel is one the model did not rule out (Cellpose calls cells above
# 0.5 by default; a project may move that threshold, the window here stays).
NEAR_CELL_PROBABILITY = 0.1
# Regions smaller than this are specks, not cells: twice Cellpose's default minimum mask size.
MIN_REGION_PX = 30


class MissedCellsStrategy(Strategy):
    name = "missed_cells"

    def score(self, item: ScoringInput) -> Score:
        outside = item.cells_with_ring == 0
        near = (probability(item.prediction.cellprob) > NEAR_CELL_PROBABILITY) & outside
        regions = label(near)  # 8-connected
        sizes = np.bincount(regions.ravel())[1:]
        kept = np.flatnonzero(sizes >= MIN_REGION_PX) + 1
        kept = kept[np.argsort(-sizes[kept - 1], kind="stable")]
        centres = center_of_mass(near, regions, kept) if len(kept) else []
        # Centres in crop coordinates (pixel i spans [i, i + 1)), radius of a disc of the region's area.
        radii = np.sqrt(sizes[kept - 1] / np.pi)
        places = tuple((round(float(x) + 0.5, 1), round(float(y) + 0.5, 1), round(float(r), 1))
                       for (y, x), r in zip(centres, radii, strict=True))
        return Score(float(len(kept)), {"regions": len(kept), "pixels": float(near.mean())}, places=places)
