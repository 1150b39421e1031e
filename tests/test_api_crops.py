"""GET /api/projects/{id}/crops/ (filters), GET/PATCH /api/crops/{id}/ (detail, admin queue edits)."""

from __future__ import annotations

from annotations.masks import encode_rle
from annotations.models import Crop, CropStatus, Split, Tag
from tests.factories import (
    add_member,
    make_crops,
    make_image,
    make_model_version,
    make_prediction,
    make_user,
    true_mask,
)


def ids(response):
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_it_lists_a_projects_crops_oldest_first_with_pagination(labeller_client, project):
    crops = make_crops(project, 5)
    body = labeller_client.get(f"/api/projects/{project.id}/crops/?limit=2&offset=1").json()
    assert body["count"] == 5
    assert [row["id"] for row in body["results"]] == [crops[1].id, crops[2].id]
    assert body["results"][0]["display_url"] == f"/api/crops/{crops[1].id}/display/"


def test_it_filters_crops_by_status_split_tag_and_image(labeller_client, project):
    first = make_image(project, crop_size=256, n_crops=3)
    second = make_image(project, source=1, crop_size=256, n_crops=2, split=Split.VALIDATION)
    a, b, _ = first.crops.order_by("id")
    Crop.objects.filter(pk=a.pk).update(status=CropStatus.SKIPPED)
    b.tags.add(Tag.objects.create(project=project, name="blurry"))
    base = f"/api/projects/{project.id}/crops/"
    assert ids(labeller_client.get(base + "?status=skipped")) == [a.id]
    assert ids(labeller_client.get(base + "?split=validation")) == sorted(second.crops.values_list("id", flat=True))
    assert ids(labeller_client.get(base + "?tag=blurry")) == [b.id]
    assert len(ids(labeller_client.get(base + f"?image={second.id}"))) == 2


def test_it_refuses_an_unknown_filter_value(labeller_client, project):
    response = labeller_client.get(f"/api/projects/{project.id}/crops/?status=done")
    assert response.status_code == 400
    assert "status" in response.json()


def test_it_shows_a_crop_with_its_current_annotation_and_prediction(labeller_client, project, crop):
    version = make_model_version(project, 4)
    prediction = make_prediction(crop, version)
    prediction.cell_uncertainty, prediction.possible_missed_cells = {"1": 0.75}, [[40.5, 12.5, 6.1]]
    prediction.save()
    body = labeller_client.get(f"/api/crops/{crop.id}/").json()
    assert (body["x"], body["y"], body["width"], body["height"]) == (0, 0, 128, 128)
    assert body["image_name"] == crop.image.original_name
    assert body["display_url"] == f"/api/crops/{crop.id}/display/"
    assert body["current_annotation"] is None
    assert body["prediction"]["model_version"]["number"] == 4
    assert body["prediction"]["mask"] == encode_rle(true_mask(crop))
    assert body["prediction"]["cell_uncertainty"] == {"1": 0.75}
    assert body["prediction"]["possible_missed_cells"] == [[40.5, 12.5, 6.1]]


def test_it_serves_the_display_image(labeller_client, crop):
    response = labeller_client.get(labeller_client.get(f"/api/crops/{crop.id}/").json()["display_url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_it_lets_an_admin_pin_prioritise_tag_and_assign_a_crop(admin_client, project, labeller, crop):
    body = {"pinned": True, "priority": -3, "tags": ["edge", "blurry"], "assigned_to": labeller.id}
    response = admin_client.patch(f"/api/crops/{crop.id}/", body, format="json")
    assert response.status_code == 200, response.json()
    assert sorted(response.json()["tags"]) == ["blurry", "edge"]
    crop.refresh_from_db()
    assert (crop.pinned, crop.priority, crop.assigned_to) == (True, -3, labeller)
    cleared = admin_client.patch(f"/api/crops/{crop.id}/", {"tags": [], "assigned_to": None}, format="json").json()
    assert (cleared["tags"], cleared["assigned_to"], cleared["pinned"]) == ([], None, True)


def test_it_assigns_crops_to_members_only(admin_client, crop):
    stranger = make_user("sam")
    response = admin_client.patch(f"/api/crops/{crop.id}/", {"assigned_to": stranger.id}, format="json")
    assert response.status_code == 400
    assert "not a member" in response.json()["detail"]


def test_it_forgets_the_assignments_and_leases_of_a_removed_member(admin_client, project, crop):
    olga = make_user("olga")
    add_member(project, olga)
    Crop.objects.filter(pk=crop.pk).update(assigned_to=olga)
    admin_client.delete(f"/api/projects/{project.id}/members/{olga.id}/")
    crop.refresh_from_db()
    assert crop.assigned_to is None
