"""URL path converters.

`<id:...>` is Django's `<int:...>` bounded to the database's key range: the built-in converter
takes a number of any length, and a path id past 2**63 - 1 then reaches the database, which
cannot hold it (SQLite raises OverflowError, a 500). Here such a path simply matches nothing:
404, like any other id that does not exist.
"""

from __future__ import annotations

from django.urls import register_converter

# The largest value of a signed 64-bit integer: every database's largest primary key.
MAX_ID = 2**63 - 1


class IdConverter:
    # At most 19 digits: the regex refuses a million-digit path before int() ever reads it.
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(f"{value} is past the largest id")  # Django reads ValueError as "no match"
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")
