"""Labelling effort: the actions a labeller needs to turn a served prediction into the truth.

This is the one place the cost model is defined; the simulation (`simulate_labelling`) counts
with it and the Overview's payoff panel counts real submissions by its action kinds.

THE COST MODEL (label images in, action counts out)
Predicted and true cells are matched one-to-one at IoU >= MATCH_IOU (0.5), by the rule AP@0.5
uses (`evaluation.matched_pairs`). Then, per crop:

* a predicted cell matched to no true cell is a false cell: 1 delete;
* a true cell whose match has IoU >= GOOD_IOU (0.75) needs nothing: 0.75 is AP@0.75's bar, the
  point past which a labeller would not bother to touch the outline;
* a true cell whose match has IoU below GOOD_IOU needs a fix: without the tools 1 redraw (one
  lasso, polygon or brush stroke; the editor's paint-over replaces the old outline in the same
  gesture); with the tools 1 redo click when the redo proposal fits it (IoU >= GOOD_IOU), else
  1 redraw;
* a true cell matched by no predicted cell is missed: without the tools 1 redraw; with the tools
  1 click when the click proposal recovers it (IoU >= MATCH_IOU, the bar at which AP@0.5 counts
  it found), else 1 redraw.

ACTIONS count 1 each, whatever the kind: how many gestures, not how long each takes (the unit
the editor's edit counts share, below). Actions per cell = actions / true cells; per crop =
actions / crops. Counted so, a click that recovers a cell replaces one redraw: the tools change
which actions a crop takes, not how many. So the same actions are also counted IN CLICKS, which
weighs a redraw by what it takes: a delete, a click-to-add and a redo are 1 click each; a redraw
is the clicks of the editor's polygon tool around the true cell (the vertices of its outline
simplified to within OUTLINE_TOLERANCE, 1 px; at least 3): a measure of each cell, not a
constant. A box that adds several cells at once is not modelled (clicks only).

Whether a click recovers a cell, or a redo fixes it, is the assisted tools' proposal function's
say, injected as an `Assist` (`proposal_assist` builds one from a proposal function: it clicks
where a labeller would, at the true cell's innermost pixel), so this module stays pure.

ACTIONS FROM WHAT THE EDITOR SUBMITS
An annotation's `edit_counts` maps an edit kind to the edits of that kind in effect at
submission (the editor's undo takes one back, so undone edits are not counted). Every kind in
ACTION_KINDS is one action per edit: each drawn cell (lasso, polygon), each brush or eraser
stroke, each delete, merge, split and fill, each assisted click, box and redo (ASSISTED_KINDS).
Other keys (a future kind not listed here, or anything a client sends) are not actions:
list a new editor tool's kind here when it ships. "Accept all" is no edit at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import measure

from active_learning.evaluation import cell_ious, matched_pairs

MATCH_IOU = 0.5  # a predicted cell stands for a true cell (AP@0.5's match)
GOOD_IOU = 0.75  # ... and needs no fix (AP@0.75's bar)
OUTLINE_TOLERANCE = 1.0  # px: how far a redrawn polygon may stray from the true outline

MANUAL_KINDS = frozenset({"lasso", "polygon", "brush", "eraser", "delete", "merge", "split", "fill_holes"})
ASSISTED_KINDS = frozenset({"click_add", "box_add", "redo"})
ACTION_KINDS = MANUAL_KINDS | ASSISTED_KINDS

# A true cell's pixels (bool, crop-shaped) -> whether one click on it proposes that cell.
ClickRecovers = Callable[[np.ndarray], bool]
# A true cell's pixels and the id of its poorly fitting predicted cell -> whether one redo click fixes it.
RedoFixes = Callable[[np.ndarray, int], bool]
# A click at (row, col), replacing predicted cell `id` (0: a click on no cell) -> the proposed
# cell's pixels (bool, crop-shaped), or None when nothing is proposed.
Propose = Callable[[tuple[int, int], int], np.ndarray | None]


@dataclass(frozen=True)
class Assist:
    """What the assisted tools can do on one crop."""

    click_recovers: ClickRecovers
    redo_fixes: RedoFixes


@dataclass(frozen=True)
class Actions:
    deletes: int = 0
    redraws: int = 0
    clicks: int = 0  # click-to-add
    redos: int = 0
    redraw_clicks: int = 0  # the polygon clicks the redraws take (outline_clicks of each cell)

    @property
    def total(self) -> int:
        """Actions, each 1."""
        return self.deletes + self.redraws + self.clicks + self.redos

    @property
    def in_clicks(self) -> int:
        """The same actions in clicks: a redraw weighs the clicks of its outline."""
        return self.deletes + self.clicks + self.redos + self.redraw_clicks

    def __add__(self, other: Actions) -> Actions:
        return Actions(self.deletes + other.deletes, self.redraws + other.redraws, self.clicks + other.clicks,
                       self.redos + other.redos, self.redraw_clicks + other.redraw_clicks)


@dataclass(frozen=True)
class CropEffort:
    """One crop's (or, summed, several crops') cells and the actions to correct them."""

    n_true: int
    manual: Actions  # without the assisted tools
    assisted: Actions  # with them
    n_crops: int = 1

    def __add__(self, other: CropEffort) -> CropEffort:
        return CropEffort(self.n_true + other.n_true, self.manual + other.manual, self.assisted + other.assisted,
                          self.n_crops + other.n_crops)


NO_EFFORT = CropEffort(0, Actions(), Actions(), n_crops=0)


def crop_effort(true: np.ndarray, pred: np.ndarray, assist: Assist | None = None) -> CropEffort:
    """The actions to turn `pred` into `true` (two label images of a crop), without and with the
    assisted tools; with no `assist` the tools help nowhere (no proposal: every fix a redraw)."""
    iou, true_ids, pred_ids = cell_ious(true, pred)
    rows, cols = matched_pairs(iou, MATCH_IOU)
    match = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    deletes = len(pred_ids) - len(match)
    fixes = [(i, j) for i, j in match.items() if iou[i, j] < GOOD_IOU]
    missed = [i for i in range(len(true_ids)) if i not in match]
    clicks_of = {i: outline_clicks(true == true_ids[i]) for i, _ in fixes} | {
        i: outline_clicks(true == true_ids[i]) for i in missed}
    manual = Actions(deletes=deletes, redraws=len(clicks_of), redraw_clicks=sum(clicks_of.values()))
    if assist is None:
        return CropEffort(len(true_ids), manual, manual)
    redone = [i for i, j in fixes if assist.redo_fixes(true == true_ids[i], int(pred_ids[j]))]
    clicked = [i for i in missed if assist.click_recovers(true == true_ids[i])]
    drawn = [i for i in clicks_of if i not in redone and i not in clicked]
    assisted = Actions(deletes=deletes, redraws=len(drawn), clicks=len(clicked), redos=len(redone),
                       redraw_clicks=sum(clicks_of[i] for i in drawn))
    return CropEffort(len(true_ids), manual, assisted)


def outline_clicks(cell: np.ndarray) -> int:
    """The clicks the editor's polygon tool takes to redraw a cell (bool pixels): the vertices of
    its longest outline, simplified to within OUTLINE_TOLERANCE; at least 3."""
    contours = measure.find_contours(np.pad(cell, 1).astype(np.float32), 0.5)
    if not contours:
        return 3
    polygon = measure.approximate_polygon(max(contours, key=len), OUTLINE_TOLERANCE)
    return max(3, len(polygon) - 1)  # a closed polygon repeats its first vertex


def click_point(cell: np.ndarray) -> tuple[int, int]:
    """Where a labeller clicks on a cell: its innermost pixel (farthest from its border), which
    lies inside the cell whatever its shape, unlike its centroid."""
    distance = ndimage.distance_transform_edt(np.pad(cell, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(row), int(col)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def proposal_assist(propose: Propose) -> Assist:
    """The assisted tools as a proposal function drives them: a click recovers a missed cell when
    its proposal matches it (IoU >= MATCH_IOU); a redo fixes a cell when its proposal fits it
    (IoU >= GOOD_IOU)."""

    def fits(cell: np.ndarray, replacing: int, bar: float) -> bool:
        proposal = propose(click_point(cell), replacing)
        return proposal is not None and mask_iou(proposal, cell) >= bar

    return Assist(click_recovers=lambda cell: fits(cell, 0, MATCH_IOU),
                  redo_fixes=lambda cell, pred_id: fits(cell, pred_id, GOOD_IOU))


def actions_from_edit_counts(counts: Mapping[str, object] | None) -> int:
    """The actions in a submission's edit_counts: the counts of the ACTION_KINDS."""
    return sum(_count(n) for kind, n in (counts or {}).items() if kind in ACTION_KINDS)


def assisted_actions_from_edit_counts(counts: Mapping[str, object] | None) -> int:
    """The assisted tools' actions in a submission's edit_counts (the counts of the ASSISTED_KINDS)."""
    return sum(_count(n) for kind, n in (counts or {}).items() if kind in ASSISTED_KINDS)


def _count(value: object) -> int:
    """A stored count as an int (the API validates counts; older or imported rows may not be)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
