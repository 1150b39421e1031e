"""A web host and a worker host that share no folder: only the database, the broker and an S3 store.

The web server (gunicorn) and a Celery worker run as processes of their own, each with its own
data folder (and so its own MEDIA_ROOT, storage cache and scratch), as on two hosts
(docs/deploy.md). The web server stores the uploads in the store; the worker ingests them,
trains and predicts reading the crops from the store and writing the weights back to it, and
exports the project into the store; the web server serves those weights, the crops and the
export to their users.

What they share: the test database (PostgreSQL when `make test` runs its second pass with
LABELSERVER_TEST_POSTGRES_URL, else the test process's SQLite file: these processes run on one
machine, where SQLite's file locking is sound, and the database is not what is under test here);
the embedded filesystem broker's folder (a link in each data folder to one folder: the only
broker that needs no server); and the S3 API of moto's server on loopback (tests/s3_server.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token

from active_learning.models import Job, JobKind, JobStatus, ModelVersion
from annotations.models import Image, Role, Split
from tests.factories import add_member, make_project, make_user
from tests.worker import REPO, WorkerProcess, start_worker, stop_worker, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SIDE = 256
# As tests/test_worker_jobs.py: the jobs and the files are under test, not what the network learns.
FAST_TRAINING = {"train": {"n_epochs": 2, "batch_size": 4, "crops_per_epoch": 4}, "predict": {"diameter": 30},
                 "seed": 1}


def _host_folder(root: Path, broker: Path) -> Path:
    """A data folder of its own, whose broker folder is the shared one."""
    root.mkdir()
    (root / "broker").symlink_to(broker, target_is_directory=True)
    return root


def _host_env(folder: Path, bucket) -> dict[str, str]:
    return {"LABELSERVER_DATA_DIR": str(folder), "MEDIA_ROOT": str(folder / "media"),
            "CELLPOSE_LOCAL_MODELS_PATH": str(folder / "cellpose-models"), **bucket.endpoint.environment(bucket.name)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_web(folder: Path, bucket, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    # An empty config file instead of gunicorn.conf.py: its warm-up imports Cellpose (7-10 s)
    # for the labellers' assist, which this test does not use.
    config = folder / "gunicorn.conf.py"
    config.write_text("")
    command = [sys.executable, "-m", "gunicorn", "labelserver.wsgi:application", "--config", str(config),
               "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "120", "--no-control-socket"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=worker_env(**_host_env(folder, bucket)), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the web server exited:\n{log_path.read_text()[-4000:]}")
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return process, base
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the web server did not answer /healthz:\n{log_path.read_text()[-4000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _session(user) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    return session


def _upload(admin: requests.Session, base: str, project_id: int, pair: tuple[Path, Path], folder: Path,
            worker: WorkerProcess, *, split: str, labelled: bool) -> None:
    """The top-left SIDE x SIDE of a shipped image (and its labels), uploaded through the web server
    and ingested by the worker."""
    image, mask = folder / pair[0].name, folder / f"{pair[0].stem}_masks.png"
    PILImage.fromarray(np.array(PILImage.open(pair[0]))[:SIDE, :SIDE]).save(image)
    PILImage.fromarray(np.array(PILImage.open(pair[1]))[:SIDE, :SIDE]).save(mask)
    files = {"file": (image.name, image.read_bytes())}
    if labelled:
        files["mask"] = (mask.name, mask.read_bytes())
    answer = admin.post(f"{base}/api/projects/{project_id}/images/", files=files, timeout=60)
    assert answer.status_code == 202, answer.text
    job = worker.wait_for(lambda: _ended(answer.json()["id"]), 120, "the ingest job")
    assert job.status == JobStatus.SUCCEEDED, job.error + job.log
    image_id = job.result["image"]
    assert admin.patch(f"{base}/api/images/{image_id}/", json={"split": split}, timeout=10).status_code == 200


def _fetch_signed(answer: requests.Response) -> bytes:
    """Follow the web server's redirect as a browser would: the signed URL alone, no credentials."""
    assert answer.status_code == 302, answer.text
    assert "private" in answer.headers["Cache-Control"]
    with urllib.request.urlopen(answer.headers["Location"], timeout=10) as stored:
        return stored.read()


def _media_files(folder: Path) -> list[Path]:
    """Files under a host's MEDIA_ROOT (its scratch, with an object store): none once jobs and uploads end."""
    return [p for p in (folder / "media").rglob("*") if p.is_file()]


