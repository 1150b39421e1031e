"""GET /api/schema/ and /api/docs/: the OpenAPI schema is valid and its generation clean."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from tests.factories import make_model_version


def test_it_generates_a_valid_schema_without_errors_or_warnings(db):
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS._error_cache
    assert list(GENERATOR_STATS._warn_cache) == []
    assert "/api/projects/{project_id}/next/" in schema["paths"]


def test_it_serves_the_schema_and_the_docs(labeller_client):
    assert labeller_client.get("/api/schema/").status_code == 200
    assert labeller_client.get("/api/docs/").status_code == 200


def test_it_describes_backend_settings_with_the_backends_own_definition(db):
    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    field = schemas["ProjectSettingsInput"]["properties"]["backend_settings"]
    assert field["allOf"] == [{"$ref": "#/components/schemas/BackendSettings"}]
    train = schemas["BackendSettings"]["properties"]["train"]
    assert train["$ref"] == "#/components/schemas/BackendTrainSettings" or train["allOf"]
    epochs = schemas["BackendTrainSettings"]["properties"]["n_epochs"]
    assert (epochs["minimum"], epochs["maximum"], epochs["default"]) == (2, 100000, 30)
    assert schemas["BackendTrainSettings"]["properties"]["learning_rate"]["nullable"] is True


# --- The schema tells the truth (the fuzzing in tests/test_api_fuzz.py checks it at large) ---


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_operation_lists_the_errors_it_can_answer(db):
    paths = _schema()["paths"]
    member = paths["/api/crops/{crop_id}/"]
    assert {"401", "403", "404"} <= set(member["get"]["responses"])
    assert {"400", "401", "403", "404", "409", "413", "415"} <= set(member["patch"]["responses"])
    assert "400" in paths["/api/projects/{project_id}/images/"]["get"]["responses"]  # ?limit=abc
    assert not {"401", "403", "404"} & set(paths["/api/auth/token/"]["post"]["responses"])
    error = member["get"]["responses"]["404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}


def test_numbers_of_missing_versions_are_nullable(db):
    schemas = _schema()["components"]["schemas"]
    assert schemas["Job"]["properties"]["model_version_number"]["nullable"] is True
    assert schemas["ModelVersion"]["properties"]["parent_number"]["nullable"] is True


def test_an_export_names_a_format_or_leaves_it_out(db):
    body = _schema()["paths"]["/api/projects/{project_id}/export/"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    pattern = _schema()["components"]["schemas"][schema]["properties"]["format"]["pattern"]
    assert re.fullmatch(pattern, "coco, geojson") and not re.fullmatch(pattern, "")


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=100000", "offset=-1", "offset=1e3",
                                   f"offset={10**30}"])
def test_a_bad_page_is_refused_by_name(labeller_client, project, query):
    answer = labeller_client.get(f"/api/projects/{project.pk}/images/?{query}")
    assert answer.status_code == 400
    assert query.split("=")[0] in answer.json()


def test_a_good_page_is_served(labeller_client, project):
    answer = labeller_client.get(f"/api/projects/{project.pk}/images/?limit=2&offset=0")
    assert answer.status_code == 200 and answer.json()["count"] == 0


def test_an_api_path_that_matches_no_route_answers_json(labeller_client):
    answer = labeller_client.get(f"/api/crops/{10**30}/")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"
    page = labeller_client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_weights_are_served_as_bytes(admin_client, project):
    version = make_model_version(project)
    version.weights.save("w.pt", ContentFile(b"weights"), save=True)
    answer = admin_client.get(f"/api/model-versions/{version.pk}/weights/")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/octet-stream"
