"""The live Celery workers and what each computes on, for admins (the Training page).

Each worker finds out its device once, when it is ready, and answers the `labelserver_worker`
remote-control command with that and the queues it consumes. Asking is one broadcast with a short
timeout: a worker that does not answer within it (dead, or cut off from the broker) is not listed.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from celery.worker.control import inspect_command
from django.conf import settings
from django.core.cache import cache
from kombu.exceptions import OperationalError

from labelserver.celery import app
from labelserver.errors import DomainError

logger = logging.getLogger(__name__)

COMMAND = "labelserver_worker"
REPLY_TIMEOUT_SECONDS = 1.0
MAX_WORKERS = 100
# Several admins' pages polling at once cost one broadcast per this many seconds.
CACHE_SECONDS = 3
CACHE_KEY = "labelserver:live-workers"
PROBE_TIMEOUT_SECONDS = 120
_DEVICE_FIELDS = ("device", "name", "memory_bytes", "count", "error")
_PROJECT_ROOT = Path(__file__).resolve().parent.parent

_device: dict[str, Any] | None = None  # in a worker's main process, once its probe has answered


class BrokerUnreachable(DomainError):
    code = "broker_unreachable"
    http_status = 503


def probe_device() -> dict[str, Any]:
    """The device this machine's jobs use, asked of a separate process: a prefork worker forks the
    processes that run jobs from its main process, and CUDA breaks in a child forked after the
    parent touched it."""
    command = [sys.executable, "-m", "active_learning.backends.device", str(settings.LABELSERVER["DEVICE"])]
    try:
        done = subprocess.run(command, cwd=_PROJECT_ROOT, capture_output=True, text=True, check=True,
                              timeout=PROBE_TIMEOUT_SECONDS)
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, ValueError, IndexError) as exc:
        logger.warning("the device probe failed: %s", exc)
        return {"device": "unknown", "error": f"the device probe failed: {exc}"[:300]}


def start_device_probe() -> None:
    """In a worker's main process: probe in the background, so the worker consumes at once."""
    threading.Thread(target=_record_device, name="device-probe", daemon=True).start()


def _record_device() -> None:
    global _device
    _device = probe_device()
    logger.info("this worker computes on %s", _device)


@inspect_command(name=COMMAND)
def labelserver_worker(state: Any, **kwargs: Any) -> dict[str, Any]:
    """Answered by each worker's main process; `device` is None until its probe has answered."""
    queues = sorted(queue.name for queue in state.consumer.task_consumer.queues)
    return {"device": _device, "queues": queues}


def live_workers() -> list[dict[str, Any]]:
    """The workers that answer within REPLY_TIMEOUT_SECONDS, by name: {"name", "device", "queues"}."""
    workers = cache.get(CACHE_KEY)
    if workers is None:
        workers = _ask_workers()
        cache.set(CACHE_KEY, workers, CACHE_SECONDS)
    return workers


def _ask_workers() -> list[dict[str, Any]]:
    try:
        replies = app.control.broadcast(COMMAND, reply=True, timeout=REPLY_TIMEOUT_SECONDS) or []
    except OperationalError as exc:
        raise BrokerUnreachable(f"the Celery broker did not answer: {exc}") from None
    workers = [_worker(name, answer) for reply in replies for name, answer in reply.items()]
    return sorted(workers, key=lambda worker: worker["name"])[:MAX_WORKERS]


def _worker(name: str, answer: Any) -> dict[str, Any]:
    # A worker running other code answers {"error": "No such command"}: alive, device unknown.
    answer = answer if isinstance(answer, dict) else {}
    device = answer.get("device")
    device = {key: device[key] for key in _DEVICE_FIELDS if key in device} if isinstance(device, dict) else None
    queues = answer.get("queues") if isinstance(answer.get("queues"), list) else []
    return {"name": str(name)[:200], "device": device, "queues": [str(queue)[:200] for queue in queues[:50]]}
