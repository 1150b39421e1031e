"""The labeller's queue: POST /api/projects/{id}/next/, /api/crops/{id}/lease|skip|release/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from active_learning.queue import curation
from annotations.masks import encode_rle
from annotations.models import Crop, CropStatus, Role, Split
from tests.factories import (
    add_member,
    client_for,
    make_crops,
    make_model_version,
    make_prediction,
    make_user,
    true_mask,
)

# The queue and versioning rules must hold on PostgreSQL too (`make test` runs these there again).
pytestmark = pytest.mark.postgres


def next_crop(client, project, **body):
    return client.post(f"/api/projects/{project.id}/next/", body, format="json")


def submit(client, crop, mask=None, **body):
    payload = {"mask": encode_rle(true_mask(crop) if mask is None else mask), **body}
    return client.post(f"/api/crops/{crop.id}/annotations/", payload, format="json")


def served_ids(client, project, n):
    """Ask for `n` crops in turn, labelling each so the next request moves on."""
    ids = []
    for _ in range(n):
        crop = Crop.objects.get(pk=next_crop(client, project).json()["id"])
        ids.append(crop.id)
        assert submit(client, crop).status_code == 201
    return ids


def test_it_leases_the_oldest_crop_when_nothing_is_ranked(labeller_client, project):
    crops = make_crops(project, 3)
    response = next_crop(labeller_client, project)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == crops[0].id
    assert body["status"] == "leased"
    assert body["display_url"] == f"/api/crops/{crops[0].id}/display/"
    assert body["prediction"] is None and body["current_annotation"] is None
    expires = timezone.datetime.fromisoformat(body["lease_expires_at"])
    assert expires > timezone.now() + timedelta(minutes=29)


def test_it_orders_by_pin_then_priority_then_score_then_age(labeller_client, project):
    a, b, c, d, e = make_crops(project, 5)
    Crop.objects.filter(pk=e.pk).update(pinned=True, priority=-5)
    Crop.objects.filter(pk=d.pk).update(priority=3)
    Crop.objects.filter(pk=b.pk).update(queue_score=0.9)
    Crop.objects.filter(pk=c.pk).update(queue_score=0.5)
    assert served_ids(labeller_client, project, 5) == [e.id, d.id, b.id, c.id, a.id]


def test_it_serves_crops_assigned_to_me_first_and_never_to_others(labeller, labeller_client, project):
    other = make_user("olga")
    add_member(project, other)
    a, b, c = make_crops(project, 3)
    Crop.objects.filter(pk=c.pk).update(assigned_to=labeller)
    Crop.objects.filter(pk=a.pk).update(assigned_to=other, pinned=True)
    assert served_ids(labeller_client, project, 2) == [c.id, b.id]
    assert next_crop(labeller_client, project).status_code == 204
    assert next_crop(client_for(other), project).json()["id"] == a.id


def test_it_returns_the_crop_i_already_hold_with_a_renewed_lease(labeller_client, project):
    make_crops(project, 3)
    first = next_crop(labeller_client, project).json()
    again = next_crop(labeller_client, project).json()
    assert again["id"] == first["id"]
    assert again["lease_expires_at"] >= first["lease_expires_at"]
    assert Crop.objects.filter(status=CropStatus.LEASED).count() == 1


def test_it_returns_expired_leases_to_the_queue(labeller_client, project, admin):
    crop, _ = make_crops(project, 2)
    Crop.objects.filter(pk=crop.pk).update(
        status=CropStatus.LEASED, leased_by=admin, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert next_crop(labeller_client, project).json()["id"] == crop.id


def test_it_answers_204_when_the_queue_is_empty(labeller_client, project):
    assert next_crop(labeller_client, project).status_code == 204


def test_it_serves_validation_crops_only_when_an_admin_asks(admin_client, labeller_client, project):
    crop = make_crops(project, 1, split=Split.VALIDATION)[0]
    assert next_crop(labeller_client, project).status_code == 204
    response = next_crop(labeller_client, project, split="validation")
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert next_crop(admin_client, project, split="validation").json()["id"] == crop.id


def test_it_serves_assigned_validation_crops_to_their_labeller(labeller, labeller_client, project):
    crop = make_crops(project, 1, split=Split.VALIDATION)[0]
    Crop.objects.filter(pk=crop.pk).update(assigned_to=labeller)
    assert next_crop(labeller_client, project).json()["id"] == crop.id


def test_it_serves_the_active_models_prediction(labeller_client, project):
    crop = make_crops(project, 1)[0]
    old = make_model_version(project, 1, status="retired")
    active = make_model_version(project, 2)
    make_prediction(crop, old)
    make_prediction(crop, active)
    make_prediction(crop, make_model_version(project, 3, status="candidate"))
    prediction = next_crop(labeller_client, project).json()["prediction"]
    assert prediction["model_version"] == {"id": active.id, "number": 2, "status": "active"}
    assert prediction["mask"] == encode_rle(true_mask(crop))


def test_it_skips_a_crop_out_of_the_queue(labeller_client, project):
    a, b = make_crops(project, 2)
    assert next_crop(labeller_client, project).json()["id"] == a.id
    assert labeller_client.post(f"/api/crops/{a.id}/skip/").status_code == 204
    a.refresh_from_db()
    assert (a.status, a.leased_by, a.lease_expires_at) == (CropStatus.SKIPPED, None, None)
    assert next_crop(labeller_client, project).json()["id"] == b.id


def test_it_releases_a_crop_back_to_the_queue(labeller_client, project):
    a, _ = make_crops(project, 2)
    next_crop(labeller_client, project)
    assert labeller_client.post(f"/api/crops/{a.id}/release/").status_code == 204
    a.refresh_from_db()
    assert (a.status, a.leased_by) == (CropStatus.UNLABELLED, None)
    assert next_crop(labeller_client, project).json()["id"] == a.id


def test_it_refuses_to_release_someone_elses_lease_unless_admin(labeller_client, admin_client, project):
    other = make_user("olga")
    add_member(project, other)
    crop = make_crops(project, 1)[0]
    next_crop(client_for(other), project)
    response = labeller_client.post(f"/api/crops/{crop.id}/release/")
    assert response.status_code == 409
    assert response.json()["code"] == "leased_by_other"
    assert admin_client.post(f"/api/crops/{crop.id}/release/").status_code == 204


def test_it_leases_a_labelled_crop_for_correction_without_changing_its_status(labeller_client, project):
    crop = make_crops(project, 1)[0]
    next_crop(labeller_client, project)
    submit(labeller_client, crop)
    response = labeller_client.post(f"/api/crops/{crop.id}/lease/")
    assert response.status_code == 200
    assert response.json()["status"] == "labelled"
    assert response.json()["current_annotation"]["version"] == 1
    assert submit(labeller_client, crop).json()["version"] == 2
    crop.refresh_from_db()
    assert (crop.status, crop.leased_by) == (CropStatus.LABELLED, None)


def test_it_refuses_to_lease_a_crop_someone_holds(labeller_client, project):
    other = make_user("olga")
    add_member(project, other, Role.ADMIN)
    crop = make_crops(project, 1)[0]
    next_crop(client_for(other), project)
    response = labeller_client.post(f"/api/crops/{crop.id}/lease/")
    assert response.status_code == 409
    assert "leased by another labeller until" in response.json()["detail"]


@pytest.mark.parametrize("split", [Split.VALIDATION, "assigned"])
def test_it_keeps_labellers_off_crops_reserved_for_others(labeller_client, project, split):
    crop = make_crops(project, 1, split=Split.VALIDATION if split == Split.VALIDATION else Split.TRAIN)[0]
    if split == "assigned":
        other = make_user("olga")
        add_member(project, other)
        Crop.objects.filter(pk=crop.pk).update(assigned_to=other)
    assert labeller_client.post(f"/api/crops/{crop.id}/lease/").status_code == 403


def test_it_boosts_buries_and_requeues_crops_for_admin_views(labeller_client, project):

    a, b, c = make_crops(project, 3)
    curation.shift_priority(project=project, crop_ids=[a.id], by=-1)
    curation.shift_priority(project=project, crop_ids=[c.id], by=2)
    curation.tag_crops(project=project, crop_ids=[a.id, b.id], add=["edge"])
    curation.tag_crops(project=project, crop_ids=[a.id], remove=["edge"])
    assert list(Crop.objects.filter(tags__name="edge").values_list("id", flat=True)) == [b.id]
    assert next_crop(labeller_client, project).json()["id"] == c.id
    labeller_client.post(f"/api/crops/{c.id}/skip/")
    assert curation.requeue_crops(project=project, crop_ids=[c.id]) == 1
    assert next_crop(labeller_client, project).json()["id"] == c.id
