"""Scoring strategies, the blank-crop guard, diversity selection, and storing scores.

Fast tests drive the strategies with hand-made arrays; the `slow` test scores real U2OS crops
with the run's small trained Cellpose model (`nuclei_model`, tests/nuclei_model.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage
from scipy import ndimage
from skimage.segmentation import expand_labels

from active_learning import diversity, scoring
from active_learning.models import CropScore, ModelVersionStatus, Prediction
from active_learning.outputs import CropPrediction
from active_learning.queue import ranking
from active_learning.strategies import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    Calibration,
    ScoringInput,
    UnknownStrategy,
    get_strategy,
    scored_strategies,
)
from active_learning.strategies.combined import (
    MIN_AGREEMENT_CROPS,
    SPEARMAN_Z_VARIANCE,
    fitted_weights,
    percentile_rank,
    signal_agreement,
    weighted_mix,
)
from active_learning.strategies.maps import agreement
from active_learning.strategies.missed_cells import near_cells
from active_learning.strategies.random import uniform_hash
from active_learning.strategies.tta import flip_image, unflip
from annotations.models import Project
from labelserver.errors import DomainError
from tests.conftest import DATA
from tests.factories import make_crops, make_model_version, make_prediction, true_mask
from tests.nuclei_model import HELD_OUT_IMAGES, TRAIN_IMAGES, u2os_window

U2OS = DATA / "dsb2018_u2os"


def disc_mask(shape=(64, 64), centres=((20, 20), (44, 40)), radius=8) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, np.uint16)
    for cell, (cy, cx) in enumerate(centres, start=1):
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = cell
    return mask


def prediction(masks: np.ndarray, logit: float = 8.0, style: np.ndarray | None = None) -> CropPrediction:
    """A prediction that is `logit`-sure of its own masks (0 = a coin toss everywhere)."""
    cellprob = np.where(masks > 0, logit, -logit).astype(np.float32)
    flows = np.zeros((2, *masks.shape), np.float32)
    style = style if style is not None else np.eye(256, dtype=np.float32)[0]
    return CropPrediction(masks=masks, cellprob=cellprob, flows=flows, style=style)


def score(name: str, **inputs) -> float | None:
    result = get_strategy(name).score(ScoringInput(crop_id=1, **inputs))
    return None if result is None else result.value


# --- The registry --------------------------------------------------------------------------------


def test_it_finds_every_registered_strategy_by_name():
    for name in STRATEGIES:
        assert get_strategy(name).name == name


def test_it_refuses_an_unknown_strategy_with_a_domain_error():
    with pytest.raises(UnknownStrategy, match="known: cellprob, combined") as caught:
        get_strategy("entropy-ish")
    assert isinstance(caught.value, DomainError)


def test_it_lists_the_scores_a_strategy_ranks_with():
    assert [s.name for s in scored_strategies("combined")] == [
        "cellprob", "flow_error", "missed_cells", "version_disagreement"]
    assert "tta" in [s.name for s in scored_strategies("combined_tta")]
    assert scored_strategies("random") == []
    assert [s.name for s in scored_strategies("cellprob")] == ["cellprob"]


# --- Each strategy on arrays ---------------------------------------------------------------------


def test_cellprob_scores_a_sure_map_near_zero_and_a_coin_toss_near_one():
    masks = disc_mask()
    assert score("cellprob", prediction=prediction(masks, logit=12.0)) < 0.001
    assert score("cellprob", prediction=prediction(masks, logit=0.0)) == pytest.approx(1.0)


def test_cellprob_flags_the_cell_the_model_is_unsure_of():
    masks = disc_mask()
    p = prediction(masks)
    cellprob = p.cellprob.copy()
    cellprob[masks == 2] = 0.2  # cell 2 is a coin toss
    result = get_strategy("cellprob").score(ScoringInput(1, CropPrediction(masks, cellprob, p.flows, p.style)))
    assert set(result.cells) == {1, 2}
    assert result.cells[2] > 0.5 > result.cells[1]
    assert 0 < result.details["ambiguous_fraction"] < 1


def test_flow_error_averages_the_cells_errors_and_scales_each_cell():
    masks = disc_mask()
    result = get_strategy("flow_error").score(
        ScoringInput(1, prediction(masks), flow_errors={1: 0.02, 2: 0.3})
    )
    assert result.value == pytest.approx(0.16)
    assert result.cells == {1: pytest.approx(0.05), 2: pytest.approx(0.75)}
    assert result.details["max"] == pytest.approx(0.3)


def test_flow_error_is_zero_without_cells_and_missing_without_errors():
    assert score("flow_error", prediction=prediction(np.zeros((32, 32), np.uint16)), flow_errors={}) == 0.0
    assert score("flow_error", prediction=prediction(disc_mask())) is None


def test_agreement_of_instance_masks():
    masks = disc_mask()
    assert agreement(masks, masks)[0] == 1.0
    assert agreement(np.zeros_like(masks), np.zeros_like(masks))[0] == 1.0
    assert agreement(masks, np.zeros_like(masks)) == (0.0, {1: 0.0, 2: 0.0})
    one_cell = np.where(masks == 1, 1, 0).astype(np.uint16)
    value, best = agreement(masks, one_cell)
    assert value == pytest.approx(0.5)  # 1 matched cell with IoU 1, over 2 + 1 - 1 cells
    assert best == {1: 1.0, 2: 0.0}


def test_unflip_maps_a_flipped_prediction_back_and_turns_the_flows_round():
    masks = disc_mask(centres=((20, 12),))
    flows = np.stack([np.full(masks.shape, 0.5), np.full(masks.shape, 0.25)]).astype(np.float32)
    flipped = CropPrediction(np.flip(masks, 1).copy(), np.zeros(masks.shape, np.float32), flows, np.zeros(4))
    back = unflip(flipped, axis=1)
    assert np.array_equal(back.masks, masks)
    assert back.flows[0].mean() == pytest.approx(0.5) and back.flows[1].mean() == pytest.approx(-0.25)
    assert flip_image(np.arange(6).reshape(1, 3, 2), 1)[0, 0].tolist() == [4, 5]


def test_tta_is_zero_when_flips_agree_and_high_when_they_do_not():
    masks = disc_mask()
    same = prediction(masks)
    assert score("tta", prediction=same, augmented=(same,)) == 0.0
    shifted = prediction(np.roll(masks, 6, axis=1))
    assert score("tta", prediction=same, augmented=(shifted,)) > 0.3
    assert score("tta", prediction=same) is None


def test_version_disagreement_compares_with_the_previous_masks():
    masks = disc_mask()
    assert score("version_disagreement", prediction=prediction(masks), previous_masks=masks) == 0.0
    merged = (masks > 0).astype(np.uint16)
    assert score("version_disagreement", prediction=prediction(masks), previous_masks=merged) > 0.5
    assert score("version_disagreement", prediction=prediction(masks)) is None


def test_missed_cells_counts_cell_sized_regions_the_masks_leave_out():
    masks = disc_mask()  # two predicted cells, sure of themselves
    p = prediction(masks)
    assert score("missed_cells", prediction=p) == 0.0
    yy, xx = np.mgrid[:64, :64]
    near_miss = (yy - 50) ** 2 + (xx - 12) ** 2 <= 36  # a third nucleus, ~113 px, left below the threshold
    cellprob = p.cellprob.copy()
    cellprob[near_miss] = -1.0  # probability 0.27: leaned towards, not called
    result = get_strategy("missed_cells").score(ScoringInput(1, CropPrediction(masks, cellprob, p.flows, p.style)))
    assert result.value == 1.0 and result.details["regions"] == 1
    assert result.details["pixels"] == pytest.approx(near_miss.mean())
    # Where: the region's centre (x, y, in pixel-edge coordinates) and a disc of its area's radius.
    (x, y, radius), = result.places
    assert (x, y) == (12.5, 50.5) and radius == pytest.approx(np.sqrt(near_miss.sum() / np.pi), abs=0.05)
    cellprob[near_miss] = -4.0  # probability 0.02: ruled out
    assert score("missed_cells", prediction=CropPrediction(masks, cellprob, p.flows, p.style)) == 0.0


def test_missed_cells_places_come_largest_first():
    masks = np.zeros((64, 64), np.uint16)
    cellprob = np.full(masks.shape, -8.0, np.float32)
    cellprob[4:10, 4:10] = 0.0  # 36 px
    cellprob[30:40, 40:50] = 0.0  # 100 px
    p = prediction(masks)
    item = ScoringInput(1, CropPrediction(masks, cellprob, p.flows, p.style))
    result = get_strategy("missed_cells").score(item)
    assert [place[:2] for place in result.places] == [(45.0, 35.0), (7.0, 7.0)]
    _, regions = near_cells(item)
    assert [(r.area, r.peak) for r in regions] == [(100, 0.5), (36, 0.5)]
    assert [r.mass for r in regions] == pytest.approx([50.0, 18.0])


def test_missed_cells_ignores_specks_and_the_halo_of_found_cells():
    masks = disc_mask()
    p = prediction(masks)
    cellprob = p.cellprob.copy()
    cellprob[2:6, 2:6] = 1.0  # a 16-px speck, even above the threshold
    halo = (expand_labels(masks, 2) > 0) & (masks == 0)
    cellprob[halo] = 0.0  # the outline's blur around each found cell
    assert score("missed_cells", prediction=CropPrediction(masks, cellprob, p.flows, p.style)) == 0.0
    cellprob[40:52, 2:12] = 2.0  # a dropped mask's 120 px: above the threshold, outside every mask
    assert score("missed_cells", prediction=CropPrediction(masks, cellprob, p.flows, p.style)) == 1.0


def test_random_is_uniform_fixed_per_seed_and_different_across_seeds():
    ids = np.arange(1, 20001)
    values = uniform_hash(ids, seed=3)
    assert np.array_equal(values, uniform_hash(ids, seed=3))
    assert not np.array_equal(values, uniform_hash(ids, seed=4))
    assert 0 <= values.min() and values.max() < 1
    assert np.histogram(values, bins=10, range=(0, 1))[0].min() > 1800


# --- The combined score --------------------------------------------------------------------------


def test_percentile_rank_keeps_missing_values_missing_and_zero_scores_zero():
    ranks = percentile_rank(np.array([0.3, np.nan, 0.1, 0.3, 0.0]))
    assert np.isnan(ranks[1])
    assert ranks[[0, 2, 3, 4]].tolist() == pytest.approx([7 / 8, 2 / 4, 7 / 8, 0.0])


def test_combined_mixes_normalised_components_and_uses_what_a_crop_has():
    columns = {
        "cellprob": np.array([0.30, 0.02, 0.10, np.nan]),  # entropy, in bits
        "flow_error": np.array([0.35, 0.01, 0.02, np.nan]),  # errors, another scale
        "version_disagreement": np.array([np.nan, np.nan, 0.9, np.nan]),
    }
    utility = weighted_mix(columns, {"cellprob": 1, "flow_error": 1, "version_disagreement": 0.5}, 4)
    assert np.isnan(utility[3])
    assert utility[0] == 1.0 and utility[1] == pytest.approx(1 / 3)
    assert utility[0] > utility[2] > utility[1]


# Errors of the serving version on 20 validation crops, and signals that rank them well or backwards.
ERRORS = np.array([0, 0, 1, 0, 2, 3, 0, 1, 5, 4, 0, 2, 6, 1, 0, 3, 7, 2, 1, 0], dtype=float)
SEES = ERRORS + np.linspace(0, 0.5, 20)  # the errors' order, ties broken
BACKWARDS = -SEES + 10


def test_signal_agreement_is_spearmans_rho_over_the_crops_with_both():
    rho, n = signal_agreement(SEES, ERRORS)
    assert rho > 0.95 and n == 20  # below 1 only for the ties among the errors
    assert signal_agreement(BACKWARDS, ERRORS)[0] == pytest.approx(-rho)
    with_gaps = SEES.copy()
    with_gaps[:5] = np.nan
    assert signal_agreement(with_gaps, ERRORS)[1] == 15
    assert signal_agreement(np.ones(20), ERRORS) == (0.0, 20)  # a constant signal says nothing
    assert signal_agreement(np.full(20, np.nan), ERRORS) == (0.0, 0)


def test_fitted_weights_follow_a_signal_that_clearly_leads():
    calibration = Calibration({"cellprob": SEES, "flow_error": BACKWARDS,
                               "version_disagreement": np.full(20, np.nan)}, ERRORS)
    prior = {"cellprob": 1.0, "flow_error": 1.0, "missed_cells": 1.0, "version_disagreement": 0.5}
    weights = fitted_weights(prior, calibration)
    z = np.arctanh(signal_agreement(SEES, ERRORS)[0])
    # The two agreements are 2z apart, far beyond 20 crops' chance: almost nothing is shrunk away.
    kept = 1 - (SPEARMAN_Z_VARIANCE / 17) / (2 * z**2)
    assert weights["cellprob"] == pytest.approx(np.tanh(kept * z))
    assert weights["cellprob"] > 0.9
    assert weights["flow_error"] == 0.0  # points away from this project's errors: stops counting
    # No crop of known truth: the signals' common level, here none (one agrees, one disagrees).
    assert weights["missed_cells"] == pytest.approx(0.0, abs=1e-9)
    assert weights["version_disagreement"] == pytest.approx(0.0, abs=1e-9)


def test_fitted_weights_keep_the_prior_mix_where_the_signals_differ_by_chance():
    rng = np.random.default_rng(0)
    entropy, flows = ERRORS + rng.normal(0, 1.5, 20), ERRORS + rng.normal(0, 2.0, 20)
    rho_entropy, rho_flows = signal_agreement(entropy, ERRORS)[0], signal_agreement(flows, ERRORS)[0]
    assert 0.3 < rho_flows < rho_entropy < 0.9 and rho_entropy - rho_flows < 0.2  # within 20 crops' noise
    calibration = Calibration({"cellprob": entropy, "flow_error": flows}, ERRORS)
    prior = {"cellprob": 1.0, "flow_error": 1.0, "version_disagreement": 0.5}
    weights = fitted_weights(prior, calibration)
    common = np.tanh((np.arctanh(rho_entropy) + np.arctanh(rho_flows)) / 2)
    assert weights == pytest.approx({name: w * common for name, w in prior.items()})  # the prior's mix


def test_fitted_weights_measure_a_signal_only_on_enough_crops():
    few = np.full(20, np.nan)
    few[: MIN_AGREEMENT_CROPS - 1] = BACKWARDS[: MIN_AGREEMENT_CROPS - 1]
    calibration = Calibration({"cellprob": SEES, "flow_error": few}, ERRORS)
    weights = fitted_weights({"cellprob": 1.0, "flow_error": 1.0}, calibration)
    # flow error is unmeasured, so it counts at the common level: cellprob's, the only one measured.
    assert weights["flow_error"] == pytest.approx(weights["cellprob"]) and weights["cellprob"] > 0.9
    assert fitted_weights({"cellprob": 1.0}, Calibration({"cellprob": few}, ERRORS)) == {"cellprob": 1.0}


def test_fitted_weights_fall_back_to_the_prior_when_no_signal_agrees():
    prior = {"cellprob": 1.0, "flow_error": 0.5}
    calibration = Calibration({"cellprob": BACKWARDS, "flow_error": BACKWARDS}, ERRORS)
    assert fitted_weights(prior, calibration) == prior


def test_combined_fitted_ranks_by_the_signal_that_saw_the_errors():
    strategy = get_strategy("combined_fitted")
    assert strategy.calibrates and strategy.components() == get_strategy("combined").components()
    pool = {"cellprob": np.array([0.9, 0.1, 0.5]), "flow_error": np.array([0.1, 0.9, 0.5])}
    ids = np.arange(3)
    # Unfitted (no crop of known truth scored yet) it is the default mix: a three-way tie.
    assert strategy.utility(ids, pool, 0).tolist() == get_strategy("combined").utility(ids, pool, 0).tolist()
    sees_by_entropy = Calibration({"cellprob": SEES, "flow_error": BACKWARDS}, ERRORS)
    assert np.argsort(-strategy.utility(ids, pool, 0, strategy.mix_weights(sees_by_entropy))).tolist() == [0, 2, 1]
    sees_by_flows = Calibration({"cellprob": BACKWARDS, "flow_error": SEES}, ERRORS)
    assert np.argsort(-strategy.utility(ids, pool, 0, strategy.mix_weights(sees_by_flows))).tolist() == [1, 2, 0]


# --- Diversity -----------------------------------------------------------------------------------


def test_k_centre_spreads_its_picks():
    points = np.array([[1, 0, 0], [0.99, 0.01, 0], [0, 1, 0], [0, 0.99, 0.01], [0, 0, 1]], dtype=float)
    picks = diversity.greedy_k_centre(points, 3)
    assert sorted(picks) in ([0, 2, 4], [0, 3, 4])


def test_diverse_order_does_not_put_near_copies_at_the_top():
    copies = np.tile([1.0, 0.0, 0.0], (5, 1)) + np.random.default_rng(0).normal(0, 1e-3, (5, 3))
    others = np.array([[0, 1.0, 0], [0, 0, 1.0]])
    utility = np.array([1.0, 0.99, 0.98, 0.97, 0.96, 0.7, 0.6])
    order = diversity.diverse_order(utility, np.vstack([copies, others]), k=3)
    assert order[0] == 0 and set(order[1:]) == {5, 6}
    assert diversity.diverse_order(utility, np.vstack([copies, others]), k=3, diversity=0.0) == [0, 1, 2]


def test_diverse_order_takes_each_image_once_before_any_twice():
    embeddings = np.eye(6)  # six crops that all look different
    utility = np.array([1.0, 0.95, 0.9, 0.85, 0.6, 0.55])
    images = np.array([7, 7, 7, 7, 8, 9])  # the four most useful crops are of one image

    assert diversity.diverse_order(utility, embeddings, k=6) == [0, 1, 2, 3, 4, 5]
    order = diversity.diverse_order(utility, embeddings, k=6, groups=images)
    assert order[:3] == [0, 4, 5]  # one crop of each image first
    assert order[3:] == [1, 2, 3]  # then a new cycle: image 7's next crops, by utility
    # Crops of one image alone are still spread by style.
    copies = np.array([[1.0, 0, 0], [1.0, 0.001, 0], [0, 1.0, 0]])
    assert diversity.diverse_order(np.array([1.0, 0.9, 0.6]), copies, k=3, groups=np.array([7, 7, 7])) == [0, 2, 1]
    # A useless crop is not promoted for being of another image.
    assert diversity.diverse_order(np.array([1.0, 0.9, 0.0]), np.eye(3), k=3, groups=np.array([1, 1, 2])) == [0, 1, 2]


def test_diverse_order_does_not_prefer_an_outlier_to_a_more_useful_ordinary_crop():
    """Diversity demotes near-copies; it does not reward the crop farthest from everything."""
    embeddings = np.array([
        [1.0, 0.0, 0.0],
        [1.0, 0.45, 0.0], [1.0, -0.45, 0.0], [1.0, 0.0, 0.45],  # ordinary: ~0.09 from the first
        [-1.0, 0.0, 0.0],  # an outlier, opposite to everything
        [1.0, 0.001, 0.0],  # a near-copy of the first
    ])
    utility = np.array([1.0, 0.9, 0.88, 0.86, 0.8, 0.99])
    assert diversity.diverse_order(utility, embeddings, k=6) == [0, 1, 2, 3, 4, 5]


def test_diverse_order_falls_back_to_utility_without_styles():
    assert diversity.diverse_order(np.array([0.2, 0.9, 0.5]), np.zeros((3, 8)), k=3) == [1, 2, 0]


def test_diverse_order_never_promotes_a_useless_crop_for_being_different():
    embeddings = np.array([[1.0, 0, 0], [0.999, 0.04, 0], [0, 0, 1.0]])  # 1 looks like 0; 2 (blank) like neither
    assert diversity.diverse_order(np.array([0.9, 0.6, 0.0]), embeddings, k=3) == [0, 1, 2]


def test_compressed_styles_keep_distances():
    rng = np.random.default_rng(1)
    styles = diversity.unit_rows(rng.normal(size=(6, 256)))
    styles[1] = diversity.unit_rows((styles[0] + 0.01 * rng.normal(size=256))[None])[0]
    packed = np.stack([diversity.expand_style(diversity.compress_style(s)) for s in styles])
    assert len(diversity.compress_style(styles[0])) < 200
    full, small = diversity.cosine_distances(styles, styles), diversity.cosine_distances(packed, packed)
    assert (np.abs(full - small) <= 0.35 * full + 0.01).all()  # random projection: relative error
    assert small[0, 1] < 0.05 < 0.5 < small[0, 2]


# --- The blank-crop guard ------------------------------------------------------------------------


def u2os(index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    path = sorted((U2OS / "images").glob("*.png"))[index]
    with PILImage.open(path) as image, PILImage.open(U2OS / "masks" / path.name) as mask:
        pixels = np.array(image)
        return (pixels if pixels.ndim == 2 else pixels[..., 0]), np.array(mask).astype(np.uint16)


def window_with_cells(index: int, size: int = 128, least: int = 4) -> tuple[np.ndarray, np.ndarray]:
    image, mask = u2os(index)
    for y in range(0, image.shape[0] - size + 1, size // 2):
        for x in range(0, image.shape[1] - size + 1, size // 2):
            if len(np.unique(mask[y : y + size, x : x + size])) - 1 >= least:
                return image[y : y + size, x : x + size], mask[y : y + size, x : x + size]
    raise AssertionError("no window with cells")


def blank_like(image: np.ndarray, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    """Background of the same level, with camera noise and a gentle illumination gradient."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 6, image.shape[1])[None, :]
    return np.clip(np.median(image) + gradient + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def degraded(image: np.ndarray, contrast: float = 0.5, sigma: float = 6.0, seed: int = 0) -> np.ndarray:
    """The same crop with its contrast dropped and noise added."""
    rng = np.random.default_rng(seed)
    level = np.median(image)
    noisy = contrast * image.astype(np.float64) + (1 - contrast) * level + rng.normal(0, sigma, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_a_blank_crop_has_no_content_and_a_crop_with_cells_has_full_content():
    cells, _ = window_with_cells(0)
    assert scoring.content_weight(cells)[0] == 1.0
    for sigma in (0.5, 2.0, 8.0):
        assert scoring.content_weight(blank_like(cells, sigma))[0] == 0.0
    assert scoring.content_weight(np.full((64, 64), 7, np.uint8))[0] == 0.0


def test_a_noisy_low_contrast_crop_keeps_its_content():
    cells, _ = window_with_cells(0)
    assert scoring.content_weight(degraded(cells, 0.5, 6.0))[0] == 1.0
    assert scoring.content_weight(degraded(cells, 0.3, 10.0))[0] > 0.5
    rgb = np.repeat(cells[..., None], 3, axis=2)
    assert scoring.content_weight(rgb)[0] == 1.0


# --- Storing scores ------------------------------------------------------------------------------


@pytest.fixture
def crops(project):
    return make_crops(project, 4, crop_size=64)


@pytest.fixture
def version(project):
    return make_model_version(project, 1)


def outputs_for(crops, logit: float = 8.0) -> list[CropPrediction]:
    return [prediction(true_mask(crop), logit=logit) for crop in crops]


def images_for(crops) -> list[np.ndarray]:
    image, _ = u2os(0)
    return [image[c.y : c.y + c.height, c.x : c.x + c.width] for c in crops]


def test_it_stores_each_score_once_per_crop_version_and_strategy(crops, version):
    outputs = outputs_for(crops)
    added = scoring.score_predictions(version, crops, outputs, strategies=["cellprob"])
    assert added == 2 * len(crops)  # cellprob + the crop descriptor
    assert scoring.score_predictions(version, crops, outputs, strategies=["cellprob"]) == 0
    CropScore.objects.filter(strategy="cellprob").update(score=0.123)
    scoring.score_predictions(version, crops, outputs_for(crops, logit=0.0), strategies=["cellprob"])
    assert set(CropScore.objects.filter(strategy="cellprob").values_list("score", flat=True)) == {0.123}


def test_it_scores_a_new_strategy_beside_the_stored_ones(crops, version):
    scoring.score_predictions(version, crops, outputs_for(crops), strategies=["cellprob"])
    assert scoring.score_predictions(version, crops, outputs_for(crops), strategies=["cellprob", "tta"]) == 0
    assert not CropScore.objects.filter(strategy="tta").exists()  # no backend to predict the flips


def test_it_marks_version_disagreement_unavailable_without_a_previous_version(crops, version):
    scoring.score_predictions(version, crops, outputs_for(crops), strategies=["version_disagreement"])
    rows = CropScore.objects.filter(strategy="version_disagreement")
    assert rows.count() == len(crops)
    assert set(rows.values_list("score", flat=True)) == {scoring.UNAVAILABLE}


def test_version_disagreement_reads_the_previous_versions_prediction(project, crops, version):
    old = make_model_version(project, 2, status=ModelVersionStatus.RETIRED)
    from django.utils import timezone

    old.promoted_at = timezone.now() - timezone.timedelta(days=1)
    old.save()
    version.promoted_at = timezone.now()
    version.save()
    make_prediction(crops[0], old)
    make_prediction(crops[1], old, mask=np.zeros((64, 64), np.uint16))
    scoring.score_predictions(version, crops[:2], outputs_for(crops[:2]), strategies=["version_disagreement"])
    scores = dict(CropScore.objects.filter(strategy="version_disagreement").values_list("crop_id", "score"))
    assert scores[crops[0].pk] == 0.0
    assert scores[crops[1].pk] == (1.0 if true_mask(crops[1]).any() else 0.0)


def test_it_weighs_scores_by_content_so_blank_crops_score_zero(crops, version):
    images = images_for(crops)
    images[1] = blank_like(images[1])
    predictions = [make_prediction(crop, version) for crop in crops[:2]]
    scoring.score_predictions(version, crops[:2], outputs_for(crops[:2], logit=0.0), images=images[:2],
                              strategies=["cellprob", "missed_cells"])
    rows = {row.crop_id: row for row in CropScore.objects.filter(strategy="cellprob")}
    assert rows[crops[0].pk].score == pytest.approx(1.0)
    assert rows[crops[1].pk].score == 0.0
    assert rows[crops[1].pk].details["raw"] == pytest.approx(1.0)
    # A coin toss everywhere: the background reads as a possible missed cell, except on the blank crop.
    for stored in predictions:
        stored.refresh_from_db()
    assert len(predictions[0].possible_missed_cells) >= 1 and predictions[1].possible_missed_cells == []
    descriptor = CropScore.objects.get(crop=crops[1], strategy=scoring.DESCRIPTOR)
    assert descriptor.score == 0.0 and len(diversity.expand_style(descriptor.details["style"])) == 64


def test_it_stores_per_cell_uncertainty_on_the_prediction(crops, version):
    crop = next(c for c in crops if true_mask(c).max() > 0)
    make_prediction(crop, version)
    out = prediction(true_mask(crop))
    scoring.score_predictions(version, [crop], [out], strategies=["cellprob"])
    cells = Prediction.objects.get(crop=crop, model_version=version).cell_uncertainty
    assert set(cells) == {str(i) for i in np.unique(true_mask(crop)) if i > 0}
    assert all(0 <= v <= 1 for v in cells.values())


def test_it_stores_where_the_model_may_have_missed_a_cell(crops, version):
    crop = next(c for c in crops if true_mask(c).max() > 0)
    truth = true_mask(crop)
    stored = make_prediction(crop, version)
    missed = int(np.argmax(np.bincount(truth.ravel())[1:])) + 1  # the largest cell
    masks = np.where(truth == missed, 0, truth).astype(np.uint16)  # the model left one cell out ...
    sure = prediction(masks)
    cellprob = sure.cellprob.copy()
    core = ndimage.binary_erosion(truth == missed, iterations=3)  # ... leaning towards its core (probability 0.27)
    cellprob[core] = -1.0
    out = CropPrediction(masks, cellprob, sure.flows, sure.style)
    scoring.score_predictions(version, [crop], [out], strategies=["missed_cells"])
    stored.refresh_from_db()
    (x, y, radius), = stored.possible_missed_cells
    assert truth[int(y), int(x)] == missed and radius > 2
    # Stored once per (crop, version): scoring again leaves it as it is.
    assert scoring.score_predictions(version, [crop], [prediction(truth)], strategies=["missed_cells"]) == 0
    stored.refresh_from_db()
    assert stored.possible_missed_cells == [[x, y, radius]]


# --- Real crops, a real (small) model ------------------------------------------------------------
# The run's nuclei model (tests/nuclei_model.py): a Cellpose network trained from scratch on six
# 192-px U2OS crops. It gets the sparse nuclei of a held-out crop right (AP@0.5 ~0.9) and a crowded
# crop with its contrast dropped and noise added wrong (~0.3); on blank background it is unsure,
# which the blank-crop guard must cancel.


@pytest.mark.slow
def test_real_crops_rank_wrong_above_right_above_blank(project, nuclei_model):
    from active_learning.evaluation import evaluate_masks

    model = nuclei_model.backend
    right, right_truth = u2os_window(HELD_OUT_IMAGES[1])  # sparse nuclei: the model gets them
    crowded, wrong_truth = u2os_window(TRAIN_IMAGES[1])
    wrong = degraded(crowded, contrast=0.25, sigma=4.0)
    images = [right, wrong, blank_like(crowded)]
    outputs = model.predict(images)
    ap = [evaluate_masks([t], [o.masks])["ap50"] for t, o in zip((right_truth, wrong_truth), outputs, strict=False)]
    assert ap[0] > ap[1] + 0.3, ap  # the premise: right on one, wrong on the other

    crops = make_crops(project, 3, crop_size=64)
    version = make_model_version(project, 1)
    version.promoted_at = version.created_at
    version.save()
    scoring.score_predictions(version, crops, outputs, images=images, backend=model,
                              strategies=["cellprob", "flow_error", "tta", "missed_cells"])
    for strategy in ("cellprob", "flow_error", "tta", "missed_cells"):
        rows = {row.crop_id: row for row in CropScore.objects.filter(strategy=strategy)}
        right_score, wrong_score, blank_score = (rows[c.pk].score for c in crops)
        assert np.isfinite([right_score, wrong_score, blank_score]).all(), strategy
        # The model misses no cell of the crop it gets right: missed_cells may score it 0 too.
        assert wrong_score > right_score >= blank_score == 0.0, (strategy, right_score, wrong_score, blank_score)
        assert strategy == "missed_cells" or right_score > 0.0, strategy
        assert rows[crops[2].pk].details["content"] == 0.0

    for strategy in ("cellprob", "combined", "combined_tta"):
        project.strategy, project.random_fraction = strategy, 0.0
        ranking.rank_queue(project)
        order = list(type(crops[0]).objects.order_by("-queue_score").values_list("id", flat=True))
        assert order == [crops[1].pk, crops[0].pk, crops[2].pk], strategy


def test_new_projects_get_the_default_strategy():
    assert Project._meta.get_field("strategy").default == DEFAULT_STRATEGY
    assert get_strategy(DEFAULT_STRATEGY).calibrates  # it fits its weights on the validation crops
