"""GET /api/schema/ and /api/docs/: the OpenAPI schema is valid and its generation clean."""

from __future__ import annotations

from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema


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
