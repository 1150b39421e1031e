"""Issue 24: one labeller cannot lease every open crop by id. At most MAX_LEASES_PER_LABELLER
live leases per labeller and project; `next` still serves the one already held; admins are not
capped; a renewal is not a new lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Crop, CropStatus
from tests.factories import add_member, client_for, make_crops, make_user

# The cap must hold on PostgreSQL too (`make test` runs these there again).
pytestmark = pytest.mark.postgres


@pytest.fixture
def crops(project, settings):
    settings.LABELSERVER = {**settings.LABELSERVER, "MAX_LEASES_PER_LABELLER": 3}
    return make_crops(project, 8)


def lease(client, crop):
    return client.post(f"/api/crops/{crop.id}/lease/")


def test_a_labeller_leases_up_to_the_cap_then_gets_409(labeller_client, labeller, crops):
    for crop in crops[:3]:
        assert lease(labeller_client, crop).status_code == 200
    refused = lease(labeller_client, crops[3])
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "lease_limit"
    assert "MAX_LEASES_PER_LABELLER" in body["detail"] and str(crops[0].id) in body["detail"]
    crops[3].refresh_from_db()
    assert (crops[3].status, crops[3].leased_by_id) == (CropStatus.UNLABELLED, None)  # nothing half-done
    assert Crop.objects.filter(leased_by=labeller).count() == 3


def test_renewing_a_held_lease_at_the_cap_is_allowed(labeller_client, crops):
    for crop in crops[:3]:
        assert lease(labeller_client, crop).status_code == 200
    assert lease(labeller_client, crops[1]).status_code == 200


def test_others_still_get_crops_from_the_queue(labeller_client, project, crops):
    for crop in crops:
        lease(labeller_client, crop)
    other = make_user("lou")
    add_member(project, other)
    response = client_for(other).post(f"/api/projects/{project.id}/next/")
    assert response.status_code == 200
    assert response.json()["id"] not in {c.id for c in crops[:3]}


def test_next_serves_the_held_queue_crop_at_the_cap(labeller_client, project, crops):
    served = labeller_client.post(f"/api/projects/{project.id}/next/").json()["id"]
    others = [c for c in crops if c.id != served]
    assert lease(labeller_client, others[0]).status_code == 200
    assert lease(labeller_client, others[1]).status_code == 200
    again = labeller_client.post(f"/api/projects/{project.id}/next/")
    assert again.status_code == 200 and again.json()["id"] == served


def test_next_refuses_a_new_crop_at_the_cap(labeller_client, project, crops):
    # Three crops leased by id: labelled ones, leased to correct them (status stays labelled).
    Crop.objects.filter(id__in=[c.id for c in crops[:3]]).update(status=CropStatus.LABELLED)
    for crop in crops[:3]:
        assert lease(labeller_client, crop).status_code == 200
    refused = labeller_client.post(f"/api/projects/{project.id}/next/")
    assert refused.status_code == 409 and refused.json()["code"] == "lease_limit"
    assert not Crop.objects.filter(status=CropStatus.LEASED).exists()


def test_expired_leases_do_not_count(labeller_client, labeller, crops):
    for crop in crops[:3]:
        lease(labeller_client, crop)
    Crop.objects.filter(leased_by=labeller).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert lease(labeller_client, crops[3]).status_code == 200


def test_releasing_one_makes_room(labeller_client, crops):
    for crop in crops[:3]:
        lease(labeller_client, crop)
    assert labeller_client.post(f"/api/crops/{crops[0].id}/release/").status_code in (200, 204)
    assert lease(labeller_client, crops[3]).status_code == 200


def test_admins_are_not_capped(admin_client, admin, crops):
    for crop in crops:
        assert lease(admin_client, crop).status_code == 200
    assert Crop.objects.filter(leased_by=admin).count() == len(crops)


def test_the_cap_counts_per_project(labeller, crops, other_project, settings):
    add_member(other_project, labeller)
    elsewhere = make_crops(other_project, 2)
    client = client_for(labeller)
    for crop in crops[:3]:
        assert lease(client, crop).status_code == 200
    assert lease(client, elsewhere[0]).status_code == 200
