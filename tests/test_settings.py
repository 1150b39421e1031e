"""Settings refuse bad values at start-up with a message that names the variable; the local .env
that `make migrate` writes completes the environment for bare `python manage.py ...`."""

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from labelserver.env import load_env_file, write_env_file

REPO = Path(__file__).resolve().parent.parent


def _python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")} | env
    return subprocess.run([sys.executable, *args], cwd=REPO, env=full, capture_output=True, text=True, timeout=120)


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return _python(["manage.py", "check"], env)


def test_it_refuses_to_start_without_a_secret_key_in_production():
    result = _check({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("LEASE_SECONDS", "soon", "LEASE_SECONDS='soon' is not an integer"),
        ("LABELSERVER_DEVICE", "tpu", "LABELSERVER_DEVICE='tpu' must be one of"),
        ("SENDFILE_HEADER", "nginx", "SENDFILE_HEADER='nginx' must be one of none, X-Accel-Redirect, X-Sendfile"),
        ("DATABASE_URL", "nosuchdb://x", "is not a valid database URL"),
    ],
)
def test_it_names_the_bad_variable(name, value, message):
    result = _check({"DEBUG": "1", name: value})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STORAGE_BACKEND": "nfs"}, "STORAGE_BACKEND='nfs' must be one of local, s3"),
        ({"STORAGE_BACKEND": "s3"}, "STORAGE_BACKEND=s3 needs S3_BUCKET"),
        ({"STORAGE_BACKEND": "s3", "S3_BUCKET": "b", "SENDFILE_HEADER": "X-Accel-Redirect"},
         "SENDFILE_HEADER applies to files on a local disk"),
        ({"STORAGE_BACKEND": "s3", "S3_BUCKET": "b", "S3_ENDPOINT_URL": "minio:9000"},
         "'minio:9000' is not an http(s):// URL of an S3 endpoint"),
        ({"STORAGE_BACKEND": "s3", "S3_BUCKET": "b", "S3_ADDRESSING_STYLE": "dns"},
         "S3_ADDRESSING_STYLE='dns' must be one of path, virtual, auto"),
    ],
)
def test_object_storage_settings_are_checked_at_start_up(env, message):
    result = _check({"DEBUG": "1", **env})
    assert result.returncode != 0
    assert message in result.stderr


def test_an_object_store_is_the_default_storage_and_its_public_origin_may_serve_images(tmp_path):
    script = ("from django.conf import settings; from django.core.files.storage import default_storage; "
              "print(default_storage.__class__.__name__, settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src'])")
    env = {"DEBUG": "1", "DJANGO_SETTINGS_MODULE": "labelserver.settings", "LABELSERVER_DATA_DIR": str(tmp_path),
           "STORAGE_BACKEND": "s3", "S3_BUCKET": "labels", "S3_ENDPOINT_URL": "http://minio:9000",
           "S3_PUBLIC_ENDPOINT_URL": "https://s3.label.example.org"}
    result = _python(["-c", f"import django; django.setup(); {script}"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ObjectStorage [\"'self'\", 'https://s3.label.example.org']"


def test_it_starts_with_good_production_values(tmp_path):
    result = _check({"DEBUG": "0", "SECRET_KEY": "x" * 50, "LABELSERVER_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr


def test_the_local_env_file_fills_in_the_environment_without_overriding_it(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("# written by make\n\nDEBUG=1\nSECRET_KEY = from-the-file\n")
    monkeypatch.setattr(os, "environ", {"DEBUG": "0"})
    load_env_file(env_file)
    assert os.environ == {"DEBUG": "0", "SECRET_KEY": "from-the-file"}
    load_env_file(tmp_path / "absent")  # no file, nothing to do
    env_file.write_text("DEBUG=1\nexport SECRET_KEY\n")
    with pytest.raises(ImproperlyConfigured, match="line 2: expected NAME=value"):
        load_env_file(env_file)


def secret_key(env_file: Path) -> str:
    return next(line.removeprefix("SECRET_KEY=") for line in env_file.read_text().splitlines()
                if line.startswith("SECRET_KEY="))


def test_the_local_env_file_is_written_once_with_a_random_key_for_its_owner_only(tmp_path):
    first, second = tmp_path / "a" / ".env", tmp_path / "b" / ".env"
    assert write_env_file(first) and write_env_file(second)
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert "DEBUG=1" in first.read_text().splitlines()
    assert len(secret_key(first)) >= 50 and secret_key(first) != secret_key(second)
    text = first.read_text()
    assert write_env_file(first) is False and first.read_text() == text


def test_manage_py_runs_as_written_once_make_has_written_the_local_env_file(tmp_path):
    # What `make migrate` runs first; then a bare `python manage.py ...`, DEBUG and SECRET_KEY unset.
    env = {"LABELSERVER_DATA_DIR": str(tmp_path)}
    written = _python(["-m", "labelserver.env"], env)
    assert written.returncode == 0 and str(tmp_path / ".env") in written.stderr
    result = _check(env)
    assert result.returncode == 0, result.stderr


def test_the_embedded_broker_connects_without_a_no_hostname_warning(caplog):
    from labelserver.celery import app

    with caplog.at_level(logging.WARNING, logger="kombu"), app.connection_for_write() as connection:
        assert connection.info()["hostname"] == "localhost"  # where kombu warned "No hostname was supplied"
    assert not [record for record in caplog.records if record.name.startswith("kombu")]
