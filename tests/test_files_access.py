"""No stored file is readable without the role that may read it.

Each kind of stored file (a crop's display PNG, an original image, model weights, an export)
answers the roles the API would (members / admins), refuses anonymous clients and outsiders, and
stops answering a member who is removed. No /media/ route serves anything. Authorised answers
are private to their user; in proxy mode (SENDFILE_HEADER) the answer is empty and names the file
for the proxy to send; with an object store it is a redirect to a short-lived signed URL.
"""

from __future__ import annotations

import io
import re
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils.http import http_date
from rest_framework.authtoken.models import Token

from active_learning.models import ModelVersion
from tests.factories import client_for, make_annotation, make_crops, make_user, run_queued

pytestmark = pytest.mark.django_db
ANON = (401, 403)


@pytest.fixture
def crop(project):
    return make_crops(project, 1)[0]


@pytest.fixture
def version(project):
    name = default_storage.save(f"models/{project.pk}/{'a' * 64}.pt", ContentFile(b"weights"))
    return ModelVersion.objects.create(project=project, number=1, weights=name, weights_sha256="a" * 64)


def exported(crop, admin_client):
    """A finished export of the crop's project (its job run here, as a worker runs it)."""
    make_annotation(crop, crop.image.uploaded_by or make_user("exporter"))
    answer = admin_client.post(f"/api/projects/{crop.project_id}/export/", {"format": "tiff", "whole_images": "any"},
                               format="json")
    job = run_queued(answer)
    assert job.status == "succeeded", job.error
    return job


@pytest.fixture
def export(crop, admin_client):
    return exported(crop, admin_client)


def urls(crop, version, export) -> dict[str, str]:
    return {
        "display": f"/api/crops/{crop.pk}/display/",
        "original": f"/api/images/{crop.image_id}/file/",
        "weights": f"/api/model-versions/{version.pk}/weights/",
        "export": f"/api/jobs/{export.pk}/file/",
    }


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- who may read what ------------------------------------------------------------------------

# kind: (admin, labeller, outsider); anonymous clients are refused everything.
EXPECTED = {"display": (200, 200, 404), "original": (200, 200, 404), "weights": (200, 403, 404),
            "export": (200, 403, 404)}


@pytest.mark.parametrize("kind", EXPECTED)
def test_each_kind_of_file_answers_only_the_roles_that_may_read_it(kind, crop, version, export, admin_client,
                                                                   labeller_client, outsider_client, anon_client):
    url = urls(crop, version, export)[kind]
    got = tuple(client.get(url).status_code for client in (admin_client, labeller_client, outsider_client))
    assert got == EXPECTED[kind]
    assert anon_client.get(url).status_code in ANON


def test_members_get_the_stored_bytes(crop, labeller_client):
    display = labeller_client.get(f"/api/crops/{crop.pk}/display/")
    assert display["Content-Type"] == "image/png" and body_of(display) == crop.display.read()
    original = labeller_client.get(f"/api/images/{crop.image_id}/file/")
    assert body_of(original) == crop.image.file.read()
    assert original["Content-Disposition"] == f'attachment; filename="{crop.image.original_name}"'


def test_staff_read_any_projects_files(crop):
    staff = client_for(make_user("root", staff=True))
    assert staff.get(f"/api/crops/{crop.pk}/display/").status_code == 200
    assert staff.get(f"/api/images/{crop.image_id}/file/").status_code == 200


def test_a_removed_member_loses_access_through_the_urls_they_saw(crop, admin_client, labeller):
    client = Client()
    client.force_login(labeller)  # a browser session, as the editor's <img> sends it
    seen = client.get(f"/api/crops/{crop.pk}/").json()["display_url"]
    original = f"/api/images/{crop.image_id}/file/"
    assert client.get(seen).status_code == client.get(original).status_code == 200

    assert admin_client.delete(f"/api/projects/{crop.project_id}/members/{labeller.pk}/").status_code == 204
    assert client.get(seen).status_code == client.get(original).status_code == 404


def test_no_media_route_serves_anything(crop, version):
    staff = Client()
    staff.force_login(make_user("root", staff=True))
    for name in (crop.display.name, crop.image.file.name, version.weights.name):
        assert Path(default_storage.path(name)).is_file()
        assert staff.get(f"/media/{name}").status_code == 404
        assert Client().get(f"/media/{name}").status_code == 404


def test_the_api_names_files_by_their_checked_urls(crop, labeller_client):
    body = labeller_client.get(f"/api/projects/{crop.project_id}/crops/").json()["results"][0]
    assert body["display_url"] == f"/api/crops/{crop.pk}/display/"
    image = labeller_client.get(f"/api/images/{crop.image_id}/").json()
    assert image["file_url"] == f"/api/images/{crop.image_id}/file/"


