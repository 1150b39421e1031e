"""/api/projects/{id}/images/ (list, upload) and /api/images/{id}/ (detail, split)."""

from __future__ import annotations

from annotations.models import Annotation, Crop, CropStatus, Image, Split
from tests.conftest import DATA
from tests.factories import make_image

U2OS_IMAGE = sorted((DATA / "dsb2018_u2os" / "images").glob("*.png"))[0]
U2OS_MASK = DATA / "dsb2018_u2os" / "masks" / U2OS_IMAGE.name


def test_it_lists_a_projects_images_with_crop_counts(labeller_client, project):
    image = make_image(project, crop_size=256)
    body = labeller_client.get(f"/api/projects/{project.id}/images/").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["id"], row["width"], row["height"], row["n_crops"], row["n_labelled"]) == (image.id, 696, 520, 9, 0)


def test_it_shows_an_image(labeller_client, image):
    body = labeller_client.get(f"/api/images/{image.id}/").json()
    assert (body["original_name"], body["split"], body["n_crops"]) == (image.original_name, "train", 30)


def test_it_moves_an_image_and_its_crops_to_validation(admin_client, image):
    response = admin_client.patch(f"/api/images/{image.id}/", {"split": "validation"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["split"] == "validation"
    assert set(Crop.objects.filter(image=image).values_list("split", flat=True)) == {Split.VALIDATION}


def test_it_refuses_an_unknown_split(admin_client, image):
    response = admin_client.patch(f"/api/images/{image.id}/", {"split": "test"}, format="json")
    assert response.status_code == 400
    assert "split" in response.json()


def upload(client, project, path, mask=None):
    with open(path, "rb") as file:
        body = {"file": file}
        if mask is None:
            return client.post(f"/api/projects/{project.id}/images/", body)
        with open(mask, "rb") as mask_file:
            return client.post(f"/api/projects/{project.id}/images/", {**body, "mask": mask_file})


def test_it_uploads_an_image_once(admin_client, project):
    created = upload(admin_client, project, U2OS_IMAGE)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["created"] is True and body["crops"] == Crop.objects.filter(project=project).count() > 1
    assert (body["image"]["width"], body["image"]["height"], body["image"]["original_name"]) == (
        696, 520, U2OS_IMAGE.name,
    )
    again = upload(admin_client, project, U2OS_IMAGE)
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["image"]["id"]) == (False, body["image"]["id"])
    assert Image.objects.count() == 1


def test_it_imports_a_label_image_with_the_upload(admin_client, project):
    response = upload(admin_client, project, U2OS_IMAGE, mask=U2OS_MASK)
    assert response.status_code == 201, response.json()
    assert response.json()["image"]["n_labelled"] > 0
    assert Annotation.objects.filter(crop__project=project).exists()
    assert Crop.objects.filter(project=project, status=CropStatus.LABELLED).exists()


def test_it_refuses_a_file_that_is_not_an_image(admin_client, project, tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"these are not pixels" * 10)
    response = upload(admin_client, project, junk)
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
    assert not Image.objects.exists()


def test_it_refuses_a_mask_of_another_size(admin_client, project):
    other_size = sorted((DATA / "dsb2018_brightfield" / "masks").glob("*.png"))[0]
    response = upload(admin_client, project, U2OS_IMAGE, mask=other_size)
    assert response.status_code == 400
    assert "is 320x256 (width x height) but its image is 696x520" in response.json()["detail"]
    assert not Image.objects.exists()


def test_it_asks_for_the_file(admin_client, project):
    response = admin_client.post(f"/api/projects/{project.id}/images/", {})
    assert response.status_code == 400
    assert "file" in response.json()
