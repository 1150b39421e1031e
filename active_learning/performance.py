"""How a model version performs on its validation crops beyond one AP figure: its errors by type,
its recall by cell size, whether its uncertainty signals rank its errors, and AP pooled by any
grouping of the crops (image, image group, tag). Arrays and plain numbers only, no Django.

Error types, for one crop with true cells T and predicted cells P (IoU as
`evaluation.cell_ious`; cells matched one-to-one at IoU 0.5 as `evaluation.matched_pairs`, so
the "matched" cells are AP@0.5's true positives). A predicted cell p *covers* a true cell t when
at least half of t's pixels lie in p; p *lies in* t when at least half of p's pixels lie in t.
Every matched pair at IoU >= 0.5 both covers and lies in its partner.

- **merged**: a predicted cell that covers two or more true cells. One error per such predicted
  cell; the true cells it covers are part of the merge, not missed.
- **split**: a true cell that two or more predicted cells lie in. One error per such true cell;
  the predicted cells lying in it are its fragments, not false.
- **missed**: a true cell that is not matched, not covered by a merged cell and not split.
- **false**: a predicted cell that is not matched, not merged and not a fragment of a split cell.
- **poorly outlined**: a matched pair with IoU below 0.75 whose cells take part in no merge or split.

Each true cell and each predicted cell gets exactly one status (true: split, else merged into a
merged cell, else found or poorly outlined by its match, else missed; predicted: merged, else a
fragment, else found or poorly outlined, else false), and each type counts cells of one status,
so the types are disjoint. Together they explain every AP@0.5 error: an unmatched true cell is
missed, part of a merge or split; an unmatched predicted cell is false, merged or a fragment.
A merged or split cell may still hold a match (a large cell merged with a small neighbour keeps
its IoU with the large one): it counts as the merge or split, not as found.

Recall by size: the share of true cells matched at IoU 0.5, in bins of true-cell area (pixels,
SIZE_EDGES; a cell cut by the crop's edge counts with the pixels inside the crop).

Calibration: a signal ranks the errors when more uncertain cells (or crops) are more often wrong:
Spearman's rank correlation between the signal and the error (per predicted cell: 1 unless its
status is found; per crop: its false positives + false negatives at IoU 0.5). Near 0: the signal
does not tell errors apart; negative: it points labellers the wrong way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from active_learning.evaluation import THRESHOLDS, cell_ious, matched_pairs, threshold_key

MATCH_IOU = 0.5
GOOD_IOU = 0.75
COVER = 0.5
ERROR_TYPES: tuple[str, ...] = ("missed", "false", "merged", "split", "poor")
ERROR_NAMES = {"missed": "missed", "false": "false", "merged": "merged", "split": "split",
               "poor": "poorly outlined"}
# One line each, for the report's readers (the module's docstring is the full definition).
ERROR_DEFINITIONS = {
    "missed": "a true cell no predicted cell matches at IoU 0.5, outside any merge or split",
    "false": "a predicted cell that matches no true cell, outside any merge or split",
    "merged": "a predicted cell covering at least half of each of two or more true cells",
    "split": "a true cell holding most of two or more predicted cells",
    "poor": "matched at IoU 0.5 but with IoU under 0.75",
}
# Powers of two: a bin is a doubling of area (a 1.4x wider cell); U2OS nuclei cover 300-2000 px.
SIZE_EDGES: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096)
# The image group: the file name (without extension) up to its first "_" or "-".
DEFAULT_GROUP_PATTERN = r"^[^_-]+"
MAX_PATTERN_LENGTH = 100
EXAMPLES = 3
# Two AP figures closer than this are the same for the comparison with the parent.
SAME_AP = 0.005


# --- One crop -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CropErrors:
    """Per cell of one crop: its status (see the module's docstring) and its area in pixels."""

    true_ids: np.ndarray
    true_status: np.ndarray  # "found", "poor", "missed", "merged", "split"
    true_area: np.ndarray
    true_matched: np.ndarray  # bool: matched at IoU 0.5 (an AP@0.5 true positive)
    pred_ids: np.ndarray
    pred_status: np.ndarray  # "found", "poor", "false", "merged", "fragment"

    @property
    def counts(self) -> dict[str, int]:
        return {
            "missed": int(np.sum(self.true_status == "missed")),
            "false": int(np.sum(self.pred_status == "false")),
            "merged": int(np.sum(self.pred_status == "merged")),
            "split": int(np.sum(self.true_status == "split")),
            "poor": int(np.sum(self.true_status == "poor")),
        }

    @property
    def pred_errors(self) -> np.ndarray:
        """Per predicted cell, 1.0 when it is anything but found."""
        return (self.pred_status != "found").astype(float)

    def sizes(self, edges: Sequence[int] = SIZE_EDGES) -> list[list[int]]:
        """Per size bin, [true cells, of them matched at IoU 0.5]."""
        bins = np.digitize(self.true_area, edges)
        n_bins = len(edges) + 1
        total = np.bincount(bins, minlength=n_bins)
        found = np.bincount(bins, weights=self.true_matched, minlength=n_bins)
        return [[int(t), int(f)] for t, f in zip(total, found, strict=True)]

    def summary(self) -> dict[str, Any]:
        """What a version's stored per-crop metrics keep of it."""
        return {"errors": self.counts, "sizes": self.sizes()}


def _areas(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    present, counts = np.unique(labels, return_counts=True)
    return counts[np.searchsorted(present, ids)].astype(float) if ids.size else np.zeros(0)


def crop_errors(true: np.ndarray, pred: np.ndarray) -> CropErrors:
    """Each true and predicted cell's status on one crop (the module's docstring defines them)."""
    iou, true_ids, pred_ids = cell_ious(true, pred)
    true_area, pred_area = _areas(true, true_ids), _areas(pred, pred_ids)
    # Overlap in pixels from IoU: |t & p| = IoU * (|t| + |p|) / (1 + IoU).
    overlap = iou * (true_area[:, None] + pred_area[None, :]) / (1.0 + iou)
    covers = overlap >= COVER * true_area[:, None] - 1e-6  # [t, p]: p covers t
    lies_in = overlap >= COVER * pred_area[None, :] - 1e-6  # [t, p]: p lies in t
    merging = covers.sum(axis=0) >= 2
    split = lies_in.sum(axis=1) >= 2

    rows, cols = matched_pairs(iou, MATCH_IOU)
    true_status = np.full(len(true_ids), "missed", dtype=object)
    pred_status = np.full(len(pred_ids), "false", dtype=object)
    outline = np.where(iou[rows, cols] >= GOOD_IOU, "found", "poor")
    true_status[rows], pred_status[cols] = outline, outline
    pred_status[lies_in[split].any(axis=0)] = "fragment"
    pred_status[merging] = "merged"
    true_status[covers[:, merging].any(axis=1)] = "merged"
    true_status[split] = "split"
    matched = np.zeros(len(true_ids), bool)
    matched[rows] = True
    return CropErrors(true_ids, true_status, true_area, matched, pred_ids, pred_status)


# --- Calibration ----------------------------------------------------------------------------------


def rank_correlation(values: Sequence[float] | np.ndarray, errors: Sequence[float] | np.ndarray) -> float | None:
    """Spearman's rho of a signal with the errors; None when either is constant or too short."""
    x, y = np.asarray(values, float), np.asarray(errors, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def cell_calibration(crops: Sequence[CropErrors], signals: Mapping[str, Sequence[Mapping[int, float]]]
                     ) -> dict[str, dict[str, Any]]:
    """Per signal (its per-cell values on each crop, by predicted cell id), the rank correlation
    of the values with the predicted cells being errors, over the cells it gave a value."""
    result = {}
    for name, per_crop in signals.items():
        values, errors = [], []
        for crop, cells in zip(crops, per_crop, strict=True):
            for cell_id, error in zip(crop.pred_ids, crop.pred_errors, strict=True):
                if int(cell_id) in cells:
                    values.append(cells[int(cell_id)])
                    errors.append(error)
        result[name] = {"rho": _rounded(rank_correlation(values, errors)), "n_cells": len(values),
                        "n_errors": int(sum(errors))}
    return result


def crop_calibration(errors: Mapping[int, float], scores: Mapping[str, Mapping[int, float]]
                     ) -> dict[str, dict[str, Any]]:
    """Per signal (its per-crop scores, by crop id), the rank correlation of the scores with the
    crops' errors, over the crops that have both."""
    result = {}
    for name, by_crop in sorted(scores.items()):
        shared = sorted(set(by_crop) & set(errors))
        rho = rank_correlation([by_crop[c] for c in shared], [errors[c] for c in shared])
        result[name] = {"rho": _rounded(rho), "n_crops": len(shared)}
    return result


def _rounded(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


# --- Pooling stored per-crop figures ------------------------------------------------------------


def pooled(entries: Iterable[Mapping[str, Any]], thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    """AP at each threshold from the pooled counts of per-crop metrics entries (as
    `evaluation.MatchCounts.to_dict` writes them), with the cells, crops and errors they hold."""
    entries = list(entries)
    out: dict[str, Any] = {"n_crops": len(entries), "n_true": sum(e.get("n_true", 0) for e in entries)}
    for threshold in thresholds:
        key = threshold_key(threshold)
        tp, fp, fn = (sum(e.get(f"{kind}{key}", 0) for e in entries) for kind in ("tp", "fp", "fn"))
        out[f"ap{key}"] = tp / (tp + fp + fn) if tp + fp + fn else None
        if threshold == MATCH_IOU:
            out["errors"] = fp + fn
    return out


def group_of(name: str, pattern: re.Pattern[str]) -> str:
    """The group of an image by its file name (extension dropped): the pattern's first capture
    group if it has one, else its whole match; the whole name where it does not match."""
    stem = PurePosixPath(name).stem or name
    found = pattern.search(stem)
    if not found:
        return stem
    return (found.group(1) if pattern.groups else found.group(0)) or stem


def group_pattern(text: str | None) -> re.Pattern[str]:
    """The grouping pattern an admin typed (the default when empty); ValueError when it is not one."""
    text = (text or "").strip() or DEFAULT_GROUP_PATTERN
    if len(text) > MAX_PATTERN_LENGTH:
        raise ValueError(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None


def ap_by(entries: Iterable[Mapping[str, Any]], keys_of: Callable[[Mapping[str, Any]], Iterable[str]]
          ) -> list[dict[str, Any]]:
    """AP pooled per key (a crop may have several keys, e.g. tags, or none), worst first:
    lowest AP@0.5, then most errors."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in entries:
        for key in keys_of(entry):
            groups[key].append(entry)
    rows = [{"key": key, **pooled(members)} for key, members in groups.items()]
    return sorted(rows, key=lambda r: (_ap_or_one(r["ap50"]), -r["errors"], r["key"]))


def _ap_or_one(ap: float | None) -> float:
    return 1.0 if ap is None else ap


def error_breakdown(entries: Sequence[Mapping[str, Any]], examples: int = EXAMPLES) -> list[dict[str, Any]]:
    """Per error type, its count over the crops and the crops with most of it (ids, most first).
    Entries without a stored error analysis are left out."""
    analysed = [e for e in entries if "errors" in e]
    rows = []
    for kind in ERROR_TYPES:
        counted = [(e["errors"].get(kind, 0), e.get("crop")) for e in analysed]
        worst = sorted((c for c in counted if c[0] > 0), key=lambda c: (-c[0], c[1] or 0))[:examples]
        rows.append({"type": kind, "name": ERROR_NAMES[kind], "definition": ERROR_DEFINITIONS[kind],
                     "count": sum(n for n, _ in counted),
                     "examples": [{"crop": crop, "count": n} for n, crop in worst]})
    return rows


def size_labels(edges: Sequence[int] = SIZE_EDGES) -> list[str]:
    """"< 64 px", "64-128 px", ..., ">= 4096 px"."""
    inner = [f"{lo}–{hi} px" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return [f"< {edges[0]} px", *inner, f"≥ {edges[-1]} px"]


def recall_by_size(entries: Sequence[Mapping[str, Any]], edges: Sequence[int] = SIZE_EDGES) -> list[dict[str, Any]]:
    """Per area bin that holds true cells: true cells, matched ones, missed ones, recall."""
    totals = np.zeros((len(edges) + 1, 2), int)
    for entry in entries:
        if "sizes" in entry:
            totals += np.asarray(entry["sizes"], int)
    rows = []
    for index, (label, (n_true, n_found)) in enumerate(zip(size_labels(edges), totals, strict=True)):
        if n_true:
            rows.append({"bin": index, "label": label, "n_true": int(n_true), "n_found": int(n_found),
                         "lost": int(n_true - n_found), "recall": n_found / n_true})
    return rows


def compare(entries: Sequence[Mapping[str, Any]], parent_entries: Sequence[Mapping[str, Any]],
            keys_of: Callable[[Mapping[str, Any]], Iterable[str]]) -> list[dict[str, Any]]:
    """Per key, AP@0.5 of this version and of its parent on the crops both were measured on, and
    whether it is better, worse or the same (within SAME_AP); most changed first."""
    theirs = {e["crop"]: e for e in parent_entries if "crop" in e}
    ours = [e for e in entries if e.get("crop") in theirs]
    mine = {row["key"]: row for row in ap_by(ours, keys_of)}
    parent = {row["key"]: row for row in ap_by([theirs[e["crop"]] for e in ours], keys_of)}
    rows = []
    for key, row in mine.items():
        before, after = parent[key]["ap50"], row["ap50"]
        delta = None if before is None or after is None else after - before
        verdict = "–" if delta is None else "same" if abs(delta) < SAME_AP else "better" if delta > 0 else "worse"
        rows.append({"key": key, "ap50": after, "parent_ap50": before, "delta": delta, "verdict": verdict,
                     "n_crops": row["n_crops"]})
    return sorted(rows, key=lambda r: (-abs(r["delta"] or 0.0), r["key"]))


# --- Where labelling should go next -------------------------------------------------------------


@dataclass(frozen=True)
class Advice:
    """One line of "where labelling should go next": what, why, how much there is to gain."""

    kind: str  # "group", "tag", "size", "error"
    key: str
    text: str
    gain: int  # errors (or lost cells) at IoU 0.5 there


def next_labelling(groups: Sequence[Mapping[str, Any]], tags: Sequence[Mapping[str, Any]],
                   sizes: Sequence[Mapping[str, Any]], errors: Sequence[Mapping[str, Any]],
                   *, n_crops: int, n_groups: int = 2) -> list[Advice]:
    """The groups and the tag with the most errors at IoU 0.5, the size bin that loses the most
    cells and the commonest error type, most to gain first; nothing where nothing is wrong. A
    group or tag that holds all `n_crops` validation crops is no advice: it is the whole set."""
    lines: list[Advice] = []
    for row in sorted((r for r in groups if r["n_crops"] < n_crops), key=lambda r: -r["errors"])[:n_groups]:
        lines.append(Advice("group", row["key"], f"image group {row['key']}: AP@0.5 {_fmt(row['ap50'])}, "
                            f"{row['errors']} errors over {row['n_true']} cells in {row['n_crops']} crops",
                            row["errors"]))
    for row in sorted((r for r in tags if r["n_crops"] < n_crops), key=lambda r: -r["errors"])[:1]:
        lines.append(Advice("tag", row["key"], f"tag {row['key']}: AP@0.5 {_fmt(row['ap50'])}, "
                            f"{row['errors']} errors over {row['n_true']} cells", row["errors"]))
    for row in sorted(sizes, key=lambda r: -r["lost"])[:1]:
        lines.append(Advice("size", str(row["bin"]), f"cells of {row['label']}: {row['lost']} of {row['n_true']} "
                            f"not found (recall {row['recall']:.2f})", row["lost"]))
    for row in sorted(errors, key=lambda r: -r["count"])[:1]:
        lines.append(Advice("error", row["type"], f"{row['name']} cells: {row['count']}, the commonest error",
                            row["count"]))
    return sorted((line for line in lines if line.gain > 0), key=lambda line: -line.gain)


def _fmt(ap: float | None) -> str:
    return "–" if ap is None else f"{ap:.3f}"
