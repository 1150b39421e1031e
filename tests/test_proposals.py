"""Click to cell, the pure part (active_learning/backends/proposals.py): on maps made from a known
label image, a click recovers a cell the threshold 0 misses, a box finds the cells in it, a redo
refuses to return the cell it was given, the stored (int8) maps are the maps, and the classical
fallback finds a bright nucleus."""

from __future__ import annotations

import numpy as np
import pytest

from active_learning.backends import proposals as P

SIZE = 96
CENTRES = {1: (24, 24), 2: (24, 60), 3: (66, 44)}  # (row, col); cell 3 is the faint one
RADIUS = 10


def disks() -> np.ndarray:
    rows, cols = np.mgrid[:SIZE, :SIZE]
    labels = np.zeros((SIZE, SIZE), np.uint16)
    for cell, (r, c) in CENTRES.items():
        labels[(rows - r) ** 2 + (cols - c) ** 2 <= RADIUS**2] = cell
    return labels


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return disks()


@pytest.fixture(scope="module")
def maps(labels) -> P.Maps:
    """Flows as the network predicts them (x 5), cell probability high in cells 1 and 2, just
    under Cellpose's threshold in cell 3 (what a missed cell looks like), low outside."""
    import torch
    from cellpose import dynamics

    P.warm_up()
    flows = 5 * dynamics.masks_to_flows(labels.astype(np.int32), device=torch.device("cpu"))
    cellprob = np.full(labels.shape, -6.0, np.float32)
    cellprob[labels > 0] = 4.0
    cellprob[labels == 3] = -1.5
    return P.Maps(cellprob, flows.astype(np.float32))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_it_recovers_the_faint_cell_at_the_click(maps, labels):
    proposal = P.propose_point(maps, 44.5, 66.5, diameter=2 * RADIUS)
    assert proposal.cells == 1 and proposal.message is None
    assert iou(proposal.mask == 1, labels == 3) >= 0.8
    assert not (proposal.mask[(labels > 0) & (labels != 3)]).any()


def test_it_says_when_there_is_no_cell_at_the_click(maps):
    proposal = P.propose_point(maps, 90.5, 90.5, diameter=2 * RADIUS)
    assert (proposal.cells, proposal.message) == (0, "no cell found here")
    assert not proposal.mask.any()


def test_a_box_gives_every_cell_whose_centre_is_inside(maps, labels):
    proposal = P.propose_box(maps, (5, 5, 85, 40), diameter=2 * RADIUS)
    assert proposal.cells == 2
    found = {int(np.bincount(labels[proposal.mask == k]).argmax()) for k in (1, 2)}
    assert found == {1, 2}


def test_a_redo_that_would_return_the_same_cell_proposes_nothing(maps, labels):
    proposal = P.propose_redo(maps, 24.5, 24.5, labels == 1, diameter=2 * RADIUS)
    assert (proposal.cells, proposal.message) == (0, P.NOTHING_BETTER)


def test_a_redo_of_a_bad_outline_proposes_the_cell(maps, labels):
    half = (labels == 1) & (np.arange(SIZE)[None, :] < 24)
    proposal = P.propose_redo(maps, 20.5, 24.5, half, diameter=2 * RADIUS)
    assert proposal.cells == 1
    assert iou(proposal.mask == 1, labels == 1) >= 0.8


def test_the_time_limit_still_answers(maps):
    proposal = P.propose_point(maps, 24.5, 24.5, diameter=2 * RADIUS, seconds=0.0)
    assert proposal.cells in (0, 1)


def test_stored_maps_are_the_maps_within_half_a_step(maps):
    data = P.pack_maps(maps.cellprob, maps.flows)
    stored = P.unpack_maps(data)
    assert np.abs(stored.flows - maps.flows).max() <= P.FLOW_STEP / 2 + 1e-6
    assert np.abs(stored.cellprob - maps.cellprob).max() <= P.PROB_STEP / 2 + 1e-6
    assert len(data) < 3 * SIZE * SIZE  # int8, compressed


def test_the_classical_proposal_finds_a_bright_nucleus(labels):
    rng = np.random.default_rng(0)
    image = (20 + 150 * (labels > 0) + rng.normal(0, 5, labels.shape)).astype(np.uint8)
    proposal = P.classical_point(image, 60.5, 24.5, diameter=2 * RADIUS)
    assert proposal.cells == 1
    assert iou(proposal.mask == 1, labels == 2) >= 0.7
