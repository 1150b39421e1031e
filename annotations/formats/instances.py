"""Painting separate cell objects (COCO annotations, GeoJSON polygons) into one label image.

Objects drawn in other tools may overlap; a label image gives each pixel one cell. The rule
(`OverlapRule`):

* ``smaller_wins`` (default): a pixel claimed by several objects goes to the smallest of them
  (by its own pixel count; ties to the one listed later). A small cell drawn on top of a big
  one stays whole, whatever order the file lists them in. An object left with no pixels of its
  own is dropped and counted in the report.
* ``reject``: any pixel claimed twice refuses the file, naming the two objects.

Ids follow the order of the objects in the file (1, 2, ...; dropped objects leave no gap).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from skimage.segmentation import relabel_sequential

from annotations.masks import MaskError


class OverlapRule(StrEnum):
    SMALLER_WINS = "smaller_wins"
    REJECT = "reject"


@dataclass(frozen=True)
class CellObject:
    """One object's pixels: a boolean mask of its bounding box at (row0, col0)."""

    what: str  # how the file names it, for messages: "feature 3", "annotation id 17"
    row0: int
    col0: int
    mask: np.ndarray  # bool (h, w)

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def region(self) -> tuple[slice, slice]:
        h, w = self.mask.shape
        return slice(self.row0, self.row0 + h), slice(self.col0, self.col0 + w)


@dataclass
class PaintReport:
    cells: int = 0
    contested_pixels: int = 0  # pixels more than one object claimed
    dropped: list[str] = field(default_factory=list)  # objects left with no pixels


def paint(objects: Iterable[CellObject], shape: tuple[int, int], *, rule: OverlapRule, name: str
          ) -> tuple[np.ndarray, PaintReport]:
    """A uint32 label image of `shape` from the objects, overlaps resolved by `rule`."""
    objects = [o for o in objects if o.area]
    order = sorted(range(len(objects)), key=lambda i: (-objects[i].area, i))  # largest painted first
    canvas = np.zeros(shape, dtype=np.uint32)
    report = PaintReport()
    for index in order:
        obj = objects[index]
        window = canvas[obj.region]
        clash = obj.mask & (window != 0)
        if clash.any():
            if rule == OverlapRule.REJECT:
                first, second = sorted((int(window[clash][0]) - 1, index))
                raise MaskError(f"{name}: {objects[first].what} and {objects[second].what} overlap "
                                f"({int(clash.sum())} pixels); overlapping objects are refused with overlap=reject")
            report.contested_pixels += int(clash.sum())
        window[obj.mask] = index + 1
    present = np.zeros(len(objects) + 1, dtype=bool)
    present[np.unique(canvas)] = True
    report.dropped = [o.what for i, o in enumerate(objects) if not present[i + 1]]
    labels, _, _ = relabel_sequential(canvas)
    report.cells = len(objects) - len(report.dropped)
    return labels.astype(np.uint32, copy=False), report
