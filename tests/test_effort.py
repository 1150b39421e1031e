"""The cost model: actions to turn a prediction into the truth, and actions in submitted edit counts."""

from __future__ import annotations

import numpy as np

from active_learning.effort import (
    Actions,
    Assist,
    CropEffort,
    actions_from_edit_counts,
    click_point,
    crop_effort,
    outline_clicks,
    proposal_assist,
)


def _square(mask: np.ndarray, cell: int, row: int, col: int, side: int = 10) -> None:
    mask[row:row + side, col:col + side] = cell


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """Four true cells: one predicted well, one poorly (IoU 0.6), one missed; plus a false cell."""
    true, pred = np.zeros((60, 60), np.uint16), np.zeros((60, 60), np.uint16)
    _square(true, 1, 0, 0), _square(pred, 7, 0, 0)  # perfect
    _square(true, 2, 0, 20), _square(pred, 3, 0, 20, side=8)  # IoU 64/100: matched, not good enough
    _square(true, 3, 20, 0)  # missed
    _square(true, 4, 20, 20), _square(pred, 9, 21, 20)  # IoU 90/110 = 0.82: good enough
    _square(pred, 5, 45, 45)  # false
    return true, pred


NEVER = Assist(click_recovers=lambda cell: False, redo_fixes=lambda cell, pred_id: False)
ALWAYS = Assist(click_recovers=lambda cell: True, redo_fixes=lambda cell, pred_id: True)


def test_without_the_tools_a_false_cell_is_a_delete_and_a_poor_or_missed_cell_a_redraw():
    true, pred = _scene()

    effort = crop_effort(true, pred)

    manual = Actions(deletes=1, redraws=2, redraw_clicks=2 * 4)  # a square's outline: 4 polygon clicks
    assert effort == CropEffort(n_true=4, manual=manual, assisted=manual)
    assert effort.manual.total == 3 and effort.manual.in_clicks == 9


def test_with_the_tools_a_click_recovers_a_missed_cell_and_a_redo_fixes_a_poor_one():
    true, pred = _scene()

    assisted = crop_effort(true, pred, ALWAYS).assisted

    assert assisted == Actions(deletes=1, clicks=1, redos=1)
    # As many actions as without the tools (a click for a redraw), but fewer clicks.
    assert assisted.total == 3 and assisted.in_clicks == 3
    assert crop_effort(true, pred, NEVER).assisted == Actions(deletes=1, redraws=2, redraw_clicks=8)


def test_the_predicates_see_the_true_cell_and_the_predicted_cell_a_redo_replaces():
    true, pred = _scene()
    seen: list[tuple[str, int, int]] = []

    def clicked(cell: np.ndarray) -> bool:
        seen.append(("click", int(true[cell][0]), int(cell.sum())))
        return True

    def redone(cell: np.ndarray, pred_id: int) -> bool:
        seen.append(("redo", int(true[cell][0]), pred_id))
        return False

    effort = crop_effort(true, pred, Assist(clicked, redone))

    assert sorted(seen) == [("click", 3, 100), ("redo", 2, 3)]
    assert effort.assisted == Actions(deletes=1, redraws=1, clicks=1, redraw_clicks=4)


def test_an_empty_prediction_means_drawing_every_cell_and_efforts_add_up():
    true, _ = _scene()
    empty = np.zeros_like(true)

    effort = crop_effort(true, empty) + crop_effort(empty, empty)

    drawn = Actions(redraws=4, redraw_clicks=16)
    assert effort == CropEffort(4, drawn, drawn, n_crops=2)


def test_a_proposal_function_decides_by_iou_with_the_truth_where_a_labeller_clicks():
    true, pred = _scene()
    clicks: list[tuple[tuple[int, int], int]] = []

    def propose(point: tuple[int, int], replacing: int) -> np.ndarray | None:
        clicks.append((point, replacing))
        if replacing:  # a redo proposes the true cell shifted by 2 px: IoU 80/120 < 0.75, no fix
            return np.roll(true == true[point], 2, axis=1)
        return true == true[point]  # a click proposes the very cell

    effort = crop_effort(true, pred, proposal_assist(propose))

    assert effort.assisted == Actions(deletes=1, redraws=1, clicks=1, redraw_clicks=4)
    assert sorted(clicks) == [((4, 24), 3), ((24, 4), 0)]  # inside each cell, on its innermost pixel


def test_a_redraw_weighs_the_polygon_clicks_of_the_cells_outline():
    square, disc, speck = np.zeros((40, 40), bool), np.zeros((40, 40), bool), np.zeros((40, 40), bool)
    square[5:15, 5:15] = True
    rows, cols = np.mgrid[:40, :40]
    disc[(rows - 20) ** 2 + (cols - 20) ** 2 < 100] = True
    speck[0, 0] = True

    assert outline_clicks(square) == 4
    assert 6 <= outline_clicks(disc) <= 12  # a round nucleus of 20 px across
    assert outline_clicks(speck) == 3  # a polygon has at least three corners


def test_the_click_point_lies_inside_a_cell_of_any_shape():
    ring = np.zeros((20, 20), bool)
    ring[2:18, 2:18], ring[6:14, 6:14] = True, False  # a centroid in the hole

    row, col = click_point(ring)

    assert ring[row, col]


def test_actions_in_edit_counts_are_the_counts_of_the_action_kinds():
    counts = {"delete": 2, "lasso": 3, "brush": 1, "click_add": 4, "redo": 1, "box_add": 1, "unknown": 9,
              "merge": True}

    assert actions_from_edit_counts(counts) == 12
    assert actions_from_edit_counts({}) == actions_from_edit_counts(None) == 0
