"""The OpenAPI schema lists the error answers each operation can give, not only its success.

Every view's refusals come from a few shared places (DRF's authentication, permissions, parsers
and throttles; the domain errors of labelserver.errors turned into 4xx by
annotations.api.errors), so which error statuses an operation can answer follows from what the
operation is: one that takes a body can be refused for it, one with an id in its path can name
an object you cannot see, and so on. The AutoSchema below adds those statuses, all answering the
one `Error` body, so a client generated from the schema (and the schemathesis run in
tests/test_api_fuzz.py) knows every status the server may answer. A view's own
`@extend_schema(responses=...)` for a status wins over the generic one.

SPECTACULAR_SETTINGS / REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] in labelserver/settings.py name it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        'A refusal. A broken domain rule, a permission or a missing object answers {"detail": "...", '
        '"code": "..."}; bad fields answer {"<field>": ["message", ...]} (nested like the input; '
        '"non_field_errors" for the input as a whole).'
    ),
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "additionalProperties": True,
}

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DESCRIPTIONS = {
    400: "Bad input: a field, a query parameter or the body is invalid, or a domain rule refuses it.",
    401: "Not signed in, or the token is unknown.",
    403: "Signed in, but not allowed: an admin operation, or not staff.",
    404: "No such object among the projects you are a member of.",
    409: "Conflict with the current state (a lease held by someone else, a job already running, ...).",
    413: "The body or an uploaded file is larger than the server accepts.",
    415: "The body's content type is not one this operation reads.",
    429: "Too many requests: wait as the Retry-After header says.",
    503: "A service the server needs (the Celery broker) did not answer; try again later.",
}


class ErrorListingAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with the error statuses of each operation (see the module)."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        self._register_error_component()
        responses = operation.setdefault("responses", {})
        for code in sorted(self.error_statuses(operation)):
            responses.setdefault(str(code), _error_response(code))
        return operation

    def error_statuses(self, operation: dict[str, Any]) -> set[int]:
        """The error statuses this operation can answer, from what it takes and who may call it."""
        parameters = operation.get("parameters", [])
        takes_body = "requestBody" in operation
        writes = self.method in WRITE_METHODS
        signed_in = not self._open_to_anyone()
        rules = {
            # input serializers, query filters, the parsers, domain rules (labelserver.errors)
            400: takes_body or writes or any(p["in"] == "query" for p in parameters),
            # no or unknown credentials (401 with a token, 403 with a session), or the wrong role
            401: signed_in,
            403: signed_in,
            # an id of an object outside the user's projects, or one that does not exist
            404: any(p["in"] == "path" for p in parameters),
            # leases, running jobs, the last admin: state another request may have changed
            409: writes and signed_in,
            # the body limits and the parsers (annotations/api/parsers.py, uploads.py)
            413: takes_body,
            415: takes_body,
            429: bool(self.view.get_throttles()),
        }
        return {code for code, applies in rules.items() if applies}

    def _open_to_anyone(self) -> bool:
        permissions = self.view.get_permissions()
        return all(isinstance(permission, AllowAny) for permission in permissions)

    def _register_error_component(self) -> None:
        component = ResolvedComponent(
            name=ERROR_COMPONENT, type=ResolvedComponent.SCHEMA, object=ERROR_COMPONENT, schema=ERROR_SCHEMA
        )
        self.registry.register_on_missing(component)


def _error_response(code: int) -> dict[str, Any]:
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    return {"description": DESCRIPTIONS[code], "content": {"application/json": {"schema": reference}}}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """For `@extend_schema(responses=...)`: error statuses an operation answers beyond the ones its
    shape implies (a GET that can conflict, say), with the shared Error body."""
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    return {code: OpenApiResponse(response=reference, description=DESCRIPTIONS[code]) for code in codes}
