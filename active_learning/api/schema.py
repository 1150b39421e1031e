"""The OpenAPI schema's `backend_settings`: described by the backend's own settings definition
(active_learning/backends/settings.py), so validation and the documented shape cannot drift.

A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS in labelserver/settings.py): the
project serializers live on the labelling side, which does not know the learning side's backends.
"""

from __future__ import annotations

from typing import Any

from active_learning.backends.settings import backend_settings_schema

REF_PREFIX = "#/components/schemas/Backend"


def _openapi_30(node: Any) -> Any:
    """pydantic writes JSON Schema 2020-12; the API schema is OpenAPI 3.0: `$defs` references
    become component references, and `anyOf [X, null]` becomes X with `nullable`."""
    if isinstance(node, list):
        return [_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _openapi_30(value) for key, value in node.items()}
    if "$ref" in node:
        node["$ref"] = node["$ref"].replace("#/$defs/", REF_PREFIX)
    options = node.get("anyOf")
    if options and {"type": "null"} in options and len(options) == 2:
        rest = node.pop("anyOf")
        node = {**next(option for option in rest if option != {"type": "null"}), **node, "nullable": True}
    return node


def backend_settings_in_schema(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schema = _openapi_30(backend_settings_schema())
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in schema.pop("$defs", {}).items():
        components[f"Backend{name}"] = definition
    components["BackendSettings"] = schema
    for component in components.values():
        field = component.get("properties", {}).get("backend_settings")
        if field is not None:
            described = {"allOf": [{"$ref": f"{REF_PREFIX}Settings"}]}
            if "description" in field:
                described["description"] = field["description"]
            component["properties"]["backend_settings"] = described
    return result
