"""Stitching crop annotations back into one label image per image (annotations/formats/stitching.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage
from skimage.segmentation import relabel_sequential

from annotations.formats.stitching import Piece, stitch
from annotations.imaging import tile_windows
from tests.conftest import DATA

SHIPPED = [
    DATA / "dsb2018_u2os" / "masks" / "07fb37aafa66.png",  # 313 nuclei, many cut by crop borders
    DATA / "dsb2018_u2os" / "masks" / "0ea221716cf1.png",
    DATA / "dsb2018_brightfield" / "masks" / "00ae65c1c663.png",
]


def same_cells(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal label images up to the numbering of cells."""
    pairs = np.unique((a.astype(np.int64) << 32) | b.astype(np.int64))
    return len(pairs) == len(np.unique(pairs >> 32)) == len(np.unique(pairs & 0xFFFFFFFF))


def cut(labels: np.ndarray, crop: int, overlap: int) -> list[Piece]:
    height, width = labels.shape
    return [
        Piece((x, y, w, h), relabel_sequential(labels[y : y + h, x : x + w])[0].astype(np.uint16))
        for x, y, w, h in tile_windows(width, height, crop, overlap)
    ]


@pytest.mark.parametrize("crop,overlap", [(256, 0), (112, 0), (96, 16)])
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_it_gives_back_the_label_image_the_crops_were_cut_from(path, crop, overlap):
    labels = np.array(PILImage.open(path)).astype(np.uint32)
    stitched = stitch(labels.shape, cut(labels, crop, overlap))
    assert stitched.complete
    assert same_cells(labels, stitched.labels)
    assert stitched.labels.max() == len(np.unique(labels)) - 1  # ids 1..N, unique across crops


def test_it_joins_a_cell_across_a_crop_corner():
    labels = np.zeros((8, 8), dtype=np.uint32)
    labels[2:6, 2:6] = 1  # crosses the corner of four 4x4 crops
    stitched = stitch(labels.shape, cut(labels, 4, 0))
    assert same_cells(labels, stitched.labels) and stitched.labels.max() == 1


def test_it_joins_a_cell_whose_tip_crosses_a_border():
    labels = np.zeros((6, 8), dtype=np.uint32)
    labels[1:5, 0:4] = 1
    labels[2, 4] = 1  # one pixel across the border at x = 4
    stitched = stitch(labels.shape, cut(labels, 4, 0))
    assert stitched.labels.max() == 1


def test_it_joins_two_cells_that_touch_exactly_on_a_border_without_overlap():
    """The documented ambiguity: without crop overlap this looks like one cut cell."""
    labels = np.zeros((4, 8), dtype=np.uint32)
    labels[1:3, 1:4] = 1
    labels[1:3, 4:7] = 2
    assert stitch(labels.shape, cut(labels, 4, 0)).labels.max() == 1


def test_overlap_keeps_cells_that_touch_on_a_border_apart():
    labels = np.zeros((4, 10), dtype=np.uint32)
    labels[1:3, 1:5] = 1
    labels[1:3, 5:9] = 2
    pieces = [Piece((0, 0, 6, 4), labels[:, 0:6]), Piece((4, 0, 6, 4), labels[:, 4:10])]
    assert same_cells(labels, stitch(labels.shape, pieces).labels)


def test_the_newest_annotation_wins_where_crops_overlap():
    old = np.zeros((4, 6), dtype=np.uint16)
    old[1:3, 1:6] = 1  # a cell reaching into the overlap
    new = np.zeros((4, 6), dtype=np.uint16)
    new[1:3, 0:2] = 5  # the newer labeller's cell ends two pixels into the overlap
    stitched = stitch((4, 10), [Piece((0, 0, 6, 4), old), Piece((4, 0, 6, 4), new)])
    assert stitched.labels.max() == 1  # the same cell, continued
    assert stitched.labels[1, 1:6].all() and not stitched.labels[1, 6:].any()


def test_uncovered_pixels_are_reported():
    stitched = stitch((4, 8), [Piece((0, 0, 4, 4), np.ones((4, 4), dtype=np.uint16))])
    assert not stitched.complete and stitched.coverage == 0.5


def test_a_window_outside_the_image_is_refused():
    with pytest.raises(ValueError, match="outside"):
        stitch((4, 4), [Piece((2, 0, 4, 4), np.zeros((4, 4), dtype=np.uint16))])
