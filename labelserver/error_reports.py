"""What the DEBUG error page (and the error e-mails) may show.

Django's filter hides settings and request headers whose *names* look secret (PASSWORD, KEY,
TOKEN, ...). Our secrets also travel inside URLs whose names do not: DATABASE_URL carries the
database password, CELERY_BROKER_URL and CACHE_URL may carry Redis's, and under `runserver` the
request's META holds the whole environment. This filter masks the password of any URL, wherever
it appears (settings, META, a traceback's local variables), and the broker settings whole.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

# scheme://user:password@host -> the password part. It runs to the last "@" before the path, so
# a password with an "@" in it is masked whole.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)(?P<password>[^\s/?#]*)(?P<at>@)", re.I)


def mask_url_passwords(text: str, substitute: str) -> str:
    """`text` with the password of every `scheme://user:password@host` in it replaced."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{substitute}{m['at']}", text)


class SecretMaskingFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|BROKER", flags=re.I
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        return self._mask(super().cleanse_setting(key, value))

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        return [(name, self._mask(value)) for name, value in super().get_traceback_frame_variables(request, tb_frame)]

    def _mask(self, value: Any) -> Any:
        """Strings masked, and the strings inside dicts, lists and tuples (a DATABASES dict)."""
        if isinstance(value, str):  # str() as well: a lazy string passes isinstance but is no str to re
            return mask_url_passwords(str(value), self.cleansed_substitute)
        if isinstance(value, dict):
            return {key: self._mask(item) for key, item in value.items()}
        if type(value) in (list, tuple):  # exactly: a named tuple would not take a generator
            return type(value)(self._mask(item) for item in value)
        return value
