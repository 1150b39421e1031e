"""The performance figures (active_learning.performance) on a real true mask and a prediction
built from it with known errors: every count and AP worked out by hand."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import ndimage as ndi

from active_learning import performance
from active_learning.evaluation import evaluate
from tests.nuclei_model import u2os_window


def _interior_cells(mask: np.ndarray) -> dict[int, int]:
    """Cell id -> area, for the cells that do not touch the crop's edge."""
    edge = set(np.unique(np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])).tolist())
    ids, areas = np.unique(mask, return_counts=True)
    return {int(i): int(a) for i, a in zip(ids, areas, strict=True) if i and i not in edge}


def _neighbours(mask: np.ndarray, cells: dict[int, int]) -> tuple[int, int]:
    """Two interior cells that touch, of sizes within a factor 2 (so neither IoU with their
    union reaches 0.75, and the larger one's reaches 0.5)."""
    for a in sorted(cells):
        for b in np.unique(mask[ndi.binary_dilation(mask == a)]):
            b = int(b)
            if b > a and b in cells and max(cells[a], cells[b]) < 2 * min(cells[a], cells[b]):
                return a, b
    raise AssertionError("no touching pair of similar cells in this window")


@pytest.fixture(scope="module")
def known_errors():
    """U2OS image 5's top-left 256 px (31 true cells) and a prediction equal to it except:
    two cells missed, two touching neighbours merged, one cell split in three, a false cell in the
    background, and one cell shrunk to IoU 0.5-0.75 with its truth."""
    _, truth = u2os_window(5, top=0, left=0, size=256)
    cells = _interior_cells(truth)
    merged = _neighbours(truth, cells)
    by_size = sorted((c for c in cells if c not in merged), key=lambda c: cells[c])
    missed, split, shrunk = by_size[:2], by_size[-1], by_size[-2]
    pred = truth.copy()
    for cell in missed:
        pred[truth == cell] = 0
    pred[truth == merged[1]] = merged[0]
    ys, xs = np.nonzero(truth == split)
    thirds = np.digitize(xs, np.percentile(xs, [33.3, 66.7]))
    for part in (1, 2):
        pred[ys[thirds == part], xs[thirds == part]] = 1000 + part
    inner = truth == shrunk
    while (inner.sum() / (truth == shrunk).sum()) >= 0.7:
        inner = ndi.binary_erosion(inner)
    pred[(truth == shrunk) & ~inner] = 0
    free = ndi.distance_transform_edt(ndi.binary_dilation(truth > 0, iterations=3) == 0)
    cy, cx = np.unravel_index(np.argmax(free), free.shape)
    yy, xx = np.ogrid[: truth.shape[0], : truth.shape[1]]
    pred[(yy - cy) ** 2 + (xx - cx) ** 2 <= 36] = 2000
    known = {"missed": missed, "merged": merged, "split": split, "shrunk": shrunk, "n": len(np.unique(truth)) - 1}
    return truth, pred, known


def test_it_counts_each_error_type_on_a_prediction_with_known_errors(known_errors):
    truth, pred, known = known_errors
    result = performance.crop_errors(truth, pred)
    assert known["n"] == 31
    assert result.counts == {"missed": 2, "false": 1, "merged": 1, "split": 1, "poor": 1}
    status = dict(zip(result.true_ids.tolist(), result.true_status, strict=True))
    assert [status[c] for c in known["missed"]] == ["missed", "missed"]
    assert [status[c] for c in known["merged"]] == ["merged", "merged"]
    assert (status[known["split"]], status[known["shrunk"]]) == ("split", "poor")
    assert sorted(result.pred_status[result.pred_status != "found"].tolist()) == [
        "false", "fragment", "fragment", "fragment", "merged", "poor"]


def test_its_counts_explain_every_ap_error(known_errors):
    """At IoU 0.5: 27 matches (31 less 2 missed, the smaller merged cell, the split cell); 4 false
    positives (3 fragments, the false cell); 4 false negatives. At 0.75 and 0.9 the merged cell
    (IoU with its larger part under 2/3) and the shrunk cell (under 0.7) stop matching too."""
    truth, pred, _ = known_errors
    counts = evaluate([truth], [pred]).overall
    assert (counts.tp, counts.fp, counts.fn) == ((27, 25, 25), (4, 6, 6), (4, 6, 6))
    assert counts.ap == pytest.approx((27 / 35, 25 / 37, 25 / 37))
    result = performance.crop_errors(truth, pred)
    assert sum(result.counts[k] for k in ("missed", "split")) + 1 == counts.fn[0]  # + the merged-in smaller cell
    assert sum(result.sizes(), start=np.zeros(2, int)).tolist() == [31, 27]


def test_it_bins_recall_by_cell_area(known_errors):
    truth, pred, known = known_errors
    entry = {"crop": 1, **performance.crop_errors(truth, pred).summary()}
    rows = performance.recall_by_size([entry])
    assert sum(r["n_true"] for r in rows) == 31 and sum(r["lost"] for r in rows) == 4
    areas = _interior_cells(truth)
    smallest_bin = int(np.digitize(areas[known["missed"][0]], performance.SIZE_EDGES))
    assert next(r for r in rows if r["bin"] == smallest_bin)["lost"] >= 1