# --- what the answers say ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", EXPECTED)
def test_authorised_answers_are_private_to_their_user(kind, crop, version, export, admin_client):
    response = admin_client.get(urls(crop, version, export)[kind])
    assert response.status_code == 200
    assert "private" in response["Cache-Control"] and "public" not in response["Cache-Control"]
    vary = {v.strip().lower() for v in response["Vary"].split(",")}
    assert {"cookie", "authorization"} <= vary


def test_a_display_png_may_be_reused_by_its_users_browser_and_revalidated(crop, labeller_client):
    url = f"/api/crops/{crop.pk}/display/"
    first = labeller_client.get(url)
    assert "max-age=3600" in first["Cache-Control"]
    again = labeller_client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert again.status_code == 304
    older = http_date(Path(crop.display.path).stat().st_mtime - 60)
    assert labeller_client.get(url, HTTP_IF_MODIFIED_SINCE=older).status_code == 200


def test_a_display_png_costs_one_query_after_authentication(crop, labeller, django_assert_num_queries):
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=labeller).key}")
    with django_assert_num_queries(2):  # the token with its user; the crop through the membership
        assert client.get(f"/api/crops/{crop.pk}/display/").status_code == 200


def test_a_missing_file_is_404(crop, labeller_client):
    default_storage.delete(crop.display.name)
    assert labeller_client.get(f"/api/crops/{crop.pk}/display/").status_code == 404


# --- proxy mode ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", EXPECTED)
def test_behind_nginx_the_view_answers_with_x_accel_redirect_and_an_empty_body(kind, crop, version, export,
                                                                                 admin_client, settings):
    settings.SENDFILE_HEADER = "X-Accel-Redirect"
    response = admin_client.get(urls(crop, version, export)[kind])
    name = {"display": crop.display.name, "original": crop.image.file.name, "weights": version.weights.name,
            "export": export.result["file"]}[kind]
    assert response.status_code == 200 and body_of(response) == b""
    assert response["X-Accel-Redirect"] == f"/internal-media/{name}"
    assert "private" in response["Cache-Control"]
    if kind != "display":
        assert response["Content-Disposition"].startswith("attachment; filename=")


def test_behind_apache_the_view_answers_with_x_sendfile_and_an_empty_body(crop, labeller_client, settings):
    settings.SENDFILE_HEADER = "X-Sendfile"
    response = labeller_client.get(f"/api/crops/{crop.pk}/display/")
    assert response.status_code == 200 and body_of(response) == b""
    assert response["X-Sendfile"] == str(Path(default_storage.path(crop.display.name)))
    assert response["Content-Type"] == "image/png"


def test_proxy_mode_refuses_as_django_mode_does(crop, version, export, outsider_client, anon_client,
                                                labeller_client, settings):
    settings.SENDFILE_HEADER = "X-Accel-Redirect"
    for client, url in ((outsider_client, urls(crop, version, export)["display"]),
                        (anon_client, urls(crop, version, export)["original"]),
                        (labeller_client, urls(crop, version, export)["weights"]),
                        (labeller_client, urls(crop, version, export)["export"])):
        response = client.get(url)
        assert response.status_code in (*ANON, 404) and not response.has_header("X-Accel-Redirect")


# --- an object store (STORAGE_BACKEND=s3) -------------------------------------------------------
# The same files in a bucket of a real S3 server on loopback (tests/s3_server.py): the view checks
# the role as before, then answers a redirect to a signed URL, which the test follows as a browser.


@pytest.fixture
def s3_crop(s3_storage, project):
    return make_crops(project, 1)[0]


@pytest.fixture
def s3_version(s3_storage, project):
    name = default_storage.save(f"models/{project.pk}/{'b' * 64}.pt", ContentFile(b"weights in the store"))
    return ModelVersion.objects.create(project=project, number=1, weights=name, weights_sha256="b" * 64)


