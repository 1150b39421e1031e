"""GET/POST /api/crops/{id}/annotations/: history, and submitting a new version under a lease."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
import tifffile
from django.utils import timezone
from PIL import Image as PILImage

from annotations.masks import decode_png, encode_rle
from annotations.models import Annotation, Crop, CropStatus
from tests.factories import add_member, client_for, make_model_version, make_project, make_user, true_mask

# The queue and versioning rules must hold on PostgreSQL too (`make test` runs these there again).
pytestmark = pytest.mark.postgres


def url(crop):
    return f"/api/crops/{crop.id}/annotations/"


@pytest.fixture
def leased(labeller_client, labeller, project, crop):
    response = labeller_client.post(f"/api/projects/{project.id}/next/")
    assert response.json()["id"] == crop.id
    crop.refresh_from_db()
    return crop


def submit(client, crop, mask=None, **body):
    payload = {"mask": encode_rle(true_mask(crop) if mask is None else mask), **body}
    return client.post(url(crop), payload, format="json")


def png_file(mask: np.ndarray) -> io.BytesIO:
    buffer = io.BytesIO()
    PILImage.fromarray(mask.astype(np.uint16)).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "mask.png"
    return buffer


def test_it_saves_the_mask_and_ends_the_lease(labeller_client, labeller, leased):
    mask = true_mask(leased)
    response = submit(labeller_client, leased, seconds_spent=12.5, edit_counts={"delete": 2, "draw": 3})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["version"], body["is_current"], body["author"]) == (1, True, labeller.id)
    assert body["n_cells"] == len(np.unique(mask)) - 1 > 0
    annotation = Annotation.objects.get(pk=body["id"])
    assert np.array_equal(decode_png(annotation.mask_png), mask)
    assert (annotation.seconds_spent, annotation.n_edits) == (12.5, 5)
    leased.refresh_from_db()
    assert (leased.status, leased.leased_by, leased.lease_expires_at) == (CropStatus.LABELLED, None, None)


def test_it_keeps_every_version_and_marks_the_newest_current(labeller_client, leased):
    first = true_mask(leased)
    submit(labeller_client, leased, first)
    labeller_client.post(f"/api/crops/{leased.id}/lease/")
    second = np.zeros_like(first)
    second[:10, :10] = 7
    assert submit(labeller_client, leased, second).json()["version"] == 2
    history = labeller_client.get(url(leased)).json()
    assert [(a["version"], a["is_current"]) for a in history] == [(2, True), (1, False)]
    assert history[0]["mask"] == encode_rle(second)
    assert history[1]["mask"] == encode_rle(first)
    detail = labeller_client.get(f"/api/crops/{leased.id}/").json()
    assert detail["current_annotation"]["version"] == 2


def test_it_refuses_a_submission_without_a_lease(labeller_client, crop):
    response = submit(labeller_client, crop)
    assert response.status_code == 409
    assert response.json()["code"] == "no_lease"
    assert not Annotation.objects.exists()


def test_it_refuses_a_submission_after_the_lease_expired(labeller_client, leased):
    Crop.objects.filter(pk=leased.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    response = submit(labeller_client, leased)
    assert response.status_code == 409
    assert response.json()["code"] == "lease_expired"
    assert "expired" in response.json()["detail"]


def test_it_refuses_a_submission_on_someone_elses_lease(project, leased):
    other = make_user("olga")
    add_member(project, other)
    response = submit(client_for(other), leased)
    assert response.status_code == 409
    assert response.json()["code"] == "leased_by_other"


def test_it_refuses_a_mask_of_the_wrong_shape(labeller_client, leased):
    response = submit(labeller_client, leased, np.zeros((leased.height, leased.width + 1), np.uint16))
    assert response.status_code == 400
    assert "but the crop is 128x128" in response.json()["detail"]
    leased.refresh_from_db()
    assert leased.status == CropStatus.LEASED


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        ({"encoding": "png"}, "must be an object"),
        ({"encoding": "rle", "height": 128, "width": 128, "runs": [1, 5]}, "runs cover 5 pixels"),
        ({"encoding": "rle", "height": 128, "width": 128, "runs": [-1, 16384]}, "labels must lie in"),
        ({"encoding": "rle", "height": 128, "width": 128, "runs": [1.5, 16384]}, "non-integer"),
    ],
)
def test_it_refuses_a_malformed_mask_with_a_clear_message(labeller_client, leased, mask, message):
    response = labeller_client.post(url(leased), {"mask": mask}, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_it_needs_exactly_one_mask(labeller_client, leased):
    response = labeller_client.post(url(leased), {"seconds_spent": 3}, format="json")
    assert response.status_code == 400
    assert "mask_file" in response.json()["detail"]


def test_it_refuses_bad_edit_counts(labeller_client, leased):
    response = submit(labeller_client, leased, edit_counts={"delete": -1})
    assert response.status_code == 400
    assert "edit_counts" in response.json()


def test_it_records_the_model_version_it_started_from(labeller_client, project, leased):
    version = make_model_version(project)
    body = submit(labeller_client, leased, started_from=version.id).json()
    assert body["started_from"] == version.id


def test_it_refuses_another_projects_model_version(labeller_client, leased):
    foreign = make_model_version(make_project("elsewhere"))
    response = submit(labeller_client, leased, started_from=foreign.id)
    assert response.status_code == 400
    assert "started_from" in response.json()["detail"]


def test_it_accepts_a_16_bit_png_label_image(labeller_client, leased):
    mask = true_mask(leased)
    mask[mask > 0] += 1000  # ids beyond 8 bits
    response = labeller_client.post(url(leased), {"mask_file": png_file(mask), "edit_counts": '{"draw": 1}'})
    assert response.status_code == 201, response.json()
    assert np.array_equal(decode_png(Annotation.objects.get().mask_png), mask)
    assert Annotation.objects.get().edit_counts == {"draw": 1}


def test_it_accepts_a_tiff_label_image(labeller_client, leased):
    mask = true_mask(leased)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, mask)
    buffer.seek(0)
    buffer.name = "mask.tif"
    response = labeller_client.post(url(leased), {"mask_file": buffer, "source": "script"})
    assert response.status_code == 201, response.json()
    assert Annotation.objects.get().source == "script"
    assert np.array_equal(decode_png(Annotation.objects.get().mask_png), mask)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not an image at all", "must be a PNG or TIFF"),
        (b"\x89PNG\r\n\x1a\n truncated", "not a readable PNG"),
        ("wrong size", "mask_file: the label image is 64x64 (width x height) but the crop is 128x128"),
    ],
)
def test_it_refuses_a_bad_label_image_file(labeller_client, leased, content, message):
    if content == "wrong size":
        upload = png_file(np.zeros((64, 64), np.uint16))
    else:
        upload = io.BytesIO(content)
        upload.name = "mask.png"
    response = labeller_client.post(url(leased), {"mask_file": upload})
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Annotation.objects.exists()
