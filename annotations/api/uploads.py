"""The size limit of file uploads (MAX_UPLOAD_MB), enforced while the upload streams in.

Django's handlers that follow this one keep a small file in memory and stream a large one to
a temporary file on disk (FILE_UPLOAD_MAX_MEMORY_SIZE), so an upload never sits in memory whole.
This handler only counts: a multipart request whose Content-Length is over the limit is refused
before a byte is read, and one that sends more than it declared (or declares nothing) when the
count passes the limit. Nothing is stored by then: the temporary files go with the request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler


class UploadTooLarge(RequestDataTooBig):
    """Refused by size; the API answers 413 (annotations/api/errors.py), a plain page 400."""


def upload_limit() -> int:
    """The largest multipart request (its files and fields together), in bytes."""
    return int(settings.MAX_UPLOAD_BYTES)


def upload_too_large(size: int) -> UploadTooLarge:
    limit = upload_limit()
    return UploadTooLarge(f"the upload is {size:,} bytes or more, over the limit of {limit:,} bytes "
                          f"({limit / 2**20:g} MB, MAX_UPLOAD_MB)")


class UploadLimitHandler(FileUploadHandler):
    """Counts the bytes of every uploaded file and refuses the request past MAX_UPLOAD_MB."""

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.received = 0

    def handle_raw_input(self, input_data: Any, META: dict[str, Any], content_length: int, boundary: str | bytes,
                         encoding: str | None = None) -> None:
        if content_length and content_length > upload_limit():
            raise upload_too_large(content_length)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > upload_limit():
            raise upload_too_large(self.received)
        return raw_data  # passed on to the handler that stores it

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file
