"""Redis as the Celery broker in tests, as in production (docker-compose.yml).

`LABELSERVER_TEST_REDIS_URL` names a server (.ci/run starts one on loopback); tests that need it
skip without it. Each pytest-xdist worker takes its own Redis database of that server and empties
it before each test, so tests running side by side never see each other's messages. A test that
stops and starts the broker gets a server of its own (`PrivateRedis`), as the shared one must stay up.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from kombu import pools

from labelserver.celery import app

REDIS_URL_VARIABLE = "LABELSERVER_TEST_REDIS_URL"


def shared_redis_url() -> str:
    """The shared server's URL with this pytest-xdist worker's own database number (1, 2, ...)."""
    url = os.environ.get(REDIS_URL_VARIABLE)
    if not url:
        pytest.skip(f"{REDIS_URL_VARIABLE} is not set: no Redis server to use as the broker (.ci/run starts one)")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    database = 1 + int(worker.removeprefix("gw") or 0) % 15
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The shared Redis, emptied, as the broker of this process (the workers get it by CELERY_BROKER_URL)."""
    url = shared_redis_url()
    redis.Redis.from_url(url).flushdb()
    with broker(url):
        yield url


@contextmanager
def broker(url: str) -> Iterator[None]:
    """While inside, this process sends its Celery messages to `url` instead of the settings' broker."""
    saved = app.conf.broker_url, app.conf.broker_transport_options
    _use_broker(url, {"visibility_timeout": 3600})
    try:
        yield
    finally:
        _use_broker(*saved)


def _use_broker(url: str, options: dict) -> None:
    # The connection and producer pools were made for the old URL; they are made again on use.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.broker_url, app.conf.broker_transport_options = url, options


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A redis-server of one test's own, on a free loopback port, that the test may stop and start.
    Its messages are kept in an append-only file, as docker-compose.yml keeps production's."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (.ci/run installs it)")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                   "--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        log = open(self.folder / "redis.log", "a")  # noqa: SIM115  (closed with the process)
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = self.client()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start:\n{(self.folder / 'redis.log').read_text()}")

    def stop(self) -> None:
        """SIGTERM: Redis writes what it has and exits, as on a restart of its container."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    try:
        with broker(server.url):
            yield server
    finally:
        server.stop()
