"""GET /api/workers/: the live Celery workers, asked of a REAL worker process on a real Redis
broker; what each says it computes on comes from the worker itself."""

from __future__ import annotations

import os
import socket

import pytest
import torch
from django.core.cache import cache

from active_learning import workers
from tests.redis_broker import redis_url  # noqa: F401  (fixture)
from tests.worker import celery_worker_process, start_worker, stop_worker  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def _listed(client) -> list[dict]:
    cache.delete(workers.CACHE_KEY)  # each look is a fresh broadcast, not the cached answer
    response = client.get("/api/workers/")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.slow
def test_it_lists_a_live_worker_with_its_own_device_and_queues(redis_url, admin_client, tmp_path):  # noqa: F811
    worker = start_worker(tmp_path / "worker.log", queues="gpu,default", CELERY_BROKER_URL=redis_url)
    try:
        listed = worker.wait_for(lambda: [w for w in _listed(admin_client) if w["device"]], 60,
                                 "the worker to report its device")
    finally:
        stop_worker(worker)
    [reported] = listed
    assert reported["name"] == f"test-{os.getpid()}@{socket.gethostname()}"  # as tests/worker.py names it
    assert reported["queues"] == ["default", "gpu"]
    if torch.cuda.is_available():
        assert reported["device"]["device"] == "cuda"
        assert reported["device"]["name"] == torch.cuda.get_device_name(0)
        assert reported["device"]["memory_bytes"] > 0
    else:
        assert reported["device"] == {"device": "cpu", "name": "cpu"}
    # Stopped, it no longer answers, so it is no longer listed.
    assert _listed(admin_client) == []


@pytest.mark.slow
def test_it_lists_a_worker_on_the_embedded_broker_too(celery_worker_process, admin_client):  # noqa: F811
    # `make run`'s filesystem broker carries the broadcast and its replies as well.
    listed = celery_worker_process.wait_for(lambda: [w for w in _listed(admin_client) if w["device"]], 60,
                                            "the worker to report its device")
    assert [(w["name"].split("@")[0], w["queues"]) for w in listed] == [(f"test-{os.getpid()}", ["default", "gpu"])]


def test_it_answers_an_empty_list_when_no_worker_answers(redis_url, staff_client):  # noqa: F811
    assert _listed(staff_client) == []


def test_it_lets_only_staff_and_project_admins_see_the_workers(admin_client, outsider_client, labeller_client,
                                                               anon_client):
    cache.set(workers.CACHE_KEY, [], 60)  # who may ask is under test here, not the broker
    assert admin_client.get("/api/workers/").status_code == 200
    assert outsider_client.get("/api/workers/").status_code == 200  # an admin of another project
    assert labeller_client.get("/api/workers/").status_code == 403
    assert anon_client.get("/api/workers/").status_code in (401, 403)
