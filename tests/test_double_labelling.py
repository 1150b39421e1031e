"""Double labelling: a share of labelled training crops is served blind to a second labeller; the
second label is stored beside the first, never over it; review waits for it."""

from __future__ import annotations

import pytest

from annotations.double_labelling import sampled
from annotations.masks import encode_rle
from annotations.models import Annotation, BlindLabel, Crop, Role, Split
from tests.factories import add_member, client_for, make_crops, make_image, make_user, true_mask

pytestmark = pytest.mark.postgres


@pytest.fixture
def every_crop_doubled(project):
    project.double_label_share = 1.0
    project.save(update_fields=["double_label_share"])
    return project


@pytest.fixture
def second(project):
    user = make_user("bruno")
    add_member(project, user)
    return user


@pytest.fixture
def second_client(second):
    return client_for(second)


def label_next(client, project, mask=None):
    """Take the next crop and submit `mask` (default: its true mask); returns (crop JSON, answer)."""
    served = client.post(f"/api/projects/{project.id}/next/")
    assert served.status_code == 200, served.content
    crop = served.json()
    mask = true_mask(Crop.objects.get(pk=crop["id"])) if mask is None else mask
    answer = client.post(f"/api/crops/{crop['id']}/annotations/", {"mask": encode_rle(mask)}, format="json")
    assert answer.status_code == 201, answer.content
    return crop, answer.json()


def test_the_sample_is_the_share_asked_for_and_fixed_by_the_crop_id():
    ids = range(1, 20_001)
    for share in (0.05, 0.2, 0.5):
        assert abs(sum(sampled(i, share) for i in ids) / len(ids) - share) < 0.005
    assert not any(sampled(i, 0.0) for i in ids)
    assert all(sampled(i, 1.0) for i in ids)
    # A larger share keeps every crop a smaller share chose.
    assert all(sampled(i, 0.2) for i in ids if sampled(i, 0.05))


def test_a_second_labeller_gets_the_crop_blind_and_their_label_goes_beside_the_first(
    every_crop_doubled, labeller_client, labeller, second_client, second
):
    project = every_crop_doubled
    crops = make_crops(project, 2)
    first_crop, first = label_next(labeller_client, project)
    assert Crop.objects.get(pk=first_crop["id"]).blind_wanted

    served = second_client.post(f"/api/projects/{project.id}/next/").json()
    assert (served["id"], served["blind"], served["current_annotation"]) == (first_crop["id"], True, None)
    assert second_client.get(f"/api/crops/{served['id']}/").json()["current_annotation"] is None
    assert second_client.get(f"/api/crops/{served['id']}/annotations/").json() == []
    # The first labeller still sees their own label.
    assert labeller_client.get(f"/api/crops/{served['id']}/").json()["current_annotation"]["id"] == first["id"]

    eroded = true_mask(crops[0])
    eroded[::7] = 0  # a different hand
    answer = second_client.post(f"/api/crops/{served['id']}/annotations/", {"mask": encode_rle(eroded)},
                                format="json")
    assert answer.status_code == 201
    assert (answer.json()["blind"], answer.json()["paired_with"], answer.json()["author"]) == (True, first["id"],
                                                                                               second.id)
    crop = Crop.objects.get(pk=served["id"])
    assert (crop.blind_wanted, crop.leased_by_id, crop.status) == (False, None, "labelled")
    # The crop's annotations are untouched: one version, the first labeller's.
    assert list(Annotation.objects.filter(crop=crop).values_list("author_id", "is_current")) == [(labeller.id, True)]
    blind = BlindLabel.objects.get(crop=crop)
    assert (blind.author_id, blind.paired_with_id) == (second.id, first["id"])
    assert blind.n_cells == len(set(eroded.ravel()) - {0})
    # Once it has its second label, the annotation is visible again.
    assert second_client.get(f"/api/crops/{crop.id}/").json()["blind"] is False


def test_the_author_is_never_served_their_own_crop_blind(every_crop_doubled, labeller_client):
    project = every_crop_doubled
    make_crops(project, 3)
    served = [label_next(labeller_client, project)[0]["id"] for _ in range(3)]
    assert len(set(served)) == 3
    assert labeller_client.post(f"/api/projects/{project.id}/next/").status_code == 204


def test_a_blind_lease_is_served_again_on_next_and_counts_toward_the_lease_cap(
    every_crop_doubled, labeller_client, second_client
):
    project = every_crop_doubled
    make_crops(project, 2)
    first_crop, _ = label_next(labeller_client, project)
    assert second_client.post(f"/api/projects/{project.id}/next/").json()["id"] == first_crop["id"]
    again = second_client.post(f"/api/projects/{project.id}/next/").json()
    assert (again["id"], again["blind"]) == (first_crop["id"], True)


def test_nothing_is_doubled_with_a_zero_share_or_outside_the_training_split(project, labeller_client, admin_client):
    project.double_label_share = 0.0
    project.save(update_fields=["double_label_share"])
    make_image(project, source=0, crop_size=32, n_crops=1)
    make_image(project, source=1, crop_size=32, n_crops=1, split=Split.VALIDATION)
    label_next(labeller_client, project)
    project.double_label_share = 1.0
    project.save(update_fields=["double_label_share"])
    served = admin_client.post(f"/api/projects/{project.id}/next/", {"split": "validation"}, format="json").json()
    mask = true_mask(Crop.objects.get(pk=served["id"]))
    admin_client.post(f"/api/crops/{served['id']}/annotations/", {"mask": encode_rle(mask)}, format="json")
    assert not Crop.objects.filter(project=project, blind_wanted=True).exists()


def test_review_waits_for_the_second_label(every_crop_doubled, labeller_client, second_client, project):
    reviewer = make_user("rita")
    add_member(project, reviewer, Role.REVIEWER)
    make_crops(project, 1)
    _, first = label_next(labeller_client, project)
    reviews = client_for(reviewer)
    assert reviews.get(f"/api/projects/{project.id}/reviews/").json()["count"] == 0
    refused = reviews.post(f"/api/annotations/{first['id']}/review/", {"action": "accept"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "awaiting_second_label")
    label_next(second_client, project)
    assert [row["id"] for row in reviews.get(f"/api/projects/{project.id}/reviews/").json()["results"]] == [
        first["id"]]


def test_the_shares_are_settings_with_bounds(admin_client, project):
    url = f"/api/projects/{project.id}/"
    body = admin_client.get(url).json()
    assert (body["double_label_share"], body["review_sample_share"]) == (0.05, 0.2)
    changed = admin_client.patch(url, {"double_label_share": 0.1, "review_sample_share": 1}, format="json")
    assert (changed.status_code, changed.json()["double_label_share"]) == (200, 0.1)
    for field, value in (("double_label_share", 0.6), ("double_label_share", -0.1), ("review_sample_share", 1.5)):
        refused = admin_client.patch(url, {field: value}, format="json")
        assert refused.status_code == 400 and field in str(refused.json())
