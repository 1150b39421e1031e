"""Agreement between two masks of one crop (F1 and AP at IoU 0.5 and 0.75, mean matched IoU), on
real cell masks with answers known independently; the project's and each labeller's agreement from
blind pairs and reviewers' corrections; how much a submission changed the prediction, and the
review queue's orders that use it."""

from __future__ import annotations

import numpy as np
import pytest
from django.template.defaultfilters import floatformat
from scipy import ndimage

from active_learning.agreement import agreement, labeller_agreement, pair_counts, pooled, project_agreement
from annotations.masks import count_cells, encode_png, encode_rle
from annotations.models import Annotation, BlindLabel, ReviewState, Role
from tests.factories import (
    add_member,
    client_for,
    make_annotation,
    make_crops,
    make_model_version,
    make_prediction,
    make_user,
    true_mask,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def crops(project):
    return make_crops(project, 4, crop_size=128)


def eroded_by_one_pixel(mask: np.ndarray) -> np.ndarray:
    """Every cell shrunk by 1 px (4-connected), each on its own so that touching cells stay apart."""
    out = np.zeros_like(mask)
    for cell in np.unique(mask[mask > 0]):
        out[ndimage.binary_erosion(mask == cell)] = cell
    return out


def test_a_mask_agrees_fully_with_itself(crops):
    mask = true_mask(crops[0])
    assert count_cells(mask) > 5
    assert agreement(mask, mask) == {"pairs": 1, "cells": 2 * count_cells(mask), "f1_50": 1.0, "f1_75": 1.0,
                                     "ap50": 1.0, "ap75": 1.0, "mean_iou": 1.0}


def test_a_mask_against_itself_eroded_by_one_pixel_gives_the_known_answer(crops):
    truth = np.concatenate([true_mask(crop) for crop in crops], axis=1)
    eroded = eroded_by_one_pixel(truth)
    # Same ids, so the known answer is cell by cell: IoU = eroded area / area (the eroded cell lies inside).
    cells = np.unique(truth[truth > 0])
    iou = np.array([(eroded == c).sum() / (truth == c).sum() for c in cells])
    n_a, n_b = len(cells), int((iou > 0).sum())
    tp50, tp75 = int((iou >= 0.5).sum()), int((iou >= 0.75).sum())
    assert 0 < tp75 < tp50  # small cells fall below 0.75: the thresholds are tested apart
    got = agreement(truth, eroded)
    assert got["f1_50"] == round(2 * tp50 / (n_a + n_b), 4)
    assert got["f1_75"] == round(2 * tp75 / (n_a + n_b), 4)
    assert got["ap50"] == round(tp50 / (n_a + n_b - tp50), 4)
    assert got["ap75"] == round(tp75 / (n_a + n_b - tp75), 4)
    assert got["mean_iou"] == round(iou[iou >= 0.5].mean(), 4)
    assert agreement(eroded, truth) == got  # symmetric


def test_an_empty_pair_has_no_figures():
    empty = np.zeros((8, 8), np.uint16)
    assert agreement(empty, empty)["f1_50"] is None


def _blind(crop, annotation, author, mask):
    return BlindLabel.objects.create(crop=crop, paired_with=annotation, author=author, mask_png=encode_png(mask),
                                     n_cells=count_cells(mask))


def test_the_project_and_each_labeller_agree_as_their_pairs_say(project, labeller, crops):
    ann, bob, rita = labeller, make_user("bob"), make_user("rita")
    add_member(project, bob)
    add_member(project, rita, Role.REVIEWER)
    # Blind pairs: ann vs bob on two crops (one identical, one eroded).
    first = make_annotation(crops[0], ann)
    _blind(crops[0], first, bob, true_mask(crops[0]))
    second = make_annotation(crops[1], bob)
    _blind(crops[1], second, ann, eroded_by_one_pixel(true_mask(crops[1])))
    # A correction: rita's version replaces ann's (the eroded one) on crop 2.
    make_annotation(crops[2], ann)
    # The factory writes the true mask: make ann's version the eroded one.
    eroded = eroded_by_one_pixel(true_mask(crops[2]))
    Annotation.objects.filter(crop=crops[2], version=1).update(mask_png=encode_png(eroded))
    make_annotation(crops[2], rita, review_state=ReviewState.CORRECTED, reviewed_by=rita)

    whole = project_agreement(project)
    # Pooled: the counts of the two pairs summed, then the ratios.
    expected_labellers = pooled([pair_counts(true_mask(crops[0]), true_mask(crops[0])),
                                 pair_counts(true_mask(crops[1]), eroded_by_one_pixel(true_mask(crops[1])))])
    assert expected_labellers["f1_50"] < 1.0
    assert {k: whole["labellers"][k] for k in ("f1_50", "f1_75", "ap50", "ap75")} == {
        k: expected_labellers[k] for k in ("f1_50", "f1_75", "ap50", "ap75")}
    assert whole["labellers"]["pairs"] == 2
    assert whole["reviewers"] == {**agreement(eroded_by_one_pixel(true_mask(crops[2])), true_mask(crops[2])),
                                  "pairs": 1}

    per = labeller_agreement(project)
    assert per[ann.username]["labellers"]["pairs"] == 2 and per["bob"]["labellers"]["pairs"] == 2
    assert per[ann.username]["reviewers"]["pairs"] == 1 and per["bob"]["reviewers"]["pairs"] == 0
    assert per[ann.username]["reviewers"]["f1_75"] < 1.0


# --- How much a submission changed the prediction, and the review orders --------------------------


def test_a_submission_records_how_many_cells_differ_from_its_prediction(
    project, labeller, labeller_client, crops, django_capture_on_commit_callbacks
):
    version = make_model_version(project)
    truth = true_mask(crops[0])
    predicted = truth.copy()
    ids = np.unique(truth[truth > 0])
    predicted[truth == ids[0]] = 0  # one cell missed
    predicted[truth == ids[1]] = 0
    predicted[ndimage.binary_dilation(truth == ids[1], iterations=6)] = ids[1]  # one cell badly outlined
    make_prediction(crops[0], version, predicted)
    lease = labeller_client.post(f"/api/crops/{crops[0].id}/lease/")
    assert lease.status_code == 200
    body = {"mask": encode_rle(truth), "started_from": version.id}
    with django_capture_on_commit_callbacks(execute=True):
        answer = labeller_client.post(f"/api/crops/{crops[0].id}/annotations/", body, format="json")
    assert answer.status_code == 201
    # Missed: 1 true cell unmatched; badly outlined: 1 true + 1 predicted cell unmatched at 0.75.
    assert Annotation.objects.get(pk=answer.json()["id"]).prediction_difference == 3


def test_the_review_queue_puts_the_most_changed_first_and_samples_each_labellers_share(project, labeller, crops):
    reviewer = make_user("rita")
    add_member(project, reviewer, Role.REVIEWER)
    client = client_for(reviewer)
    differences = (2, None, 9, 0)
    changed = [make_annotation(crop, labeller, prediction_difference=difference)
               for crop, difference in zip(crops, differences, strict=True)]
    url = f"/api/projects/{project.id}/reviews/"
    rows = client.get(url, {"order": "difference"}).json()["results"]
    assert [row["id"] for row in rows] == [changed[2].id, changed[0].id, changed[3].id, changed[1].id]
    assert rows[0]["prediction_difference"] == 9

    def sample():
        return [row["id"] for row in client.get(url, {"order": "sample"}).json()["results"]]

    for share, expected in ((0.0, []), (1.0, [a.id for a in reversed(changed)])):
        project.review_sample_share = share
        project.save(update_fields=["review_sample_share"])
        assert sample() == expected
    project.review_sample_share = 0.5
    project.save(update_fields=["review_sample_share"])
    assert sample() == sample()  # a fixed sample, not a fresh draw


# --- What admins read -------------------------------------------------------------------------------


def test_the_labellers_page_and_the_overview_show_agreement_and_returns(project, admin, labeller, crops):
    bob = make_user("bob")
    add_member(project, bob)
    first = make_annotation(crops[0], labeller, source="editor", edit_counts={"lasso": 2})
    _blind(crops[0], first, bob, eroded_by_one_pixel(true_mask(crops[0])))
    make_annotation(crops[1], labeller, source="editor", review_state=ReviewState.RETURNED, review_comment="no")
    expected = agreement(true_mask(crops[0]), eroded_by_one_pixel(true_mask(crops[0])))
    page = client_for(admin)
    page.force_login(admin)

    body = page.get(f"/projects/{project.pk}/labellers/").content.decode()
    lee = body[body.index('<tr data-username="lee">'):]
    lee = lee[: lee.index("</tr>")]
    assert f'class="num agree-f1">{floatformat(expected["f1_50"], 2)}<' in lee
    assert f'class="num agree-iou">{floatformat(expected["mean_iou"], 2)}<' in lee
    assert 'class="num agree-pairs">1<' in lee and 'class="num returned">50 %<' in lee

    body = page.get(f"/projects/{project.pk}/overview/").content.decode()
    assert f'class="agree-ap50">{floatformat(expected["ap50"], 3)}<' in body
    assert "over 1 double-labelled crop " in body
