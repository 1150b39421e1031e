"""/api/projects/ and /api/projects/{id}/: list mine, create (staff), detail, settings (project admins)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from active_learning.models import CropScore
from active_learning.scoring import DESCRIPTOR
from active_learning.strategies import DEFAULT_STRATEGY, STRATEGIES
from annotations.models import Crop, Membership, Project, Role
from tests.factories import make_crops, make_model_version, make_user


def test_it_lists_only_my_projects(labeller_client, labeller, project, other_project):
    body = labeller_client.get("/api/projects/").json()
    assert [(p["name"], p["role"], p["is_admin"]) for p in body["results"]] == [("nuclei", "labeller", False)]


def test_it_lists_every_project_to_staff(staff_client, project, other_project):
    body = staff_client.get("/api/projects/").json()
    assert [(p["name"], p["role"], p["is_admin"]) for p in body["results"]] == [
        ("nuclei", None, True),
        ("other", None, True),
    ]


def test_it_lets_staff_create_a_project_and_makes_them_its_admin(staff_client, staff):
    response = staff_client.post("/api/projects/", {"name": "cytoplasm", "crop_size": 128}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["crop_size"], body["role"]) == ("cytoplasm", 128, "admin")
    assert Membership.objects.get(project_id=body["id"]).user == staff


def test_it_refuses_a_duplicate_project_name(staff_client, project):
    response = staff_client.post("/api/projects/", {"name": "nuclei"}, format="json")
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_it_shows_a_project_with_its_crop_counts(labeller_client, project):
    make_crops(project, 3)
    body = labeller_client.get(f"/api/projects/{project.id}/").json()
    assert body["crop_counts"] == {"unlabelled": 3, "leased": 0, "labelled": 0, "skipped": 0}


def test_it_lets_a_project_admin_change_settings(admin_client, project):
    changes = {
        "crop_size": 224,
        "strategy": "cellprob",
        "random_fraction": 0.25,
        "retrain_after_annotations": 20,
        "backend_settings": {"train": {"n_epochs": 30}},
    }
    response = admin_client.patch(f"/api/projects/{project.id}/", changes, format="json")
    assert response.status_code == 200, response.json()
    project.refresh_from_db()
    assert (project.crop_size, project.strategy, project.random_fraction) == (224, "cellprob", 0.25)
    assert (project.retrain_after_annotations, project.backend_settings) == (20, {"train": {"n_epochs": 30}})


def test_it_refuses_settings_that_make_no_sense(admin_client, project):
    def patch(body):
        return admin_client.patch(f"/api/projects/{project.id}/", body, format="json")

    assert "random_fraction" in patch({"random_fraction": 1.5}).json()
    assert "crop_overlap (300) must be smaller" in patch({"crop_overlap": 300}).json()["detail"]
    assert "unknown model backend" in patch({"backend": "stardist"}).json()["detail"]
    assert "n_epochs" in patch({"backend_settings": {"train": {"n_epochs": -1}}}).json()["detail"]
    assert Project.objects.get(pk=project.pk).crop_overlap == 0


def test_it_manages_members_and_roles(admin_client, project, admin):
    sam = make_user("sam")
    base = f"/api/projects/{project.id}/members/"
    assert admin_client.post(base, {"username": "sam"}, format="json").json() == {
        "user_id": sam.id, "username": "sam", "role": "labeller",
    }
    assert admin_client.post(base, {"username": "sam"}, format="json").status_code == 409
    assert admin_client.post(base, {"username": "nobody"}, format="json").status_code == 400
    assert admin_client.patch(f"{base}{sam.id}/", {"role": "admin"}, format="json").json()["role"] == "admin"
    assert [m["username"] for m in admin_client.get(base).json()] == ["ada", "sam"]
    assert admin_client.delete(f"{base}{sam.id}/").status_code == 204
    assert not Membership.objects.filter(user=sam).exists()


def test_it_keeps_at_least_one_admin(admin_client, project, admin):
    base = f"/api/projects/{project.id}/members/{admin.id}/"
    demoted = admin_client.patch(base, {"role": Role.LABELLER}, format="json")
    assert demoted.status_code == 409
    assert "at least one admin" in demoted.json()["detail"]
    assert admin_client.delete(base).status_code == 409


# --- Strategy and random fraction: validated, and a change re-ranks the queue -----------------------


@pytest.fixture
def ranked(project, admin_client):
    """Twelve waiting crops scored by a served model version, ranked by cellprob with no control group."""
    project.strategy, project.random_fraction = "cellprob", 0.0
    project.save()
    crops = make_crops(project, 12, crop_size=64)
    version = make_model_version(project, 3)
    version.promoted_at = timezone.now()
    version.save()
    CropScore.objects.bulk_create(
        [CropScore(crop=c, model_version=version, strategy="cellprob", score=1 - i / 20) for i, c in enumerate(crops)]
        + [CropScore(crop=c, model_version=version, strategy=DESCRIPTOR, score=1.0) for c in crops]
    )
    queue_settings(admin_client, project, {"strategy": "cellprob"})
    return crops


def queue_settings(client, project, body):
    return client.put(f"/api/projects/{project.id}/queue/settings/", body, format="json")


def reasons(project) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in Crop.objects.filter(project=project).values_list("queue_reason", flat=True):
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def test_it_refuses_an_unknown_strategy_naming_the_known_ones(admin_client, project):
    response = admin_client.patch(f"/api/projects/{project.id}/", {"strategy": "vibes", "name": "renamed"},
                                  format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unknown_strategy" and "unknown strategy 'vibes'" in body["detail"]
    assert all(name in body["detail"] for name in STRATEGIES)
    project.refresh_from_db()
    assert (project.name, project.strategy) == ("nuclei", DEFAULT_STRATEGY)  # all or nothing


def test_it_refuses_a_random_fraction_outside_zero_to_one(admin_client, project):
    for fraction in (-0.1, 1.01):
        response = admin_client.patch(f"/api/projects/{project.id}/", {"random_fraction": fraction}, format="json")
        assert response.status_code == 400 and "random_fraction" in response.json()
    assert Project.objects.get(pk=project.pk).random_fraction == 0.1


def test_it_names_every_problem_at_once(admin_client, project):
    body = {"strategy": "vibes", "crop_overlap": 300, "backend_settings": {"train": {"n_epochs": -1}}}
    response = admin_client.patch(f"/api/projects/{project.id}/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_settings"
    detail = response.json()["detail"]
    assert "unknown strategy" in detail and "crop_overlap (300)" in detail and "train.n_epochs" in detail


def test_it_refuses_to_create_a_project_with_an_unknown_strategy(staff_client):
    response = staff_client.post("/api/projects/", {"name": "new", "strategy": "vibes"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unknown_strategy"
    assert not Project.objects.filter(name="new").exists()


def test_it_still_saves_other_settings_of_a_project_with_an_old_unknown_strategy(admin_client, project):
    Project.objects.filter(pk=project.pk).update(strategy="uncertainty")  # from before strategies were checked
    assert admin_client.patch(f"/api/projects/{project.id}/", {"name": "renamed"}, format="json").status_code == 200


def test_a_new_strategy_re_ranks_the_queue_as_the_queue_settings_endpoint_does(admin_client, project, ranked):
    assert reasons(project) == {"strategy:cellprob": 12}
    response = admin_client.patch(f"/api/projects/{project.id}/", {"strategy": "random"}, format="json")
    assert response.status_code == 200 and response.json()["strategy"] == "random"
    assert reasons(project) == {"strategy:random": 12}
    # The queue settings endpoint, asked for the same settings, finds nothing left to rewrite.
    again = queue_settings(admin_client, project, {"strategy": "random", "random_fraction": 0.0}).json()
    assert again["ranking"]["written"] == 0


def test_a_new_random_fraction_re_ranks_the_queue(admin_client, project, ranked):
    admin_client.patch(f"/api/projects/{project.id}/", {"random_fraction": 0.5}, format="json")
    assert reasons(project) == {"strategy:cellprob": 6, "random-control": 6}
    assert queue_settings(admin_client, project, {"random_fraction": 0.5}).json()["ranking"]["written"] == 0


def test_other_changes_leave_the_ranking_alone(admin_client, project, ranked):
    Crop.objects.filter(pk=ranked[0].pk).update(queue_reason="left-alone")
    body = {"name": "renamed", "strategy": "cellprob", "random_fraction": 0.0}  # the same strategy and fraction
    assert admin_client.patch(f"/api/projects/{project.id}/", body, format="json").status_code == 200
    assert Crop.objects.get(pk=ranked[0].pk).queue_reason == "left-alone"


def test_it_refuses_model_channels_the_images_do_not_have(admin_client, project):
    make_crops(project, 1)  # a one-channel image
    response = admin_client.patch(f"/api/projects/{project.id}/", {"model_channels": [1]}, format="json")
    assert response.status_code == 400
    assert "model channels [1] do not exist" in response.json()["detail"]
    assert admin_client.patch(f"/api/projects/{project.id}/", {"model_channels": [0]}, format="json").status_code == 200
