"""Do a strategy's picks find what a labeller would fix? For every serving model version of the
projects `manage.py simulate_labelling --keep` kept, each strategy's top K unlabelled train
crops (its utility order; with --head, the order the queue serves, its head re-picked for
diversity, without the random control slots) against the mean of the pool it picked from: the
errors of the version's prediction on them (false positives + false negatives at IoU 0.5
against the ground truth), the cells they hold, how typical they are (the rank over the pool of
the inverse mean style distance to a crop's nearest neighbours, as TypiClust measures
typicality), and the share from each image group. A uniform random pick scores 1.00 on
both ratios and 0.50 on typicality, on average. `rho` is the Spearman rank correlation of the
strategy's utility with the errors over the whole pool (not just the top K: a steadier reading of
whether the signal points at the model's mistakes; 0 for a random order; a strategy that fits its
weights, `combined_fitted`, is read with the version's own fit). With --by-group,
rho is also printed within each image group, so a signal that only tells the groups apart (one
experiment noisier than the other) is not mistaken for one that finds errors.

A strategy is measured on the projects that stored scores it reads (a project stores those of
its own strategy).

    LABELSERVER_DATA_DIR=bench/out/simdata8-combined-0 .venv/bin/python bench/pick_quality.py \\
        bench/out/fluo-shift/pool [--k 8] [--strategies combined,cellprob,flow_error] [--head]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from functools import cache
from pathlib import Path

import numpy as np
from scipy.stats import rankdata, spearmanr
from simulation_breakdown import group_of  # also puts the repo on the path and sets Django up

from active_learning.diversity import cosine_distances, expand_style
from active_learning.evaluation import match_counts
from active_learning.models import CropScore, ModelVersion, Prediction
from active_learning.queue.ranking import _columns as queue_columns  # the stored scores, as the queue reads them
from active_learning.queue.ranking import _strategy_order as queue_order
from active_learning.queue.ranking import calibration
from active_learning.scoring import DESCRIPTOR
from active_learning.simulation.labeller import crop_truth
from active_learning.strategies import get_strategy
from annotations.imaging import read_label_image
from annotations.masks import decode_png
from annotations.models import Crop, Image, Project, Split

TYPICALITY_NEIGHBOURS = 20  # TypiClust's


def typicality_rank(styles: np.ndarray) -> np.ndarray:
    """Each crop's rank in (0, 1] of 1 / mean style distance to its nearest neighbours."""
    distances = cosine_distances(styles, styles)
    np.fill_diagonal(distances, np.inf)
    k = min(TYPICALITY_NEIGHBOURS, len(styles) - 1)
    typicality = 1.0 / np.maximum(np.sort(distances, axis=1)[:, :k].mean(axis=1), 1e-9)
    return rankdata(typicality) / len(typicality)


@cache
def truth_of(project_id: int, dataset: Path) -> dict[int, np.ndarray]:
    """The label images of a project's train images, by image id (read once per project)."""
    return {image.pk: read_label_image(dataset / "masks" / image.original_name, (image.height, image.width))
            for image in Image.objects.filter(project_id=project_id, split=Split.TRAIN)}


