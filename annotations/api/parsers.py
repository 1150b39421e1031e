"""The API's body parsers: bounded in size and, for JSON, in nesting depth.

DRF's JSONParser and FormParser read the whole request stream whatever its size (Django's
DATA_UPLOAD_MAX_MEMORY_SIZE guards only `request.body` and multipart form fields, which DRF
bypasses), and a JSON document nested a few thousand levels deep makes Python's json raise
RecursionError: a 500, even on the anonymous token endpoint. Here a body over
DATA_UPLOAD_MAX_MEMORY_SIZE (MAX_JSON_MB) is refused with 413 before it is read, and a JSON
document nested deeper than MAX_JSON_DEPTH with 400 before it is parsed.

File uploads (multipart) go through Django's upload handlers instead: streamed to disk and
bounded by MAX_UPLOAD_MB (annotations/api/uploads.py).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.http import QueryDict
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.utils.json import strict_constant

# Deeper than any document the API takes (the deepest, backend settings, is 3 levels), far below
# the depth at which json or DRF's validation would recurse out of the stack.
MAX_JSON_DEPTH = 64

# A JSON string, escapes included: what lies inside one is text, not nesting.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPENERS = (ord("["), ord("{"))
_CLOSERS = (ord("]"), ord("}"))


class RequestTooLarge(APIException):
    status_code = 413
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def body_limit() -> int:
    """The largest body without files, in bytes (DATA_UPLOAD_MAX_MEMORY_SIZE, set by MAX_JSON_MB)."""
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def too_large(size: int, limit: int) -> RequestTooLarge:
    mb = limit / 2**20
    return RequestTooLarge(
        f"the request body is {size:,} bytes or more, over the limit of {limit:,} bytes ({mb:g} MB, MAX_JSON_MB) "
        "for a request without files; send a large mask as a label image in `mask_file`",
        code="request_too_large",
    )


def read_bounded(stream: IO[bytes] | None, parser_context: Mapping[str, Any] | None) -> bytes:
    """The whole body, refusing one over the limit: by its Content-Length before reading, else
    by reading at most one byte past the limit (a body may come without a length)."""
    if stream is None:
        return b""
    limit = body_limit()
    request = (parser_context or {}).get("request")
    declared = content_length(request.META if request is not None else {})
    if declared > limit:
        raise too_large(declared, limit)
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise too_large(len(data), limit)
    return data


def content_length(meta: dict[str, Any]) -> int:
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


def json_depth(data: bytes) -> int:
    """How deeply the document's arrays and objects nest, counted without parsing it: strings are
    blanked out (one regex pass), then the brackets left are summed (numpy). A few milliseconds
    for a body at the size limit; nothing at all for a body with few brackets."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than the limit
    brackets = np.frombuffer(_JSON_STRING.sub(b'""', data), dtype=np.uint8)
    opens = np.isin(brackets, _OPENERS)
    closes = np.isin(brackets, _CLOSERS)
    where = np.flatnonzero(opens | closes)
    steps = np.where(opens[where], 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max()) if steps.size else 0


class BoundedJSONParser(JSONParser):
    """JSONParser with a size limit (413) and a nesting limit (400)."""

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        data = read_bounded(stream, parser_context)
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON parse error - the document nests deeper than {MAX_JSON_DEPTH} levels",
                             code="json_too_deep")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(data, encoding)
            return json.loads(text, parse_constant=strict_constant if self.strict else None)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ParseError(f"JSON parse error - {exc}") from None


class BoundedFormParser(FormParser):
    """FormParser with the same size limit (413)."""

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:  # an immutable QueryDict
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        return QueryDict(read_bounded(stream, parser_context), encoding=encoding)
