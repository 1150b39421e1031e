"""Read settings from the environment and refuse bad values loudly at start-up.

For local development the environment may be completed from `$LABELSERVER_DATA_DIR/.env`, which
`make migrate` (and so `make run`) writes once: bare `python manage.py ...` then works as in `make`.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

REPO = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def envint(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def data_dir() -> Path:
    """Where the embedded setup keeps its database, broker, media and the local .env."""
    return Path(envstr("LABELSERVER_DATA_DIR", str(REPO / "var"))).resolve()


def load_env_file(path: Path) -> None:
    """Set the `NAME=value` lines of `path` (if it exists) that the environment does not set.

    The real environment wins, so `DEBUG=0 python manage.py ...` still means production.
    Plain lines only: no quotes, no `export`, no variable expansion.
    """
    if not path.is_file():
        return
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            raise ImproperlyConfigured(f"{path}, line {number}: expected NAME=value, got {line!r}")
        os.environ.setdefault(name.strip(), value.strip())


def write_env_file(path: Path) -> bool:
    """Write a development .env with a fresh random SECRET_KEY, readable by its owner only.

    Once: an existing file is left as it is (it may hold the user's own settings), and the key
    stays the same so that logins survive restarts. Returns whether it wrote the file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as file:
        file.write(
            "# Local development settings, written once by `make migrate`; the environment overrides\n"
            "# them. Not for production: see docs/configuration.md.\n"
            f"DEBUG=1\nSECRET_KEY={secrets.token_urlsafe(50)}\n"
        )
    return True


if __name__ == "__main__":  # `python -m labelserver.env`: what `make migrate` runs
    target = data_dir() / ".env"
    if write_env_file(target):
        print(f"Wrote {target} (DEBUG=1 and a random SECRET_KEY) for local development", file=sys.stderr)


def public_origin(endpoint_url: str | None, *, bucket_in_host: str | None = None) -> str:
    """The origin (scheme://host[:port]) browsers fetch signed URLs from, for the pages' CSP: the
    endpoint's (`bucket_in_host`: virtual-hosted addressing, bucket.host), or any AWS S3 host
    when no endpoint is named (AWS S3 itself)."""
    if not endpoint_url:
        return "https://*.amazonaws.com"
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured(f"{endpoint_url!r} is not an http(s):// URL of an S3 endpoint")
    host = f"{bucket_in_host}.{parts.netloc}" if bucket_in_host else parts.netloc
    return f"{parts.scheme}://{host}"
