"""An S3 API endpoint on loopback for the tests of object storage (STORAGE_BACKEND=s3).

The server is moto's standalone server (`moto[server]`, requirements-dev.txt), run as
`python -m moto.server` in a process of its own, not `ThreadedMotoServer` in the test process:
like MinIO in production it is a separate server that the test process, a gunicorn web process
and a Celery worker reach over HTTP, and its request handling never competes for the test
process's interpreter lock with the threads a test runs. MinIO itself is a binary download, not a
Python package; moto speaks the same S3 REST API (buckets, objects, signed GETs, HEAD) and
installs with pip. Tests skip, saying so, when moto is not installed.

Each pytest-xdist worker starts one server for its whole run; each test gets a bucket of its own.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# moto accepts any keys; real ones are never needed.
ACCESS_KEY = "labelserver-test"
SECRET_KEY = "labelserver-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Endpoint:
    url: str

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def storage_options(self, bucket: str) -> dict[str, Any]:
        """The OPTIONS of labelserver.storage.ObjectStorage for `bucket`, as settings.py builds them."""
        return {"bucket_name": bucket, "endpoint_url": self.url, "public_endpoint_url": None, "region_name": REGION,
                "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "location": "", "addressing_style": "path",
                "signature_version": "s3v4", "querystring_expire": 60, "file_overwrite": False, "default_acl": None}

    def environment(self, bucket: str) -> dict[str, str]:
        """The environment of a process that stores its files in `bucket` (docs/configuration.md)."""
        return {"STORAGE_BACKEND": "s3", "S3_BUCKET": bucket, "S3_ENDPOINT_URL": self.url, "S3_REGION": REGION,
                "S3_ACCESS_KEY_ID": ACCESS_KEY, "S3_SECRET_ACCESS_KEY": SECRET_KEY}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto's server did not listen on port {port} within {timeout:.0f} s")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[S3Endpoint]:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        pytest.skip("moto[server] is not installed: no S3 server to test object storage against "
                    "(pip install -r requirements-dev.txt)")
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_up(port, process, log)
        yield S3Endpoint(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class S3Bucket:
    endpoint: S3Endpoint
    name: str

    def keys(self) -> list[str]:
        listing = self.endpoint.client().list_objects_v2(Bucket=self.name)
        return sorted(entry["Key"] for entry in listing.get("Contents", ()))


@pytest.fixture
def s3_storage(settings, s3_endpoint) -> S3Bucket:
    """This process stores its files in a fresh bucket of the loopback S3 server."""
    bucket = S3Bucket(s3_endpoint, s3_endpoint.new_bucket())
    settings.STORAGE_BACKEND = "s3"
    settings.STORAGE_CACHE_DIR = settings.MEDIA_ROOT.parent / "storage-cache"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "labelserver.storage.ObjectStorage", "OPTIONS": s3_endpoint.storage_options(bucket.name)}}
    return bucket