def _ended(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) else None


def test_a_worker_on_another_host_trains_and_predicts_through_the_object_store(s3_storage, u2os_pairs, tmp_path):
    broker = tmp_path / "broker"
    for key in ("queue", "control"):
        (broker / key).mkdir(parents=True)
    web_folder = _host_folder(tmp_path / "web-host", broker)
    worker_folder = _host_folder(tmp_path / "gpu-host", broker)
    project = make_project("two hosts", crop_size=128, backend_settings=FAST_TRAINING)
    admin, labeller = make_user("admin"), make_user("labeller")
    add_member(project, admin, Role.ADMIN)
    add_member(project, labeller)

    web, base = _start_web(web_folder, s3_storage, tmp_path / "web.log")
    worker: WorkerProcess | None = None
    try:
        worker = start_worker(tmp_path / "worker.log", **_host_env(worker_folder, s3_storage))
        as_admin, as_labeller = _session(admin), _session(labeller)
        for pair, split, labelled in zip(u2os_pairs[:3], (Split.TRAIN, Split.VALIDATION, Split.TRAIN),
                                         (True, True, False), strict=True):
            _upload(as_admin, base, project.pk, pair, tmp_path, worker, split=split, labelled=labelled)

        started = as_admin.post(f"{base}/api/projects/{project.pk}/jobs/", json={"kind": JobKind.TRAIN}, timeout=10)
        assert started.status_code == 201, started.text
        train = worker.wait_for(lambda: _ended(started.json()["id"]), 300, "the training job")
        assert train.status == JobStatus.SUCCEEDED, train.error + train.log
        predict = Job.objects.get(kind=JobKind.PREDICT, trigger="promotion")
        predict = worker.wait_for(lambda: _ended(predict.pk), 300, "the prediction job")
        assert predict.status == JobStatus.SUCCEEDED, predict.error + predict.log

        # The weights the worker trained are in the store, and the web server serves them.
        version = ModelVersion.objects.get(project=project, training_job=train)
        assert version.weights.name in s3_storage.keys()
        weights = _fetch_signed(as_admin.get(f"{base}/api/model-versions/{version.pk}/weights/",
                                             allow_redirects=False, timeout=10))
        assert hashlib.sha256(weights).hexdigest() == version.weights_sha256

        # The labeller's next crop carries the new version's prediction, and its display PNG.
        crop = as_labeller.post(f"{base}/api/projects/{project.pk}/next/", json={}, timeout=10).json()
        assert crop["prediction"] is not None and crop["prediction"]["model_version"]["number"] == version.number
        display = _fetch_signed(as_labeller.get(f"{base}{crop['display_url']}", allow_redirects=False, timeout=10))
        assert display.startswith(b"\x89PNG")

        # The worker writes the export into the store; the web server hands it to the admin.
        queued = as_admin.post(f"{base}/api/projects/{project.pk}/export/", json={"format": "coco", "model": "active"},
                               timeout=10)
        assert queued.status_code == 202, queued.text
        export = worker.wait_for(lambda: _ended(queued.json()["id"]), 120, "the export job")
        assert export.status == JobStatus.SUCCEEDED, export.error + export.log
        assert export.result["file"] in s3_storage.keys()
        archive = _fetch_signed(as_admin.get(f"{base}{export.result['download']}", allow_redirects=False, timeout=10))
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            assert "coco/annotations.json" in bundle.namelist()
            manifest = json.loads(bundle.read("manifest.json"))
            weights = bundle.read(manifest["model_version"]["weights"])
            assert hashlib.sha256(weights).hexdigest() == version.weights_sha256
    finally:
        if worker is not None:
            stop_worker(worker)
        _stop(web)

    # Neither host kept a stored file of its own: the originals the web server received, the
    # crops it rendered and the weights the worker wrote are all in the bucket alone.
    originals = set(Image.objects.filter(project=project).values_list("file", flat=True))
    assert originals <= set(s3_storage.keys()) and len(originals) == 3
    assert _media_files(web_folder) == [] and _media_files(worker_folder) == []
    # The worker read the originals from its own cache, copied from the store.
    assert {p.name for p in (worker_folder / "storage-cache" / "images").rglob("*") if p.is_file()} == \
        {Path(name).name for name in originals}
