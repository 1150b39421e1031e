"""Click to cell: a labeller's click (or box) on a leased crop turns into proposed cells.

Proposals come from the maps the serving model version's prediction job stored for the crop
(`Prediction.maps`), so no network runs: the flows are followed again around the click
(backends/proposals.py). Where the crop has no such maps (the project has no model yet, or its
prediction is from before maps were kept) the proposal is classical (threshold + watershed of the
crop's pixels) and says so.

Bounded: one proposal at a time per labeller (a second, while the first runs, is refused with 429
"proposal_busy"; the lock lives in the cache, so it holds across server processes), and a time
limit that the flow following checks between its steps (it answers with what it found by then).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.utils import timezone

from active_learning.backends import proposals as backend
from active_learning.backends.threads import set_cpu_threads
from active_learning.models import Prediction
from active_learning.selectors import newest_prediction
from annotations.imaging import read_crop_pixels
from annotations.leases import lease_conflict
from annotations.masks import decode_png
from annotations.models import Crop
from labelserver.errors import DomainError

# The flow following stops trying more thresholds after this (its p95 is ~50 ms on 2 CPU cores,
# bench/click_to_cell.py): a cap that keeps a pathological crop from holding a server thread.
TIME_LIMIT_S = 0.5
LOCK_S = 30  # a lock left by a crashed process frees itself after this
DEFAULT_DIAMETER = 30.0  # pixels, when neither a prediction nor an annotation shows the cells
MIN_DIAMETER, MAX_DIAMETER = 6.0, 120.0

NO_MODEL = "no model yet: a classical proposal (threshold + watershed)"
NO_MAPS = "this crop's prediction keeps no flows (predict again): a classical proposal (threshold + watershed)"


class ProposalBusy(DomainError):
    code = "proposal_busy"
    http_status = 429


@dataclass(frozen=True)
class ProposalResult:
    mask: np.ndarray  # uint16, crop-sized, proposed cells 1..cells
    cells: int
    model_version: int | None
    method: str  # "flows" or "classical"
    message: str | None


def propose(*, crop: Crop, user: AbstractBaseUser, mode: str, x: float | None = None, y: float | None = None,
            box: tuple[float, float, float, float] | None = None, cell: np.ndarray | None = None) -> ProposalResult:
    """Propose cells on a crop the user holds a live lease on (409 otherwise)."""
    if not Crop.objects.filter(id=crop.id, leased_by_id=user.pk, lease_expires_at__gt=timezone.now()).exists():
        raise lease_conflict(crop.id, user, timezone.now())
    with one_at_a_time(user):
        prediction = newest_prediction(crop)
        if prediction is not None and prediction.maps:
            return _from_flows(prediction, mode, x, y, box, cell)
        return _classical(crop, prediction, mode, x, y, box, cell)


@contextmanager
def one_at_a_time(user: AbstractBaseUser) -> Iterator[None]:
    key = f"proposal-running:{user.pk}"
    if not cache.add(key, 1, timeout=LOCK_S):
        raise ProposalBusy("another proposal of yours is still running; try again when it is done")
    try:
        yield
    finally:
        cache.delete(key)


def _from_flows(prediction: Prediction, mode: str, x: float | None, y: float | None,
                box: tuple[float, float, float, float] | None, cell: np.ndarray | None) -> ProposalResult:
    maps = backend.unpack_maps(bytes(prediction.maps or b""))
    diameter = cell_diameter(decode_png(bytes(prediction.mask_png)))
    if mode == "box":
        assert box is not None
        proposal = backend.propose_box(maps, box, diameter=diameter, seconds=TIME_LIMIT_S)
    elif mode == "redo":
        assert x is not None and y is not None and cell is not None
        proposal = backend.propose_redo(maps, x, y, cell > 0, diameter=diameter, seconds=TIME_LIMIT_S)
    else:
        assert x is not None and y is not None
        proposal = backend.propose_point(maps, x, y, diameter=diameter, seconds=TIME_LIMIT_S)
    return ProposalResult(proposal.mask, proposal.cells, prediction.model_version.number, "flows", proposal.message)


def _classical(crop: Crop, prediction: Prediction | None, mode: str, x: float | None, y: float | None,
               box: tuple[float, float, float, float] | None, cell: np.ndarray | None) -> ProposalResult:
    """Threshold + watershed of the crop's pixels; a redo is a click at the cell's point that
    must differ from the given cell as a flow redo must."""
    image = read_crop_pixels(crop)
    diameter = cell_diameter(decode_png(bytes(prediction.mask_png))) if prediction else DEFAULT_DIAMETER
    if mode == "box":
        assert box is not None
        proposal = backend.classical_box(image, box, diameter=diameter)
    else:
        assert x is not None and y is not None
        proposal = backend.classical_point(image, x, y, diameter=diameter)
        if mode == "redo" and cell is not None and not backend.differs(proposal, cell > 0):
            proposal = backend.Proposal(np.zeros_like(proposal.mask), 0, backend.NOTHING_BETTER)
    message = NO_MAPS if prediction is not None else NO_MODEL
    if proposal.message:
        message = f"{proposal.message} ({message})"
    version = prediction.model_version.number if prediction is not None else None
    return ProposalResult(proposal.mask, proposal.cells, version, "classical", message)


def cell_diameter(labels: np.ndarray) -> float:
    """The median equivalent diameter of the cells in a label image (what the window is sized by)."""
    _, counts = np.unique(labels[labels > 0], return_counts=True)
    if counts.size == 0:
        return DEFAULT_DIAMETER
    diameter = float(2 * np.sqrt(np.median(counts) / np.pi))
    return min(MAX_DIAMETER, max(MIN_DIAMETER, diameter))


def proposal_payload(result: ProposalResult) -> dict[str, Any]:
    """What the API answers (the mask still as an array; the serializer encodes it)."""
    return {"mask": result.mask, "cells": result.cells, "model_version": result.model_version,
            "method": result.method, "message": result.message}


def warm_up(torch_threads: int = 1) -> None:
    """For a web process as it starts: PyTorch on one thread, then import Cellpose and compile its
    flow steps (7-10 s). On a labeller's first click instead, the import stalls every request of
    that process meanwhile (measured: 11 s at the p95 of the clicks that met it); and with
    PyTorch's default two threads, concurrent proposals oversubscribe the cores: with 5 labellers
    clicking once a second, proposals took p50 114 / p95 225 ms against 55 / 94 ms on one thread
    (bench/click_to_cell_http.py)."""
    set_cpu_threads(torch_threads)
    backend.warm_up()