def test_a_perfect_signal_ranks_the_errors_and_a_reversed_one_ranks_them_backwards(known_errors):
    truth, pred, _ = known_errors
    crop = performance.crop_errors(truth, pred)
    right = {int(c): float(e) + 0.01 * i for i, (c, e) in enumerate(zip(crop.pred_ids, crop.pred_errors, strict=True))}
    wrong = {c: -v for c, v in right.items()}
    flat = dict.fromkeys(right, 0.5)
    result = performance.cell_calibration([crop], {"right": [right], "wrong": [wrong], "flat": [flat]})
    assert result["right"]["rho"] > 0.5 and result["wrong"]["rho"] == -result["right"]["rho"]
    assert result["flat"] == {"rho": None, "n_cells": len(right), "n_errors": 6}


def test_it_pools_ap_per_group_and_compares_with_the_parent():
    entries = [
        {"crop": 1, "image": "plateA_01.png", "tp50": 8, "fp50": 1, "fn50": 1, "n_true": 9},
        {"crop": 2, "image": "plateA-02.png", "tp50": 2, "fp50": 0, "fn50": 8, "n_true": 10},
        {"crop": 3, "image": "plateB_01.png", "tp50": 5, "fp50": 0, "fn50": 0, "n_true": 5},
        {"crop": 4, "image": "plateC_01.png", "tp50": 1, "fp50": 0, "fn50": 1, "n_true": 2},
    ]
    parent = [{**entries[0], "tp50": 5, "fn50": 4}, {**entries[1]}, {**entries[2], "fp50": 5},
              {**entries[3], "tp50": 2, "fn50": 0}, {"crop": 9, "image": "plateD_01.png", "tp50": 1, "n_true": 1}]
    pattern = performance.group_pattern("")

    def group(entry):
        return [performance.group_of(entry["image"], pattern)]

    rows = performance.ap_by(entries, group)
    assert [(r["key"], r["ap50"], r["errors"]) for r in rows] == [
        ("plateA", 10 / 20, 10), ("plateC", 0.5, 1), ("plateB", 1.0, 0)]
    compared = {r["key"]: r for r in performance.compare(entries, parent, group)}
    assert set(compared) == {"plateA", "plateB", "plateC"}  # plateD: only the parent was measured on it
    assert compared["plateA"]["parent_ap50"] == pytest.approx(7 / 20) and compared["plateA"]["verdict"] == "better"
    assert compared["plateB"]["verdict"] == "better" and compared["plateB"]["delta"] == pytest.approx(0.5)
    assert compared["plateC"]["verdict"] == "worse" and compared["plateC"]["delta"] == pytest.approx(-0.5)


@pytest.mark.parametrize(("name", "pattern", "group"), [
    ("plateA_01.png", "", "plateA"), ("plateA-01.tif", "", "plateA"), ("07fb37aafa66.png", "", "07fb37aafa66"),
    ("exp3_wellB2_f1.png", r"well(\w\d)", "B2"), ("exp3_wellB2_f1.png", r"^\w+?_\w+?(?=_)", "exp3_wellB2"),
    ("nomatch.png", r"well(\d)", "nomatch"),
])
def test_it_groups_images_by_a_pattern_of_their_file_name(name, pattern, group):
    assert performance.group_of(name, performance.group_pattern(pattern)) == group


def test_it_refuses_a_pattern_that_is_no_regular_expression():
    with pytest.raises(ValueError, match="not a regular expression"):
        performance.group_pattern("(unclosed")
    assert performance.group_pattern(None) == re.compile(performance.DEFAULT_GROUP_PATTERN)


def test_it_advises_where_labelling_gains_most():
    groups = [{"key": "plateA", "ap50": 0.5, "errors": 10, "n_true": 19, "n_crops": 2},
              {"key": "plateB", "ap50": 1.0, "errors": 0, "n_true": 5, "n_crops": 1}]
    sizes = [{"bin": 2, "label": "128–256 px", "n_true": 6, "n_found": 2, "lost": 4, "recall": 1 / 3}]
    errors = performance.error_breakdown([{"crop": 1, "errors": {"missed": 7, "merged": 1}}])
    everywhere = [{"key": "all", "ap50": 0.6, "errors": 10, "n_true": 24, "n_crops": 3}]
    advice = performance.next_labelling(groups, everywhere, sizes, errors, n_crops=3)
    assert [(a.kind, a.key, a.gain) for a in advice] == [("group", "plateA", 10), ("error", "missed", 7),
                                                          ("size", "2", 4)]
    assert advice[0].text == "image group plateA: AP@0.5 0.500, 10 errors over 19 cells in 2 crops"
    # One group holding every crop is the whole set: no advice to focus on it.
    assert [a.kind for a in performance.next_labelling(everywhere, [], [], [], n_crops=3)] == []