def fetch(url: str) -> tuple[dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return {k.lower(): v for k, v in answer.headers.items()}, answer.read()


# kind: (admin, labeller, outsider) with an object store: every file is a redirect.
EXPECTED_S3 = {"display": (302, 302, 404), "original": (302, 302, 404), "weights": (302, 403, 404),
               "export": (302, 403, 404)}


@pytest.fixture
def s3_export(s3_crop, admin_client):
    return exported(s3_crop, admin_client)


@pytest.mark.parametrize("kind", EXPECTED_S3)
def test_with_an_object_store_each_kind_answers_only_the_roles_that_may_read_it(
        kind, s3_crop, s3_version, s3_export, admin_client, labeller_client, outsider_client, anon_client):
    url = urls(s3_crop, s3_version, s3_export)[kind]
    got = tuple(client.get(url).status_code for client in (admin_client, labeller_client, outsider_client))
    assert got == EXPECTED_S3[kind]
    assert anon_client.get(url).status_code in ANON


def test_with_an_object_store_the_redirect_is_private_short_lived_and_signed(s3_crop, labeller_client, settings):
    response = labeller_client.get(f"/api/crops/{s3_crop.pk}/display/")
    assert response.status_code == 302 and body_of(response) == b""
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert cache_control == {"private", "max-age=0"}  # the URL expires: never reuse the redirect
    assert {v.strip().lower() for v in response["Vary"].split(",")} >= {"cookie", "authorization"}
    location = parse_qs(urlsplit(response["Location"]).query)
    assert location["X-Amz-Expires"] == [str(settings.S3_SIGNED_URL_SECONDS)] == ["60"]
    assert "X-Amz-Signature" in location


def test_with_an_object_store_members_get_the_stored_bytes_with_the_local_headers(s3_crop, s3_version,
                                                                                  admin_client, labeller_client):
    headers, body = fetch(labeller_client.get(f"/api/crops/{s3_crop.pk}/display/")["Location"])
    assert body == default_storage.open(s3_crop.display.name).read() and body.startswith(b"\x89PNG")
    assert headers["content-type"] == "image/png" and headers["cache-control"] == "private, max-age=3600"
    headers, body = fetch(labeller_client.get(f"/api/images/{s3_crop.image_id}/file/")["Location"])
    assert body == s3_crop.image.file.read()
    assert headers["content-disposition"] == f'attachment; filename="{s3_crop.image.original_name}"'
    headers, body = fetch(admin_client.get(f"/api/model-versions/{s3_version.pk}/weights/")["Location"])
    assert body == b"weights in the store" and headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith("attachment; filename=")


def test_with_an_object_store_the_bucket_holds_the_files_and_media_root_none(s3_storage, s3_crop, s3_version,
                                                                             settings):
    assert set(s3_storage.keys()) == {s3_crop.display.name, s3_crop.image.file.name, s3_version.weights.name}
    assert not any(path.is_file() for path in settings.MEDIA_ROOT.rglob("*"))


def test_with_an_object_store_a_removed_member_gets_no_new_signed_url(s3_crop, admin_client, labeller):
    client = Client()
    client.force_login(labeller)
    url = f"/api/crops/{s3_crop.pk}/display/"
    assert client.get(url).status_code == 302
    assert admin_client.delete(f"/api/projects/{s3_crop.project_id}/members/{labeller.pk}/").status_code == 204
    assert client.get(url).status_code == 404


def test_with_an_object_store_an_export_reads_the_originals_from_the_store(s3_crop, admin_client, labeller):
    make_annotation(s3_crop, labeller)
    answer = admin_client.post(f"/api/projects/{s3_crop.project_id}/export/",
                               {"format": "cellpose", "whole_images": "any"}, format="json")
    job = run_queued(answer)
    assert job.status == "succeeded", job.error
    assert default_storage.exists(job.result["file"])  # the zip is in the store, for any web host
    response = admin_client.get(f"/api/jobs/{job.pk}/file/")
    assert response.status_code == 302
    headers, body = fetch(response["Location"])
    assert headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        originals = [name for name in names if name.startswith("cellpose/images/") and "_img" in name]
        assert [archive.read(name) for name in originals] == [s3_crop.image.file.read()]
        # The crop's pixels were read from the original's local copy in the storage cache.
        assert any(name.startswith("cellpose/crops/") for name in names)


# --- the API docs without a CDN -----------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        self.inline_scripts += tag == "script" and not dict(attrs).get("src")


def test_the_api_docs_page_loads_only_our_own_static_files(admin):
    client = Client()
    client.force_login(admin)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    parser = _Links()
    parser.feed(page)
    assert parser.urls and all(url.startswith(("/static/", "/api/")) for url in parser.urls), parser.urls
    assert not re.search(r"https?://", " ".join(parser.urls)) and "cdn" not in page.lower()
    for url in parser.urls:
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), url  # shipped by drf-spectacular-sidecar
    # Its start-up script is one of our URLs too, not inline (the pages' script-src is 'self').
    assert parser.inline_scripts == 0
    script = next(url for url in parser.urls if url.startswith("/api/docs/"))
    answer = client.get(script)
    assert answer.status_code == 200 and "/api/schema/" in answer.content.decode()
