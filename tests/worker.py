"""A real Celery worker process for tests about jobs.

It consumes the same embedded (filesystem) broker as the test process and uses the test
database, so tests that use it must be `django_db(transaction=True)`: the worker only sees
committed rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parent.parent


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, predicate, timeout: float, what: str, poll: float = 0.5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited while waiting for {what}:\n{self.log()[-4000:]}")
            time.sleep(poll)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; worker log:\n{self.log()[-4000:]}")


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="labelserver.settings",
        DEBUG="1",
        DATABASE_URL=database_url(),
        LABELSERVER_DATA_DIR=str(settings.DATA_DIR),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        CELLPOSE_LOCAL_MODELS_PATH=str(settings.LABELSERVER["CELLPOSE_MODELS_DIR"]),
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),  # under pytest-xdist: the worker's share (conftest)
    )
    env.update(extra)
    return env


def start_worker(log_path: Path, *, queues: str = "gpu,default", name: str = "", **env: str) -> WorkerProcess:
    """A worker on `queues`; give each of several workers at once its own `name` (a worker that
    starts under a name fails the jobs left running under it, as after a restart)."""
    cmd = [
        sys.executable, "-m", "celery", "-A", "labelserver", "worker", "-Q", queues, "--concurrency", "1",
        "--max-tasks-per-child", "1", "--hostname", f"{name or f'test-{os.getpid()}'}@%h", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    handle = open(log_path, "w")  # noqa: SIM115  (closed with the process)
    process = subprocess.Popen(cmd, cwd=REPO, env=worker_env(**env), stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)
    worker = WorkerProcess(process, log_path)
    worker.wait_for(lambda: "ready." in worker.log(), 90, "the worker to start")
    return worker


def stop_worker(worker: WorkerProcess) -> None:
    if worker.process.poll() is None:
        os.killpg(worker.process.pid, 15)
        try:
            worker.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.process.pid, 9)
            worker.process.wait()


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path) -> Iterator[WorkerProcess]:
    # Messages left by an earlier run would only name jobs that no longer exist; start clean.
    shutil.rmtree(settings.CELERY_BROKER_DIR, ignore_errors=True)
    for key in ("data_folder_in", "control_folder"):
        os.makedirs(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key], exist_ok=True)
    worker = start_worker(tmp_path / "worker.log")
    yield worker
    stop_worker(worker)