def pool_of(version: ModelVersion, dataset: Path) -> dict[str, np.ndarray]:
    """The train crops `version` scored and was not trained on: ids, images, errors, cells,
    groups, typicality ranks."""
    project = version.project
    truth = truth_of(project.pk, dataset)
    crops = {c.pk: c for c in Crop.objects.filter(project=project, split=Split.TRAIN).select_related("image")}
    trained = set(version.trained_on.values_list("crop_id", flat=True))
    scored = set(CropScore.objects.filter(model_version=version).values_list("crop_id", flat=True))
    rows = []
    for crop_id, png in Prediction.objects.filter(model_version=version, crop_id__in=scored - trained).values_list(
            "crop_id", "mask_png"):
        crop = crops.get(crop_id)
        if crop is None:
            continue
        counts = match_counts(crop_truth(crop, truth), decode_png(bytes(png)), (0.5,))
        rows.append((crop_id, counts.fp[0] + counts.fn[0], counts.n_true, group_of(crop), crop.image_id))
    rows.sort()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    descriptors = dict(CropScore.objects.filter(model_version=version, strategy=DESCRIPTOR, crop_id__in=ids.tolist())
                       .values_list("crop_id", "details"))
    styles = np.stack([expand_style(descriptors[int(i)]["style"]) for i in ids]) if len(ids) > 1 else None
    return {"ids": ids, "images": np.array([r[4] for r in rows], dtype=np.int64),
            "errors": np.array([r[1] for r in rows], float), "cells": np.array([r[2] for r in rows], float),
            "groups": np.array([r[3] for r in rows], dtype=object),
            "typical": typicality_rank(styles) if styles is not None else np.full(len(ids), 0.5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--strategies",
                        default="combined,combined_tta,cellprob,flow_error,missed_cells,tta,version_disagreement")
    parser.add_argument("--head", action="store_true", help="the queue's order, its head re-picked (no control slots)")
    parser.add_argument("--by-group", action="store_true", help="also rho within each image group")
    args = parser.parse_args()
    names = args.strategies.split(",")
    projects = Project.objects.filter(name__startswith="simulation ")
    groups = sorted({group_of(c) for c in Crop.objects.filter(project__in=projects).select_related("image")})
    found: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for version in ModelVersion.objects.filter(project__in=projects, promoted_at__isnull=False).order_by("pk"):
        pool = pool_of(version, args.dataset)
        if len(pool["ids"]) <= args.k or pool["errors"].sum() == 0:
            continue
        for group in groups:
            in_group = pool["groups"] == group
            found["(pool)"][group].append(float(np.mean(in_group)))
            found["(pool) typicality"][group].append(float(np.mean(pool["typical"][in_group])))
            found["(pool) errors per crop"][group].append(float(np.mean(pool["errors"][in_group])))
        for name in names:
            strategy = get_strategy(name)
            columns = queue_columns(version, strategy.components(), pool["ids"])
            fitted = calibration(version, strategy.components()) if strategy.calibrates else None
            utility = strategy.utility(pool["ids"], columns, 0, strategy.mix_weights(fitted))
            if np.isnan(utility).all():  # not stored: another strategy's project, or a first version's disagreement
                continue
            if args.head:  # as the queue: no head for an order that reads no model scores (random)
                head_from = version if strategy.components() else None
                top = queue_order(utility, pool["ids"], pool["images"], head_from)[: args.k]
            else:
                top = np.argsort(-np.nan_to_num(utility, nan=-1.0), kind="stable")[: args.k]
            found[name]["errors"].append(pool["errors"][top].mean() / pool["errors"].mean())
            have = ~np.isnan(utility)
            subsets = {"rho": have} | {f"rho {g}": have & (pool["groups"] == g) for g in groups if args.by_group}
            for key, subset in subsets.items():
                if subset.sum() > 2:
                    found[name][key].append(float(spearmanr(utility[subset], pool["errors"][subset]).statistic))
            found[name]["cells"].append(pool["cells"][top].mean() / pool["cells"].mean())
            found[name]["typical"].append(float(pool["typical"][top].mean()))
            for group in groups:
                found[name][group].append(float(np.mean(pool["groups"][top] == group)))
    order = "the queue's order" if args.head else "utility order"
    print(f"top {args.k} ({order}) of each serving version's pool, against the pool's mean "
          "(random picks: 1.00 on average)")
    within = [f"rho {g}" for g in groups] if args.by_group else []
    print(f"{'strategy':22} {'pools':>5} {'errors':>7} {'cells':>6} {'typical':>7} {'rho':>6}"
          + "".join(f" {'share ' + g:>16}" for g in groups) + "".join(f" {key:>14}" for key in within))
    for name in [*names, "(pool)", "(pool) typicality", "(pool) errors per crop"]:
        result = found.get(name)
        if not result:
            continue
        ratios = "".join(f" {np.mean(result[key]):{width}.2f}" if key in result else " " * (width + 1)
                         for key, width in (("errors", 7), ("cells", 6), ("typical", 7), ("rho", 6)))
        shares = "".join(f" {np.mean(result[g]):16.2f}" for g in groups)
        rhos = "".join(f" {np.mean(result[key]):14.2f}" if key in result else " " * 15 for key in within)
        print(f"{name:22} {len(result[groups[0]]):>5}{ratios}{shares}{rhos}")


if __name__ == "__main__":
    main()
