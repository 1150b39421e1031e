"""Diversity-aware batch selection: the head of the queue should not be ten near-identical crops.

Crops are compared by the model's style vector (Cellpose's 256-d, unit-norm image embedding),
stored per crop as a short random projection (see `compress_style`)."""

from __future__ import annotations

import base64

import numpy as np

# Style vectors are stored projected to this many dimensions (float16): random projections keep
# distances to within ~1/sqrt(dims), plenty to tell near-copies from different crops.
STYLE_DIMS = 64
# Cosine distances below this are "the same kind of crop" (Cellpose styles: <= 0.006 between a
# crop and a noisy copy, 0.07-0.13 between different crops): spread is scaled by at least this.
SAME_CROP_DISTANCE = 0.02
_PROJECTION_SEED = 20240611


def unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x, dtype=np.float64), where=norms > 0)


def _projection(dims_in: int) -> np.ndarray:
    rng = np.random.default_rng(_PROJECTION_SEED + dims_in)
    return rng.standard_normal((dims_in, STYLE_DIMS)) / np.sqrt(STYLE_DIMS)


def compress_style(style: np.ndarray) -> str:
    """A style vector as base64 float16 of its unit-norm random projection (~170 characters)."""
    style = np.asarray(style, dtype=np.float64).ravel()
    projected = unit_rows((style @ _projection(style.size))[None, :])[0]
    return base64.b64encode(projected.astype(np.float16).tobytes()).decode("ascii")


def expand_style(encoded: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded), dtype=np.float16).astype(np.float64)


def cosine_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 1.0 - unit_rows(x) @ unit_rows(y).T


def greedy_k_centre(embeddings: np.ndarray, k: int, first: int = 0) -> list[int]:
    """Farthest-first traversal: each pick is the point farthest from all points picked so far."""
    picked = [first]
    nearest = cosine_distances(embeddings, embeddings[[first]])[:, 0]
    while len(picked) < min(k, len(embeddings)):
        nearest[picked] = -np.inf
        picked.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, cosine_distances(embeddings, embeddings[[picked[-1]]])[:, 0])
    return picked


def diverse_order(utility: np.ndarray, embeddings: np.ndarray, k: int, diversity: float = 0.5,
                  groups: np.ndarray | None = None) -> list[int]:
    """Pick up to `k` candidates in order. The first is the most useful; each next one maximises
    utility * (1 - diversity + diversity * spread), where spread is its distance to the nearest
    crop already picked, relative to the median such distance over the candidates and capped at
    1. A near-copy of a picked crop thus counts for (1 - diversity) of its utility, a crop at
    least as far from the picks as the median candidate for all of it; a crop of no use
    (utility 0: blank, or certain) is never promoted for being different. The cap keeps
    diversity from seeking outliers: scaled by the farthest candidate instead (farthest-first,
    as in k-centre), the odd crops far from everything won the head, and a uniform random order
    beat the same order re-picked that way (docs/decisions/0003-diversity-rule.md). diversity=0
    is plain utility order.

    `groups` (e.g. each crop's image): a crop of a group that already has a pick counts as a
    near-copy (spread 0), until every group left has a pick; then a new cycle over the groups
    begins. Crops of one image share its sample, stain and focus, and style distances alone do
    not see that: in a simulation whole batches came from the few images of one experiment
    (docs/decisions/0003-diversity-rule.md)."""
    useful = np.clip(np.asarray(utility, dtype=np.float64), 0, None)
    k = min(k, len(useful))
    if k == 0:
        return []
    picked = [int(np.argmax(useful))]
    nearest = cosine_distances(embeddings, embeddings[[picked[0]]])[:, 0]
    available = np.ones(len(useful), dtype=bool)
    available[picked[0]] = False
    covered = np.zeros(len(useful), dtype=bool)  # in a group that has a pick in this cycle
    while len(picked) < k:
        if groups is not None:
            last = groups == groups[picked[-1]]
            covered = last if (covered | last)[available].all() else covered | last  # a new cycle
            if covered[available].all():  # one group left: the rule prefers nothing
                covered = np.zeros(len(useful), dtype=bool)
        distance = np.where(covered, 0.0, np.clip(nearest, 0, None))
        free = available & (distance > 0)
        typical = float(np.median(distance[free])) if free.any() else 0.0
        spread = np.minimum(distance / max(typical, SAME_CROP_DISTANCE), 1.0)
        value = np.where(available, useful * (1 - diversity + diversity * spread), -np.inf)
        picked.append(int(np.argmax(value)))
        available[picked[-1]] = False
        nearest = np.minimum(nearest, cosine_distances(embeddings, embeddings[[picked[-1]]])[:, 0])
    return picked
