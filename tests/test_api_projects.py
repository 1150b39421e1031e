"""/api/projects/ and /api/projects/{id}/: list mine, create (staff), detail, settings (project admins)."""

from __future__ import annotations

from annotations.models import Membership, Project, Role
from tests.factories import make_crops, make_user


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
        "strategy": "uncertainty",
        "random_fraction": 0.25,
        "retrain_after_annotations": 20,
        "backend_settings": {"train": {"n_epochs": 30}},
    }
    response = admin_client.patch(f"/api/projects/{project.id}/", changes, format="json")
    assert response.status_code == 200, response.json()
    project.refresh_from_db()
    assert (project.crop_size, project.strategy, project.random_fraction) == (224, "uncertainty", 0.25)
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
