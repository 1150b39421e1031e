"""Review: the review queue, accepting and returning annotations, corrections by a
reviewer through the submit path, returned crops served first to their author with the comment,
and the project's choice of what training reads."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import call_command

from active_learning.datasets import current_annotations
from annotations.api.export_serializers import OptionsError, export_options
from annotations.formats.filters import selected_annotations
from annotations.masks import encode_rle
from annotations.models import MAX_REVIEW_COMMENT, Annotation, Crop, CropStatus, ReviewState, Split, TrainingUses
from tests.factories import add_member, client_for, make_annotation, make_crops, make_image, make_user, true_mask

pytestmark = pytest.mark.postgres


@pytest.fixture
def reviewer_client(reviewer):
    return client_for(reviewer)


@pytest.fixture
def crops(project):
    return make_crops(project, 3)


def review(client, annotation, action, comment=None):
    body = {"action": action} if comment is None else {"action": action, "comment": comment}
    return client.post(f"/api/annotations/{annotation.id}/review/", body, format="json")


def submit(client, crop):
    return client.post(f"/api/crops/{crop.id}/annotations/", {"mask": encode_rle(true_mask(crop))}, format="json")


def queue(client, project, **params):
    return client.get(f"/api/projects/{project.id}/reviews/", params)


# --- The queue ----------------------------------------------------------------------------------


def test_it_lists_submitted_current_annotations_newest_first(reviewer_client, project, labeller, crops):
    older, newer = make_annotation(crops[0], labeller), make_annotation(crops[1], labeller)
    make_annotation(crops[2], labeller, review_state=ReviewState.ACCEPTED)
    body = queue(reviewer_client, project).json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [newer.id, older.id]
    assert body["results"][0]["crop"] == crops[1].id
    assert (body["results"][0]["author"], body["results"][0]["review_state"]) == (labeller.id, "submitted")


def test_it_lists_by_state_and_samples_at_random(reviewer_client, project, labeller, crops):
    accepted = make_annotation(crops[2], labeller, review_state=ReviewState.ACCEPTED)
    make_annotation(crops[0], labeller)
    rows = queue(reviewer_client, project, state="accepted", order="random").json()["results"]
    assert [row["id"] for row in rows] == [accepted.id]
    assert queue(reviewer_client, project, order="random", limit=1).json()["count"] == 1


def test_it_leaves_out_versions_that_are_no_longer_current(reviewer_client, project, labeller, crops):
    make_annotation(crops[0], labeller)
    current = make_annotation(crops[0], labeller)
    assert [row["id"] for row in queue(reviewer_client, project).json()["results"]] == [current.id]


@pytest.mark.parametrize("params", [{"state": "done"}, {"order": "oldest"}, {"limit": "x"}])
def test_it_refuses_bad_queue_parameters_by_name(reviewer_client, project, params):
    response = queue(reviewer_client, project, **params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


# --- Accept and return ------------------------------------------------------------------------


def test_it_accepts_a_submitted_annotation(reviewer_client, reviewer, labeller, crops):
    annotation = make_annotation(crops[0], labeller)
    response = review(reviewer_client, annotation, "accept")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["review_state"], body["reviewed_by"], body["reviewed_by_name"]) == ("accepted", reviewer.id, "rita")
    assert body["reviewed_at"] is not None
    crops[0].refresh_from_db()
    assert crops[0].status == CropStatus.LABELLED


def test_it_lets_a_project_admin_review_too(admin_client, labeller, crops):
    assert review(admin_client, make_annotation(crops[0], labeller), "accept").status_code == 200


def test_it_returns_an_annotation_to_its_author_with_the_comment(reviewer_client, reviewer, labeller, crops):
    annotation = make_annotation(crops[0], labeller)
    response = review(reviewer_client, annotation, "return", "  two cells merged at the top  ")
    assert response.status_code == 200, response.json()
    assert (response.json()["review_state"], response.json()["review_comment"]) == (
        "returned", "two cells merged at the top")
    crops[0].refresh_from_db()
    assert (crops[0].status, crops[0].assigned_to_id) == (CropStatus.UNLABELLED, labeller.id)


@pytest.mark.parametrize("comment", [None, "", "   "])
def test_it_needs_a_comment_to_return(reviewer_client, labeller, crops, comment):
    annotation = make_annotation(crops[0], labeller)
    response = review(reviewer_client, annotation, "return", comment)
    assert (response.status_code, response.json()["code"]) == (400, "comment_required")
    annotation.refresh_from_db()
    assert annotation.review_state == ReviewState.SUBMITTED


TOO_LONG = "x" * (MAX_REVIEW_COMMENT + 1)


@pytest.mark.parametrize("body", [{}, {"action": "reject"}, {"action": "return", "comment": TOO_LONG},
                                  {"action": "accept", "comment": 5 * [1]}])
def test_it_refuses_bad_review_input_by_field(reviewer_client, labeller, crops, body):
    annotation = make_annotation(crops[0], labeller)
    response = reviewer_client.post(f"/api/annotations/{annotation.id}/review/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) <= {"action", "comment"}


@pytest.mark.parametrize("state", [ReviewState.ACCEPTED, ReviewState.CORRECTED, ReviewState.RETURNED])
def test_it_refuses_to_review_an_annotation_twice(reviewer_client, labeller, crops, state):
    annotation = make_annotation(crops[0], labeller, review_state=state)
    for action, comment in (("accept", None), ("return", "again")):
        response = review(reviewer_client, annotation, action, comment)
        assert (response.status_code, response.json()["code"]) == (409, "already_reviewed")
    annotation.refresh_from_db()
    assert annotation.review_state == state


def test_it_refuses_to_review_a_version_that_is_no_longer_current(reviewer_client, labeller, crops):
    old = make_annotation(crops[0], labeller)
    make_annotation(crops[0], labeller)
    response = review(reviewer_client, old, "accept")
    assert (response.status_code, response.json()["code"]) == (409, "not_current")


def test_a_decision_ends_the_reviewers_own_lease_and_the_returned_crop_waits_for_its_author(
    reviewer_client, labeller, crops
):
    accepted, returned = make_annotation(crops[0], labeller), make_annotation(crops[1], labeller)
    for crop, annotation, action in ((crops[0], accepted, "accept"), (crops[1], returned, "return")):
        assert reviewer_client.post(f"/api/crops/{crop.id}/lease/").status_code == 200
        assert review(reviewer_client, annotation, action, "redo").status_code == 200
        crop.refresh_from_db()
        assert crop.leased_by_id is None
    assert (crops[0].status, crops[1].status, crops[1].assigned_to_id) == (
        CropStatus.LABELLED, CropStatus.UNLABELLED, labeller.id)


def test_returning_keeps_someone_elses_correction_lease(reviewer_client, admin_client, admin, labeller, crops):
    annotation = make_annotation(crops[0], labeller)
    assert admin_client.post(f"/api/crops/{crops[0].id}/lease/").status_code == 200
    assert review(reviewer_client, annotation, "return", "redo").status_code == 200
    crops[0].refresh_from_db()
    assert (crops[0].status, crops[0].leased_by_id) == (CropStatus.LEASED, admin.id)


# --- Returned crops come back to their author first -------------------------------------------


def test_the_author_gets_the_returned_crop_first_with_the_comment_then_resubmits(
    reviewer_client, labeller_client, labeller, project, crops
):
    other = make_user("olga")
    add_member(project, other)
    annotation = make_annotation(crops[2], labeller)  # the last crop in queue order
    review(reviewer_client, annotation, "return", "missed the faint cell")

    others = client_for(other).post(f"/api/projects/{project.id}/next/").json()
    assert others["id"] != crops[2].id  # not served to anyone else

    served = labeller_client.post(f"/api/projects/{project.id}/next/").json()
    assert served["id"] == crops[2].id
    current = served["current_annotation"]
    assert (current["id"], current["review_state"], current["review_comment"]) == (
        annotation.id, "returned", "missed the faint cell")

    response = submit(labeller_client, crops[2])
    assert response.status_code == 201, response.json()
    assert (response.json()["version"], response.json()["review_state"]) == (2, "submitted")
    assert [row["crop"] for row in queue(reviewer_client, project).json()["results"]] == [crops[2].id]


# --- Corrections --------------------------------------------------------------------------------


def test_a_reviewer_replacing_someone_elses_annotation_corrects_it(reviewer_client, reviewer, labeller, crops):
    make_annotation(crops[0], labeller)
    assert reviewer_client.post(f"/api/crops/{crops[0].id}/lease/").status_code == 200
    body = submit(reviewer_client, crops[0]).json()
    assert (body["version"], body["author"], body["review_state"], body["reviewed_by"]) == (
        2, reviewer.id, "corrected", reviewer.id)
    assert Annotation.objects.get(pk=body["id"]).reviewed_at is not None


def test_a_returned_crop_is_its_authors_though_an_admin_may_still_correct_it(
    reviewer_client, admin_client, labeller, crops
):
    review(reviewer_client, make_annotation(crops[0], labeller), "return", "wrong")
    assert reviewer_client.post(f"/api/crops/{crops[0].id}/lease/").status_code == 403  # assigned to the author
    assert admin_client.post(f"/api/crops/{crops[0].id}/lease/").status_code == 200
    assert submit(admin_client, crops[0]).json()["review_state"] == "corrected"


def test_a_reviewer_redoing_their_own_annotation_submits_it_for_review(reviewer_client, reviewer, crops):
    make_annotation(crops[0], reviewer)
    assert reviewer_client.post(f"/api/crops/{crops[0].id}/lease/").status_code == 200
    assert submit(reviewer_client, crops[0]).json()["review_state"] == "submitted"


def test_a_labeller_replacing_someone_elses_annotation_submits_it_for_review(labeller_client, reviewer, crops):
    make_annotation(crops[0], reviewer)
    assert labeller_client.post(f"/api/crops/{crops[0].id}/lease/").status_code == 200
    body = submit(labeller_client, crops[0]).json()
    assert (body["review_state"], body["reviewed_by"]) == ("submitted", None)


def test_a_first_annotation_is_submitted_for_review(reviewer_client, project, crops):
    served = reviewer_client.post(f"/api/projects/{project.id}/next/").json()
    crop = next(crop for crop in crops if crop.id == served["id"])
    assert submit(reviewer_client, crop).json()["review_state"] == "submitted"


# --- What training reads --------------------------------------------------------------------------


def test_training_reads_what_the_project_setting_says(admin_client, project, labeller, crops):
    states = [ReviewState.SUBMITTED, ReviewState.ACCEPTED, ReviewState.CORRECTED]
    for crop, state in zip(crops, states, strict=True):
        make_annotation(crop, labeller, review_state=state)
    assert current_annotations(project, Split.TRAIN).count() == 3

    response = admin_client.patch(f"/api/projects/{project.id}/", {"training_uses": "reviewed"}, format="json")
    assert (response.status_code, response.json()["training_uses"]) == (200, "reviewed")
    project.refresh_from_db()
    assert [a.review_state for a in current_annotations(project, Split.TRAIN)] == states[1:]


def test_training_never_reads_a_returned_annotation(project, labeller, crops):
    make_annotation(crops[0], labeller, review_state=ReviewState.RETURNED)
    for uses in TrainingUses.values:
        project.training_uses = uses
        assert not current_annotations(project, Split.TRAIN).exists()


def test_it_refuses_an_unknown_training_choice(admin_client, project):
    response = admin_client.patch(f"/api/projects/{project.id}/", {"training_uses": "some"}, format="json")
    assert response.status_code == 400
    assert "training_uses" in str(response.json())


# --- Exports filter by review state -------------------------------------------------------------


def test_an_export_takes_the_review_states_asked_for(project, labeller, crops):
    states = [ReviewState.SUBMITTED, ReviewState.ACCEPTED, ReviewState.CORRECTED]
    made = [make_annotation(crop, labeller, review_state=state) for crop, state in zip(crops, states, strict=True)]
    options = export_options({"format": "tiff", "review_state": " Accepted, corrected,accepted "})
    assert options.filters.review_states == ("accepted", "corrected")
    assert options.filters.to_dict()["review_states"] == ["accepted", "corrected"]
    assert set(selected_annotations(project, options.filters)) == set(made[1:])
    assert selected_annotations(project, export_options({"format": "tiff"}).filters).count() == 3


def test_an_export_refuses_an_unknown_review_state_by_name():
    with pytest.raises(OptionsError) as refused:
        export_options({"format": "tiff", "review_state": "accepted,approved"})
    assert refused.value.code == "bad_filter"
    assert "review_state" in refused.value.fields


def test_the_export_command_takes_review_state(project, labeller, crops, tmp_path):
    make_annotation(crops[0], labeller, review_state=ReviewState.ACCEPTED)
    make_annotation(crops[1], labeller)
    output = tmp_path / "export.zip"
    call_command("export_project", str(project.id), str(output), "--format", "tiff", "--review-state", "accepted",
                 "--whole-images", "any", "--no-images", stdout=io.StringIO())
    with zipfile.ZipFile(output) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert [(a["crop_id"], a["review_state"]) for a in manifest["annotations"]] == [(crops[0].id, "accepted")]
    assert manifest["options"]["filters"]["review_states"] == ["accepted"]


def test_a_reviewer_may_lease_any_labelled_crop_to_correct_it(reviewer_client, labeller, project, crops):
    other = make_user("olga")
    add_member(project, other)
    validation = Crop.objects.get(pk=make_image(project, source=1, crop_size=32, n_crops=1,
                                                split=Split.VALIDATION).crops.get().pk)
    for crop in (crops[0], validation):
        make_annotation(crop, labeller)
    Crop.objects.filter(pk=crops[0].pk).update(assigned_to=labeller)
    for crop in (crops[0], validation):
        assert reviewer_client.post(f"/api/crops/{crop.id}/lease/").status_code == 200
        assert reviewer_client.post(f"/api/crops/{crop.id}/release/").status_code == 204
        # A labeller may not take a crop assigned to someone else, nor a validation crop.
        assert client_for(other).post(f"/api/crops/{crop.id}/lease/").status_code == 403
    # Unlabelled crops keep the labellers' rules.
    Crop.objects.filter(pk=crops[1].pk).update(assigned_to=labeller)
    assert reviewer_client.post(f"/api/crops/{crops[1].id}/lease/").status_code == 403
