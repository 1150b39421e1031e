"""GET /healthz (labelserver/health.py): the database, the broker and the stored files, for the
compose file's healthcheck and orchestrators' probes. Anonymous, never cached, bounded in time,
answered whatever the Host header and over plain HTTP, and it tells no secrets."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.db import connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from labelserver import health
from labelserver.celery import app as celery_app

ALL_OK = {"status": "ok", "checks": {"database": "ok", "broker": "ok", "storage": "ok"}}
# Well inside what a probe waits (docker-compose.yml: 10 s).
FAST = health.TIMEOUT_SECONDS + 2

pytestmark = pytest.mark.django_db


def probe(client: Client | None = None, **extra: str) -> tuple[object, float]:
    start = time.monotonic()
    response = (client or Client()).get("/healthz", **extra)
    return response, time.monotonic() - start


def test_all_ok_answers_200_to_an_anonymous_caller_and_is_never_cached(settings):
    response, took = probe()
    assert response.status_code == 200, response.content
    assert response.json() == ALL_OK
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert took < FAST
    # The storage probe file is gone again.
    assert list(settings.MEDIA_ROOT.iterdir()) == []


def test_head_answers_and_other_methods_are_refused():
    assert Client().head("/healthz").status_code == 200
    response = Client().post("/healthz")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"


def test_it_answers_probes_whatever_their_host_and_over_plain_http_behind_a_tls_proxy(settings):
    """A probe's Host is the container's or pod's address; it speaks plain HTTP to the process."""
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["label.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    pod = Client(HTTP_HOST="10.1.2.3:8000")
    assert pod.get("/accounts/login/").status_code == 400  # the host check is on for the rest
    site = Client(HTTP_HOST="label.example.org")
    assert site.get("/accounts/login/").status_code == 301  # and so is the redirect
    for client in (pod, site):
        response, _ = probe(client)
        assert response.status_code == 200 and response.json() == ALL_OK


def test_a_broken_database_answers_503_naming_it_without_its_path(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-folder" / "secret-name.sqlite3"
    # The check runs in its own thread, whose connection is made from these settings.
    monkeypatch.setitem(connections.settings["default"], "NAME", str(missing))
    response, took = probe()
    assert response.status_code == 503
    assert response.json() == {"status": "error", "checks": {
        "database": "failed: OperationalError", "broker": "ok", "storage": "ok"}}
    assert "secret-name" not in response.content.decode()
    assert took < FAST


@pytest.fixture
def broker_conf():
    """The Celery app's broker settings, put back after the test."""
    conf = celery_app.conf
    saved = {key: conf[key] for key in ("broker_url", "broker_transport_options")}
    yield conf
    conf.update(saved)


def test_an_unreachable_broker_answers_503_fast_without_its_password(broker_conf):
    broker_conf.broker_url = "amqp://labelserver:s3cret-pw@127.0.0.1:1//"
    response, took = probe()
    assert response.status_code == 503
    body = response.content.decode()
    assert response.json()["checks"] == {"database": "ok", "broker": "failed: OperationalError", "storage": "ok"}
    assert "s3cret-pw" not in body and "127.0.0.1" not in body and "Traceback" not in body
    assert took < FAST


def test_a_redis_broker_is_reached_with_the_pinned_client(broker_conf):
    # The Redis transport refuses redis-py releases it does not support (VersionMismatch) before
    # it connects; an unreachable Redis must fail as a connection, as production's would.
    broker_conf.broker_url = "redis://127.0.0.1:1/0"
    response, took = probe()
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "failed: OperationalError"
    assert took < FAST


def test_the_embedded_broker_needs_its_folders(broker_conf, tmp_path):
    broker_conf.broker_transport_options = {**broker_conf.broker_transport_options,
                                            "data_folder_in": str(tmp_path / "gone")}
    response, _ = probe()
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "failed: FileNotFoundError"
    assert str(tmp_path) not in response.content.decode()


def test_unwritable_storage_answers_503_naming_it(settings, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    settings.MEDIA_ROOT = tmp_path / "a-file" / "media"
    response, took = probe()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["storage"].startswith("failed: ") and checks["database"] == checks["broker"] == "ok"
    assert "a-file" not in response.content.decode()
    assert took < FAST


def test_with_an_object_store_it_asks_the_bucket_and_writes_nothing(s3_storage):
    response, took = probe()
    assert response.status_code == 200 and response.json() == ALL_OK
    assert s3_storage.keys() == [] and took < FAST


def test_a_missing_bucket_answers_503_naming_the_storage(s3_storage, settings):
    options = {**settings.STORAGES["default"]["OPTIONS"], "bucket_name": "no-such-bucket"}
    settings.STORAGES = {**settings.STORAGES, "default": {**settings.STORAGES["default"], "OPTIONS": options}}
    response, _ = probe()
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "failed: ClientError"}


def test_a_store_that_never_answers_fails_the_probe_in_time(s3_storage, settings):
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers a byte
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        options = {**settings.STORAGES["default"]["OPTIONS"], "endpoint_url": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        settings.STORAGES = {**settings.STORAGES, "default": {**settings.STORAGES["default"], "OPTIONS": options}}
        response, took = probe()
    assert response.status_code == 503 and response.json()["checks"]["storage"] == "failed: ReadTimeoutError"
    assert took < FAST


def test_a_hanging_check_times_out_and_is_not_started_again_while_it_hangs(monkeypatch):
    release = threading.Event()
    calls = []

    def hang() -> None:
        calls.append(1)
        release.wait(30)

    # The other two answer at once, so that a busy machine cannot make them late as well.
    monkeypatch.setitem(health.CHECKS, "database", lambda: None)
    monkeypatch.setitem(health.CHECKS, "broker", lambda: None)
    monkeypatch.setitem(health.CHECKS, "storage", hang)
    monkeypatch.setattr(health, "TIMEOUT_SECONDS", 1.0)
    try:
        for _ in range(2):
            response, took = probe()
            assert response.status_code == 503
            assert response.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "timed out"}
            assert 1.0 <= took < 1.0 + 2
        assert len(calls) == 1  # the second probe waited on the first one's check
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while "storage" in health._running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "storage" not in health._running


def test_it_is_not_in_the_api_schema():
    """Outside /api/: not an API operation, so the schema (and its fuzzing) leaves it out."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert not [path for path in paths if "healthz" in path]
