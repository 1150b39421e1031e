"""What a worker computes on, as PyTorch sees it: the device a job there would use, with the GPU's
name and memory when it is a CUDA device.

A prefork Celery worker forks its job processes from the main process, and CUDA does not survive a
fork once the parent has touched it, so the main process never asks PyTorch itself: it runs this
module as a short-lived process (`python -m active_learning.backends.device auto`), which prints
the answer as one line of JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def describe_device(setting: str = "auto") -> dict[str, Any]:
    """{"device": "cuda"|"mps"|"cpu", "name": ..., "memory_bytes": ... (CUDA only)} for the device
    that LABELSERVER_DEVICE=`setting` resolves to here, or {"device": "unavailable", "error": ...}."""
    import torch

    from active_learning.backends.base import BackendError
    from active_learning.backends.cellpose import resolve_device

    try:
        device = resolve_device(setting)
    except BackendError as exc:
        return {"device": "unavailable", "error": str(exc)}
    if device.type != "cuda":
        return {"device": device.type, "name": device.type}
    index = device.index if device.index is not None else torch.cuda.current_device()
    properties = torch.cuda.get_device_properties(index)
    return {"device": "cuda", "name": properties.name, "memory_bytes": int(properties.total_memory),
            "count": torch.cuda.device_count()}


if __name__ == "__main__":
    print(json.dumps(describe_device(sys.argv[1] if len(sys.argv) > 1 else "auto")))
