"""The one exception type for domain rules, shared by every layer; the API turns it into a 4xx answer."""

from __future__ import annotations


class DomainError(Exception):
    """A request that breaks a rule of the domain: bad input, a conflict, a missing lease."""

    code = "invalid"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403
