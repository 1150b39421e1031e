"""Security settings under DEBUG=0: `check --deploy` is clean, the pages carry a strict
Content-Security-Policy (and the templates give it nothing inline to block), HTTPS is enforced
behind a TLS proxy, and the DEBUG error page masks the passwords in DATABASE_URL and the broker URL."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.views.debug import technical_500_response

from labelserver.error_reports import SecretMaskingFilter, mask_url_passwords

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "frontend" / "templates"
HOST = "label.example.org"


def production(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a deployment behind an HTTPS proxy, on its own empty data folder."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "labelserver.settings", "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": HOST, "BEHIND_TLS_PROXY": "1",
            "LABELSERVER_DATA_DIR": str(tmp_path), **extra}


def manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_check_deploy_finds_nothing_with_production_settings(tmp_path):
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], production(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output and "?:" not in output, output


# What a browser gets from the production settings, through Django's test client (no server).
HEADERS_SCRIPT = """
import json
from django.test import Client
client = Client(HTTP_HOST="label.example.org")
page = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
plain = client.get("/accounts/login/")
print(json.dumps({"page": dict(page.headers), "status": page.status_code,
                  "cookies": {name: dict(morsel) for name, morsel in page.cookies.items()},
                  "plain": [plain.status_code, plain.headers.get("Location")]}))
"""


@pytest.fixture(scope="module")
def production_answer(tmp_path_factory) -> dict:
    result = manage(["shell", "-c", HEADERS_SCRIPT], production(tmp_path_factory.mktemp("prod")))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pages_carry_a_strict_content_security_policy_under_debug_0(production_answer):
    assert production_answer["status"] == 200
    policy = production_answer["page"]["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == directives["script-src"] == directives["style-src"] == "'self'"
    assert directives["object-src"] == directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


def test_behind_a_tls_proxy_https_is_enforced(production_answer):
    headers = production_answer["page"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert production_answer["cookies"]["csrftoken"]["secure"] is True
    assert production_answer["plain"] == [301, f"https://{HOST}/accounts/login/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_the_policy_is_on_every_page(client, path):
    assert "script-src 'self'" in client.get(path)["Content-Security-Policy"]


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on* event handler"),
    (re.compile(r"(href|src)\s*=\s*[\"']?(javascript|data):", re.I), "a javascript: or data: URL"),
]


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_keep_nothing_inline_that_the_policy_would_block(template):
    text = template.read_text()
    found = [what for pattern, what in INLINE if pattern.search(text)]
    assert not found, f"{template.name} has {', '.join(found)}: move it to a static file"


# --- The DEBUG error page -----------------------------------------------------------------------


def test_urls_lose_their_passwords_and_nothing_else():
    mask = "****"
    assert mask_url_passwords("postgres://labelserver:s3cr@t:x@db:5432/labelserver", mask) == \
        "postgres://labelserver:****@db:5432/labelserver"
    assert mask_url_passwords("redis://:pw@redis:6379/0", mask) == "redis://:****@redis:6379/0"
    assert mask_url_passwords("redis://redis:6379/0 and /media/a:b@c", mask) == "redis://redis:6379/0 and /media/a:b@c"


# Built from parts: the error page shows the source lines around each frame, and these must not
# be found there for a reason other than the filter failing.
SECRETS = {name: "-".join([name, "pass", "4711"]) for name in ("db", "broker", "cache")}


def error_page(request) -> str:
    """The DEBUG page of an error raised where a local variable holds the database URL."""
    try:
        connection_url = f"postgres://labelserver:{SECRETS['db']}@db:5432/labelserver"  # noqa: F841
        raise RuntimeError("boom")
    except RuntimeError:
        return technical_500_response(request, *sys.exc_info()).content.decode()


def test_the_debug_page_masks_the_database_password_and_the_broker_url(settings):
    settings.DEBUG = True
    settings.DATABASE_URL = f"postgres://labelserver:{SECRETS['db']}@db:5432/labelserver"
    settings.CELERY_BROKER_URL = f"redis://:{SECRETS['broker']}@redis:6379/0"
    settings.CACHES = {**settings.CACHES, "extra": {"LOCATION": f"redis://:{SECRETS['cache']}@redis:6379/1"}}
    request = RequestFactory().get("/", DATABASE_URL=settings.DATABASE_URL)  # runserver's META holds the environment

    page = error_page(request)

    assert "boom" in page and "postgres://labelserver:********************@db:5432/labelserver" in page
    for secret in SECRETS.values():
        assert secret not in page
    assert "redis:6379/0" not in page  # the broker URL is masked whole
    assert SecretMaskingFilter().get_safe_settings()["CELERY_BROKER_URL"] == "********************"
