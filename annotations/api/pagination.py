"""The API's one pagination: `?limit=&offset=`, checked like any other input.

DRF's LimitOffsetPagination quietly reads `?limit=abc` as the default page and a huge offset as a
number the database then cannot hold (a server error). Here a value that is not an integer in its
range answers 400 naming the parameter, and the OpenAPI schema states the same ranges, so the
schema and the code cannot disagree.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_LIMIT = 1000
# Below every database's signed 32-bit integer, so an offset never overflows a query parameter.
MAX_OFFSET = 2**31 - 1


def _bounded_int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        raise ValidationError({name: [f"{name} must be a whole number from {low} to {high}, got {raw!r}"]})
    # At most len(str(high)) digits are parsed: a million-digit value is refused without converting it.
    value = int(text) if len(text.lstrip("0")) <= len(str(high)) else high + 1
    if not low <= value <= high:
        raise ValidationError({name: [f"{name} must be a whole number from {low} to {high}, got {raw!r}"]})
    return value


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """LimitOffsetPagination that refuses a bad `limit` or `offset` with 400 instead of ignoring it."""

    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int | None:
        return _bounded_int(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return _bounded_int(request, self.offset_query_param, 0, 0, MAX_OFFSET) or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_OFFSET)}
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"] = {"type": "integer", "minimum": low, "maximum": high}
        return parameters
