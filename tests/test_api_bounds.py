"""Issue 24, part 3: hostile or careless requests get a clear 4xx, never a 500, and cost bounded
memory. Integers past the database's range, JSON nested thousands deep, run lengths of 10**400,
decompression bombs, bodies too large for memory, and numbers and maps without bounds."""

from __future__ import annotations

import io
import json
import zlib

import numpy as np
import pytest
import tifffile

from active_learning.reports import project_overview
from annotations.api.parsers import MAX_JSON_DEPTH, json_depth
from annotations.masks import encode_rle
from annotations.models import Annotation
from tests.factories import make_user, true_mask

HUGE = "-6064246176199529725952"  # the value from the issue: past SQLite's 64-bit integers
PAST_INT64 = str(2**63)


def assert_4xx(response, status: int = 400) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    return response.json()


@pytest.fixture
def leased(labeller_client, project, crop):
    assert labeller_client.post(f"/api/projects/{project.id}/next/").json()["id"] == crop.id
    crop.refresh_from_db()
    return crop


def annotations_url(crop) -> str:
    return f"/api/crops/{crop.id}/annotations/"


def valid_submission(crop, **body) -> dict:
    return {"mask": encode_rle(true_mask(crop)), **body}


# --- Integers past the database's range -------------------------------------------------------


@pytest.mark.parametrize("query", [
    f"limit={HUGE}", f"offset={HUGE}", f"offset={PAST_INT64}", "limit=abc", "offset=-1", "limit=0",
    f"image={HUGE}", f"assigned_to={HUGE}", f"image={PAST_INT64}", f"assigned_to={PAST_INT64}",
])
def test_crop_list_query_integers_out_of_range_are_400(labeller_client, project, crop, query):
    body = assert_4xx(labeller_client.get(f"/api/projects/{project.id}/crops/?{query}"))
    assert query.split("=")[0] in json.dumps(body)


@pytest.mark.parametrize("query", [
    f"offset={HUGE}", f"offset={PAST_INT64}", f"limit={HUGE}", f"image={HUGE}", f"assigned_to={PAST_INT64}",
])
def test_queue_query_integers_out_of_range_are_400(admin_client, project, crop, query):
    body = assert_4xx(admin_client.get(f"/api/projects/{project.id}/queue/?{query}"))
    assert query.split("=")[0] in body


def test_a_huge_page_offset_inside_the_range_is_an_empty_page(labeller_client, project, crop):
    response = labeller_client.get(f"/api/projects/{project.id}/crops/?offset={2**31 - 1}")
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize("path", [
    "/api/crops/{big}/", "/api/crops/{big}/annotations/", "/api/projects/{big}/", "/api/jobs/{big}/",
    "/api/model-versions/{big}/", "/api/images/{big}/", "/api/projects/{big}/crops/",
    "/api/projects/1/members/{big}/",
])
@pytest.mark.parametrize("big", [str(2**63), "9" * 19, "1" * 400])
def test_path_ids_past_the_database_range_are_404(admin_client, project, path, big):
    response = admin_client.get(path.format(big=big))
    assert response.status_code == 404


def test_the_largest_path_id_is_a_plain_404(admin_client):
    assert admin_client.get(f"/api/crops/{2**63 - 1}/").status_code == 404


@pytest.mark.parametrize("field,value", [
    ("priority", 10**30), ("priority", 1001), ("priority", -1001), ("assigned_to", int(HUGE)),
    ("assigned_to", 2**63), ("tags", ["t"] * 51),
])
def test_crop_update_bounds(admin_client, crop, field, value):
    body = assert_4xx(admin_client.patch(f"/api/crops/{crop.id}/", {field: value}, format="json"))
    assert field in body


