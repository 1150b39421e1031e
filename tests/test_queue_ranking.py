"""Ranking the queue from stored scores, and the order the next-crop query then serves.

Scores are written straight into CropScore (with the crop descriptors the ranking reads for
diversity), so these tests need no model."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from active_learning.diversity import compress_style
from active_learning.models import CropScore, ModelVersionStatus
from active_learning.queue import curation, ranking, serving
from active_learning.scoring import DESCRIPTOR, UNAVAILABLE
from active_learning.strategies import DEFAULT_STRATEGY
from active_learning.strategies.random import uniform_hash
from annotations import leases
from annotations.models import Crop, CropStatus, Split
from labelserver.errors import DomainError
from tests.factories import add_member, make_crops, make_image, make_model_version, make_user


def style(direction: int, jitter: float = 0.0, seed: int = 0) -> np.ndarray:
    vector = np.eye(256)[direction] + np.random.default_rng(seed).normal(0, jitter, 256)
    return vector / np.linalg.norm(vector)


def store_scores(version, scores: dict[int, float], strategy: str = "cellprob", styles: dict | None = None) -> None:
    """Scores of crops (by id) under a version, with each crop's descriptor (one style for all
    unless `styles` says otherwise, so diversity leaves the order alone)."""
    CropScore.objects.bulk_create(
        [CropScore(crop_id=crop_id, model_version=version, strategy=strategy, score=s) for crop_id, s in scores.items()]
        + [
            CropScore(crop_id=crop_id, model_version=version, strategy=DESCRIPTOR, score=1.0,
                      details={"style": compress_style((styles or {}).get(crop_id, style(0)))})
            for crop_id in scores
        ],
        ignore_conflicts=True,
    )


def queue_order(project, split: str = Split.TRAIN) -> list[int]:
    crops = Crop.objects.filter(project=project, split=split, status=CropStatus.UNLABELLED)
    return list(crops.order_by("-pinned", "-priority", "-queue_score", "id").values_list("id", flat=True))


def reasons(project) -> dict[int, str]:
    return dict(Crop.objects.filter(project=project).values_list("id", "queue_reason"))


@pytest.fixture
def crops(project):
    project.strategy, project.random_fraction = "cellprob", 0.0
    project.save()
    return make_crops(project, 40, crop_size=64)


@pytest.fixture
def version(project):
    version = make_model_version(project, 1)
    version.promoted_at = timezone.now()
    version.save()
    return version


# --- The ranking ---------------------------------------------------------------------------------


def test_it_serves_a_random_first_batch_before_any_model_has_scored(project, crops):
    summary = ranking.rank_queue(project)
    assert summary.model_version is None and summary.by_reason == {ranking.REASON_COLD_START: 40}
    scores = [c.queue_score for c in Crop.objects.filter(project=project)]
    assert min(scores) > 0 and len(set(scores)) == 40
    assert queue_order(project) != sorted(c.pk for c in crops)


@pytest.mark.postgres
def test_it_ranks_by_the_strategys_score_larger_first(project, crops, version):
    rng = np.random.default_rng(0)
    scores = {c.pk: float(v) for c, v in zip(crops, rng.random(len(crops)), strict=True)}
    store_scores(version, scores)
    summary = ranking.rank_queue(project)
    assert summary.model_version == 1 and summary.by_reason == {"strategy:cellprob": 40}
    assert queue_order(project) == sorted(scores, key=lambda c: -scores[c])


def test_the_top_of_the_queue_is_not_a_row_of_near_copies(project, crops, version):
    # Ten crops look alike (one style) and score highest; the rest differ from them and each other.
    alike = {c.pk: style(0, 0.001, seed=i) for i, c in enumerate(crops[:10])}
    styles = {**alike, **{c.pk: style(i + 1) for i, c in enumerate(crops[10:])}}
    scores = {c.pk: 1.0 - 0.001 * i for i, c in enumerate(crops[:10])}
    scores.update({c.pk: 0.7 - 0.001 * i for i, c in enumerate(crops[10:])})
    store_scores(version, scores, styles=styles)
    ranking.rank_queue(project)
    top = queue_order(project)[:5]
    assert top[0] == crops[0].pk
    assert sum(crop_id in alike for crop_id in top) <= 2


def test_the_top_of_the_queue_takes_a_crop_of_each_image_before_a_second_of_any(project, version):
    project.strategy, project.random_fraction = "cellprob", 0.0
    project.save()
    first = list(make_image(project, source=0, crop_size=64, n_crops=4).crops.order_by("id"))
    second = list(make_image(project, source=1, crop_size=64, n_crops=2).crops.order_by("id"))
    # Every crop looks different; all of the first image's crops score above the second's.
    # (Gaps wide enough for the stored styles' projection noise.)
    scores = {c.pk: 1.0 - 0.2 * i for i, c in enumerate(first)} | {c.pk: 0.6 - 0.5 * i for i, c in enumerate(second)}
    store_scores(version, scores, styles={crop_id: style(i) for i, crop_id in enumerate(scores)})
    ranking.rank_queue(project)
    assert queue_order(project)[:3] == [first[0].pk, second[0].pk, first[1].pk]


@pytest.mark.postgres
def test_it_keeps_a_random_control_group_spread_down_the_queue(project, crops, version):
    project.random_fraction = 0.1
    store_scores(version, {c.pk: 1.0 - i / 100 for i, c in enumerate(crops)})
    summary = ranking.rank_queue(project)
    assert summary.by_reason == {ranking.REASON_CONTROL: 4, "strategy:cellprob": 36}
    order, why = queue_order(project), reasons(project)
    controls = [i for i, crop_id in enumerate(order) if why[crop_id] == ranking.REASON_CONTROL]
    assert len(controls) == 4 and controls[0] < 10  # one in every ten served, the first among the first ten
    assert np.diff(controls).tolist() == [10, 10, 10]


def test_small_batches_between_rankings_still_get_control_crops_at_the_set_rate():
    """Where the first control slot falls moves with each ranking's phase; over many rankings
    the first k slots hold fraction * k control crops on average, even for k < 1/fraction."""
    phases = (np.arange(1000) + 0.5) / 1000
    first_eight = [ranking._is_control_slot(8, 0.1, phase).sum() for phase in phases]
    assert np.mean(first_eight) == pytest.approx(0.8, abs=0.01)
    assert ranking._is_control_slot(100, 0.1, 0.37).sum() == 10


def test_control_crops_are_drawn_from_the_whole_pool(project, version):
    project.strategy, project.random_fraction = "cellprob", 0.2
    crops = make_crops(project, 200, crop_size=32)
    store_scores(version, {c.pk: 1.0 - i / 1000 for i, c in enumerate(crops)})
    ranking.rank_queue(project)
    order, why = queue_order(project), reasons(project)
    ranked_by_score = {c.pk: i for i, c in enumerate(crops)}
    controls = [ranked_by_score[crop_id] for crop_id in order if why[crop_id] == ranking.REASON_CONTROL]
    assert len(controls) == 40
    assert min(controls) < 60 and max(controls) > 140  # from the best- and the worst-scored crops alike


def test_the_random_strategy_is_all_random_and_needs_no_model(project, crops):
    project.strategy, project.random_fraction = "random", 0.5
    summary = ranking.rank_queue(project)
    assert summary.by_reason == {"strategy:random": 40}
    first = queue_order(project)
    ranking.rank_queue(project)
    assert queue_order(project) == first  # the same order until the version changes


def test_the_random_strategy_keeps_its_uniform_order_when_a_version_could_diversify_it(project, crops, version):
    """Random is the control: the diversity head would move the first crops of another style
    up, but random sampling must stay the plain hash order."""
    project.strategy = "random"
    project.save()
    ids = np.array([c.pk for c in crops])
    by_hash = ids[np.argsort(-uniform_hash(ids, ranking._seed(project, version)), kind="stable")].tolist()
    styles = {crop_id: style(0 if rank < 20 else 1) for rank, crop_id in enumerate(by_hash)}
    store_scores(version, {crop_id: 0.5 for crop_id in ids.tolist()}, styles=styles)
    ranking.rank_queue(project)
    assert queue_order(project) == by_hash


def test_crops_without_scores_follow_the_scored_ones_at_random(project, crops, version):
    store_scores(version, {c.pk: 0.5 for c in crops[:10]})
    ranking.rank_queue(project)
    order, why = queue_order(project), reasons(project)
    assert set(order[:10]) == {c.pk for c in crops[:10]}
    assert {why[crop_id] for crop_id in order[10:]} == {ranking.REASON_UNSCORED}
    assert min(Crop.objects.filter(project=project).values_list("queue_score", flat=True)) > 0


def test_unavailable_scores_count_as_missing(project, crops, version):
    store_scores(version, {c.pk: 0.5 for c in crops[:10]})
    store_scores(version, {c.pk: UNAVAILABLE for c in crops[10:]})
    ranking.rank_queue(project)
    assert {reasons(project)[c.pk] for c in crops[10:]} == {ranking.REASON_UNSCORED}


def test_combined_ranks_a_crop_doubtful_on_every_signal_first(project, crops, version):
    project.strategy = "combined"
    sure, doubtful, mixed = crops[0], crops[1], crops[2]
    entropy = {sure.pk: 0.01, doubtful.pk: 0.3, mixed.pk: 0.2}
    flow = {sure.pk: 0.01, doubtful.pk: 0.3, mixed.pk: 0.02}
    store_scores(version, entropy, "cellprob")
    store_scores(version, flow, "flow_error")
    ranking.rank_queue(project)
    assert queue_order(project)[:3] == [doubtful.pk, mixed.pk, sure.pk]


def test_combined_fitted_weighs_the_signals_by_the_errors_on_the_validation_crops(project, crops, version):
    """Entropy ranked the version's errors on the labelled validation crops, flow error ranked
    them backwards: the pool is ranked by entropy, and flow error stops counting."""
    project.strategy = "combined_fitted"
    image = make_image(project, source=5, crop_size=64, n_crops=12, split=Split.VALIDATION, copy=7)
    validation = list(image.crops.order_by("id"))
    Crop.objects.filter(pk__in=[c.pk for c in validation]).update(status=CropStatus.LABELLED)
    errors = [0, 3, 1, 0, 5, 2, 0, 4, 1, 6, 0, 2]
    version.metrics = {"ap50": 0.5, "per_crop": [{"crop": c.pk, "fp50": e // 2, "fn50": e - e // 2}
                                                 for c, e in zip(validation, errors, strict=True)]}
    version.save()
    pairs = list(zip(validation, errors, strict=True))
    store_scores(version, {c.pk: 0.1 + e / 10 + i / 1000 for i, (c, e) in enumerate(pairs)}, "cellprob")
    store_scores(version, {c.pk: 1.0 - e / 10 for c, e in zip(validation, errors, strict=True)}, "flow_error")
    doubtful, flowing, middling = crops[0], crops[1], crops[2]
    store_scores(version, {doubtful.pk: 0.3, flowing.pk: 0.01, middling.pk: 0.2}, "cellprob")
    store_scores(version, {doubtful.pk: 0.01, flowing.pk: 0.3, middling.pk: 0.2}, "flow_error")

    summary = ranking.rank_queue(project)
    assert queue_order(project)[:3] == [doubtful.pk, middling.pk, flowing.pk]
    assert summary.fitted_weights["flow_error"] == 0.0 < summary.fitted_weights["cellprob"]
    assert "weights fitted on the validation crops: cellprob 0." in str(summary)

    project.strategy = "combined"  # the fixed mix: entropy and flow error count alike
    summary = ranking.rank_queue(project)
    assert summary.fitted_weights == {} and "fitted" not in str(summary)
    assert queue_order(project)[:3] == [doubtful.pk, flowing.pk, middling.pk]  # a three-way tie, by id


def test_combined_fitted_ranks_with_the_fixed_mix_before_any_validation_crop_is_scored(project, crops, version):
    project.strategy = "combined_fitted"
    store_scores(version, {crops[0].pk: 0.3, crops[1].pk: 0.01}, "cellprob")
    store_scores(version, {crops[0].pk: 0.01, crops[1].pk: 0.3}, "flow_error")
    version.metrics = {"ap50": 0.5, "per_crop": [{"crop": crops[5].pk, "fp50": 1, "fn50": 0}]}  # scored nothing
    version.save()
    summary = ranking.rank_queue(project)
    assert summary.fitted_weights == {} and summary.ranked == 40
    assert set(queue_order(project)[:2]) == {crops[0].pk, crops[1].pk}


def test_validation_crops_are_queued_at_random_whatever_the_strategy(project, crops, version):
    image = make_image(project, source=5, crop_size=64, n_crops=10, split=Split.VALIDATION, copy=7)
    validation = list(image.crops.order_by("id"))
    store_scores(version, {c.pk: 1.0 - i / 100 for i, c in enumerate(validation)})
    ranking.rank_queue(project)
    assert {reasons(project)[c.pk] for c in validation} == {ranking.REASON_VALIDATION}
    assert queue_order(project, Split.VALIDATION) != [c.pk for c in validation]


@pytest.mark.postgres
def test_it_leaves_labelled_crops_alone_and_writes_only_what_changed(project, crops, version):
    Crop.objects.filter(pk=crops[0].pk).update(status=CropStatus.LABELLED, queue_score=0.0, queue_reason="")
    store_scores(version, {c.pk: 0.5 for c in crops})
    first = ranking.rank_queue(project)
    assert first.ranked == 39 and first.written == 39
    assert Crop.objects.get(pk=crops[0].pk).queue_score == 0.0
    assert ranking.rank_queue(project).written == 0


def test_it_ranks_with_the_last_version_that_scored_until_the_new_one_has(project, crops, version):
    store_scores(version, {c.pk: float(i) for i, c in enumerate(crops)})
    newer = make_model_version(project, 2, status=ModelVersionStatus.CANDIDATE)
    services_promote(version, newer)
    assert ranking.rank_queue(project).model_version == 1
    store_scores(newer, {c.pk: float(-i) for i, c in enumerate(crops)})
    assert ranking.rank_queue(project).model_version == 2
    assert queue_order(project)[0] == crops[0].pk


def services_promote(old, new) -> None:
    from active_learning import versions

    new.weights = "models/fake.pt"
    new.save()
    versions.promote(new)
    assert new.promoted_at > old.promoted_at


def test_it_falls_back_to_the_default_strategy_for_an_unknown_name(project, crops, version):
    project.strategy = "no-such-strategy"
    store_scores(version, {c.pk: 0.5 for c in crops}, "cellprob")
    assert ranking.rank_queue(project).strategy == DEFAULT_STRATEGY


@pytest.mark.postgres
def test_it_writes_queue_scores_in_one_statement_per_chunk(project):
    crops = make_crops(project, 30, crop_size=64)
    rows = [(c.pk, 1.0 / (i + 1), f"reason-{i}") for i, c in enumerate(crops)]
    with CaptureQueriesContext(connection) as queries:
        ranking.write_queue_scores(rows)
    updates = [q["sql"] for q in queries.captured_queries if "UPDATE" in q["sql"]]
    assert len(updates) == 1  # PostgreSQL: UPDATE ... FROM unnest(arrays); SQLite: one executemany
    stored = Crop.objects.filter(project=project).values_list("id", "queue_score", "queue_reason")
    assert sorted(stored) == sorted(rows)


# --- What the next-crop query serves from the ranking --------------------------------------------


@pytest.fixture
def ranked(project, crops, version):
    store_scores(version, {c.pk: 1.0 - i / 100 for i, c in enumerate(crops)})
    ranking.rank_queue(project)
    return crops


def next_crop(project, user) -> int | None:
    served = serving.lease_next_crop(project=project, user=user)
    return None if served is None else served.crop_id


def test_labellers_are_served_in_ranking_order(project, ranked, labeller):
    first = next_crop(project, labeller)
    assert first == ranked[0].pk
    leases.skip_crop(crop=Crop.objects.get(pk=first), user=labeller)
    assert next_crop(project, labeller) == ranked[1].pk


@pytest.mark.postgres
def test_pins_come_first_then_boosts_then_the_ranking(project, ranked, labeller, admin):
    curation.apply_action(project, "boost", [ranked[20].pk], priority=5)
    curation.apply_action(project, "pin", [ranked[30].pk])
    curation.apply_action(project, "bury", [ranked[0].pk])
    order = queue_order(project)
    assert order[:3] == [ranked[30].pk, ranked[20].pk, ranked[1].pk]
    assert order[-1] == ranked[0].pk
    assert next_crop(project, labeller) == ranked[30].pk


def test_leased_labelled_and_skipped_crops_are_left_out(project, ranked, labeller):
    other = make_user("lena")
    add_member(project, other)
    assert next_crop(project, other) == ranked[0].pk  # leased by another labeller
    Crop.objects.filter(pk=ranked[1].pk).update(status=CropStatus.LABELLED)
    curation.apply_action(project, "skip", [ranked[2].pk])
    assert next_crop(project, labeller) == ranked[3].pk


def test_an_expired_lease_returns_the_crop_to_its_place(project, ranked, labeller):
    other = make_user("lena")
    add_member(project, other)
    assert next_crop(project, other) == ranked[0].pk
    Crop.objects.filter(pk=ranked[0].pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert next_crop(project, labeller) == ranked[0].pk


def test_focus_on_an_image_serves_its_crops_first(project, ranked, labeller):
    image = make_image(project, source=3, crop_size=128, n_crops=3, copy=99)
    ranking.rank_queue(project)
    assert curation.focus_queue(project=project, image_id=image.pk) == 3
    assert next_crop(project, labeller) in set(image.crops.values_list("id", flat=True))
    curation.focus_queue(project=project, image_id=image.pk, priority=0)
    assert Crop.objects.filter(project=project, priority__gt=0).count() == 0


def test_focus_on_a_tag_boosts_only_waiting_crops_with_it(project, ranked):
    curation.apply_action(project, "tag", [c.pk for c in ranked[5:8]], tags=["mitosis"])
    Crop.objects.filter(pk=ranked[5].pk).update(status=CropStatus.LABELLED)
    assert curation.focus_queue(project=project, tag="mitosis") == 2
    assert queue_order(project)[:2] == [ranked[6].pk, ranked[7].pk]
    with pytest.raises(DomainError, match="say what to focus on"):
        curation.focus_queue(project=project)


def test_crops_assigned_to_a_labeller_go_to_them_first_and_to_no_one_else(project, ranked, labeller):
    other = make_user("lena")
    add_member(project, other)
    batch = serving.top_of_queue(project, 3)
    assert curation.apply_action(project, "assign", batch, user_id=other.pk) == 3
    assert next_crop(project, labeller) == ranked[3].pk
    assert next_crop(project, other) == batch[0]


def test_queue_settings_are_checked_then_the_queue_is_ranked_again(project, ranked):
    with pytest.raises(DomainError, match="unknown strategy"):
        curation.set_queue_settings(project, strategy="magic")
    summary = curation.set_queue_settings(project, strategy="random", random_fraction=0.25)
    project.refresh_from_db()
    assert (project.strategy, project.random_fraction) == ("random", 0.25)
    assert summary.by_reason == {"strategy:random": 40}