def test_crop_update_within_bounds_works(admin_client, crop):
    response = admin_client.patch(f"/api/crops/{crop.id}/", {"priority": -1000}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["priority"] == -1000


@pytest.mark.parametrize("body", [
    {"action": "pin", "crop_ids": [2**63]},
    {"action": "pin", "crop_ids": [int(HUGE)]},
    {"action": "pin", "crop_ids": [1] * 10_001},
    {"action": "boost", "crop_ids": [1], "priority": 10**30},
    {"action": "assign", "crop_ids": [1], "user_id": 2**63},
])
def test_queue_action_bounds(admin_client, project, crop, body):
    assert_4xx(admin_client.post(f"/api/projects/{project.id}/queue/crops/", body, format="json"))


@pytest.mark.parametrize("body", [{"priority": 10**30}, {"image": 2**63}])
def test_queue_focus_bounds(admin_client, project, crop, body):
    assert_4xx(admin_client.post(f"/api/projects/{project.id}/queue/focus/", body, format="json"))


@pytest.mark.parametrize("value", [10**30, 100_001, -1])
def test_retrain_after_annotations_bounds(admin_client, project, value):
    body = {"name": project.name, "retrain_after_annotations": value}
    response = admin_client.patch(f"/api/projects/{project.id}/", body, format="json")
    assert "retrain_after_annotations" in assert_4xx(response)
    response = admin_client.put(f"/api/projects/{project.id}/retraining/", {"after_annotations": value}, format="json")
    assert "after_annotations" in assert_4xx(response)


def test_retrain_after_annotations_at_the_bound_is_kept(admin_client, project):
    response = admin_client.put(f"/api/projects/{project.id}/retraining/", {"after_annotations": 100_000},
                                format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["after_annotations"] == 100_000


# --- Deep JSON --------------------------------------------------------------------------------


def deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
def test_deeply_nested_json_is_400_even_anonymously(anon_client, depth):
    response = anon_client.post("/api/auth/token/", deep(depth), content_type="application/json")
    body = assert_4xx(response)
    assert "nests deeper" in body["detail"]


def test_deeply_nested_json_is_400_on_a_member_route(labeller_client, leased):
    payload = '{"mask": ' + deep(10_000) + "}"
    response = labeller_client.post(annotations_url(leased), payload, content_type="application/json")
    assert "nests deeper" in assert_4xx(response)["detail"]


def test_nesting_is_counted_outside_strings_only():
    assert json_depth(json.dumps({"text": "[" * 10_000, "a": [[1]]}).encode()) == 3
    assert json_depth(json.dumps({"a": [[1]]}).encode()) == 0  # a few brackets cannot be too deep: not scanned
    text = json.dumps({"text": "[{" * 100 + '\\"[', "a": [[[1]]]}).encode()
    assert json_depth(text) == 4
    assert json_depth(deep(100).encode()) == 100


def test_json_within_the_depth_limit_parses(db, anon_client):
    nested = deep(MAX_JSON_DEPTH - 1)  # inside the top-level object: MAX_JSON_DEPTH in all
    payload = '{"username": "nobody", "password": "x", "extra": ' + nested + "}"
    response = anon_client.post("/api/auth/token/", payload, content_type="application/json")
    assert response.status_code in (400, 401, 403)
    assert "nests deeper" not in response.content.decode()


def test_invalid_json_is_400(anon_client):
    response = anon_client.post("/api/auth/token/", b"{\xff", content_type="application/json")
    assert_4xx(response)


# --- Run lengths and mask files ---------------------------------------------------------------


@pytest.mark.parametrize("runs", [[1, 10**400], [1, 10**30], [1, 1e308, 0, 1e308], [10**400, 1]])
def test_absurd_run_lengths_are_400(labeller_client, leased, runs):
    mask = {"encoding": "rle", "height": leased.height, "width": leased.width, "runs": runs}
    response = labeller_client.post(annotations_url(leased), {"mask": mask}, format="json")
    assert assert_4xx(response)["code"] == "bad_mask"
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("side", [10**400, 2**63, 10**6])
def test_absurd_mask_sizes_are_400(labeller_client, leased, side):
    mask = {"encoding": "rle", "height": side, "width": side, "runs": [0, 1]}
    response = labeller_client.post(annotations_url(leased), {"mask": mask}, format="json")
    assert assert_4xx(response)["code"] == "bad_mask"


def png_bomb(side: int) -> bytes:
    """A 1-bit greyscale PNG of side x side zero pixels: a few kB that decode to side**2 pixels."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * ((side + 7) // 8 + 1) * side, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [12_000, 20_000])  # just over MAX_IMAGE_PIXELS, and over twice it
def test_a_png_decompression_bomb_as_mask_file_is_400(labeller_client, leased, side):
    upload = io.BytesIO(png_bomb(side))
    upload.name = "bomb.png"
    response = labeller_client.post(annotations_url(leased), {"mask_file": upload}, format="multipart")
    assert assert_4xx(response)["code"] == "bad_mask"
    assert not Annotation.objects.exists()


# --- Numbers and maps of a submission ---------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"seconds_spent": 1.7e308},
    {"seconds_spent": 86_401},
    {"seconds_spent": "nan"},
    {"edit_counts": {"draw": 10**30}},
    {"edit_counts": {"draw": 10**6 + 1}},
    {"edit_counts": {f"k{i}": 1 for i in range(51)}},
    {"edit_counts": {f"k{i}": 1 for i in range(100_000)}},
    {"edit_counts": {"x" * 51: 1}},
    {"edit_counts": {"": 1}},
    {"edit_counts": {"draw": True}},
    {"edit_counts": {"draw": -1}},
    {"started_from": 2**63},
])
def test_submission_numbers_and_maps_are_bounded(labeller_client, leased, body):
    response = labeller_client.post(annotations_url(leased), valid_submission(leased, **body), format="json")
    assert next(iter(body)) in assert_4xx(response)
    assert not Annotation.objects.exists()


def test_a_submission_at_the_bounds_is_saved(labeller_client, leased):
    counts = {f"k{i}": 10**6 for i in range(50)}
    body = valid_submission(leased, seconds_spent=86_400, edit_counts=counts)
    response = labeller_client.post(annotations_url(leased), body, format="json")
    assert response.status_code == 201, response.json()


def test_the_report_survives_rows_saved_before_the_bounds(admin_client, labeller_client, project, leased):
    body = valid_submission(leased, seconds_spent=10.0, edit_counts={"draw": 1})
    assert labeller_client.post(annotations_url(leased), body, format="json").status_code == 201
    # Rows from before the bounds: the largest float, twice, and a count past any integer column.
    Annotation.objects.update(seconds_spent=1.7e308, edit_counts={"draw": 10**30, "zoom": "x", "n": 1e308})
    other = make_user("other-lee")
    Annotation.objects.create(crop=leased, version=2, is_current=False, author=other, mask_png=b"",
                              n_cells=0, seconds_spent=float("inf"), edit_counts={})
    report = project_overview(project)
    json.dumps(report, allow_nan=False)  # finite numbers only: the answer must be valid JSON
    assert admin_client.get(f"/api/projects/{project.id}/report/").status_code == 200


# --- Body sizes -------------------------------------------------------------------------------


def test_a_json_body_over_the_limit_is_413_before_it_is_read(settings, anon_client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    payload = json.dumps({"username": "x" * 2000, "password": "y"})
    body = assert_4xx(anon_client.post("/api/auth/token/", payload, content_type="application/json"), 413)
    assert body["code"] == "request_too_large" or "MAX_JSON_MB" in body["detail"]
    assert "MAX_JSON_MB" in body["detail"]


def test_a_json_body_over_the_limit_without_a_length_is_413(settings):
    """The WSGI stream is read at most one byte past the limit, whatever Content-Length says."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    from annotations.api.parsers import BoundedJSONParser, RequestTooLarge

    with pytest.raises(RequestTooLarge):
        BoundedJSONParser().parse(io.BytesIO(b'{"a": "' + b"x" * 5000 + b'"}'), parser_context={})


def test_a_form_body_over_the_limit_is_413(settings, anon_client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = anon_client.post("/api/auth/token/", "username=" + "x" * 5000 + "&password=y",
                                content_type="application/x-www-form-urlencoded")
    assert_4xx(response, 413)


def test_the_editors_largest_mask_fits_the_json_limit(labeller_client, leased):
    """A 2048-pixel crop with 2,000 cells is under 2 MB of RLE JSON (measured); the default limit
    (MAX_JSON_MB=10) leaves room for a 4096-pixel crop of 8,000 cells (7 MB)."""
    from django.conf import settings

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= 8 * 2**20


def test_an_upload_over_max_upload_is_413_and_nothing_is_stored(settings, admin_client, project):
    settings.MAX_UPLOAD_BYTES = 50_000
    upload = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200_000)
    upload.name = "big.png"
    response = admin_client.post(f"/api/projects/{project.id}/images/", {"file": upload}, format="multipart")
    body = assert_4xx(response, 413)
    assert body["code"] == "request_too_large" and "MAX_UPLOAD_MB" in body["detail"]
    assert not project.images.exists()


def test_an_upload_under_max_upload_still_works(settings, admin_client, project):
    settings.MAX_UPLOAD_BYTES = 2 * 2**20
    upload = io.BytesIO()
    tifffile.imwrite(upload, np.zeros((64, 64), np.uint8))
    upload.seek(0)
    upload.name = "ok.tif"
    response = admin_client.post(f"/api/projects/{project.id}/images/", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.json()


def test_form_fields_of_a_multipart_upload_keep_the_small_limit(settings, admin_client, project):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    upload = io.BytesIO()
    tifffile.imwrite(upload, np.zeros((64, 64), np.uint8))
    upload.seek(0)
    upload.name = "ok.tif"
    response = admin_client.post(f"/api/projects/{project.id}/images/", {"file": upload, "note": "x" * 5000},
                                 format="multipart")
    assert_4xx(response, 413)


def test_50_mb_of_json_is_refused_unread_at_the_default_limit(db, anon_client):
    """The issue's measurement: 50 MB of JSON cost 300 MB of memory and 2.4 s. Now its
    Content-Length alone refuses it, before a byte of the body is read (here the body is not
    even sent: only the header says 50 MB)."""
    response = anon_client.post("/api/auth/token/", b"{}", content_type="application/json",
                                CONTENT_LENGTH=str(50 * 2**20))
    body = assert_4xx(response, 413)
    assert body["code"] == "request_too_large" and "52,428,800 bytes" in body["detail"]


@pytest.mark.parametrize("field", ["mask", "edit_counts"])
def test_deep_json_in_a_form_field_is_400(labeller_client, leased, field):
    """A JSON field sent as a multipart form field is parsed by the field itself, not the parser."""
    body = {"mask": json.dumps(encode_rle(true_mask(leased))), field: deep(50_000)}
    response = labeller_client.post(annotations_url(leased), body, format="multipart")
    assert field in assert_4xx(response)
    assert not Annotation.objects.exists()


def test_deep_json_in_an_imported_file_is_a_mask_error(tmp_path):
    from annotations.formats.coco import read_coco
    from annotations.formats.geojson import load_features
    from annotations.masks import MaskError

    path = tmp_path / "deep.json"
    path.write_text(deep(100_000))
    for read in (read_coco, load_features):
        with pytest.raises(MaskError, match="not a readable"):
            read(path)


def test_a_mask_file_larger_than_any_crop_label_image_is_400_unread(labeller_client, leased, monkeypatch):
    from annotations.api import serializers

    monkeypatch.setattr(serializers, "MAX_MASK_FILE_BYTES", 1000)
    upload = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 5000)
    upload.name = "mask.png"
    response = labeller_client.post(annotations_url(leased), {"mask_file": upload}, format="multipart")
    assert "mask_file" in assert_4xx(response)
    assert not Annotation.objects.exists()
