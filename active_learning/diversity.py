"""Batch selection for the head of the queue: crops the model doubts, typical of the pool rather
than its oddities, and not ten near-identical ones.

Crops are compared by the model's style vector (Cellpose's 256-d, unit-norm image embedding),
stored per crop as a short random projection (see `compress_style`)."""

from __future__ import annotations

import base64

import numpy as np
from sklearn.cluster import KMeans

# Style vectors are stored projected to this many dimensions (float16): random projections keep
# distances to within ~1/sqrt(dims), plenty to tell near-copies from different crops.
STYLE_DIMS = 64
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


TYPICALITY_NEIGHBOURS = 20  # TypiClust's


def typicality(embeddings: np.ndarray, neighbours: int = TYPICALITY_NEIGHBOURS) -> np.ndarray:
    """1 / the mean cosine distance to a crop's nearest neighbours: high in dense regions."""
    distances = cosine_distances(embeddings, embeddings)
    np.fill_diagonal(distances, np.inf)
    k = max(min(neighbours, len(embeddings) - 1), 1)
    nearest = np.sort(distances, axis=1)[:, :k]
    return 1.0 / np.maximum(np.where(np.isfinite(nearest), nearest, 0).mean(axis=1), 1e-9)


# Clusters that take turns in `representative_order`: about what labellers label between two
# model versions, so that batch is one crop of each; fewer in small pools, so that a cluster has
# crops enough for typicality to mean something (TypiClust leaves out clusters under 5).
CLUSTERS = 10
MIN_CLUSTER_SIZE = 5


def representative_order(utility: np.ndarray, embeddings: np.ndarray, k: int, clusters: int = CLUSTERS,
                         seed: int = 0) -> list[int]:
    """Pick up to `k` candidates in order: useful, typical and different (after diverse
    mini-batch active learning, Zhdanov 2019, and TypiClust, Hacohen et al. 2022). The useful
    candidates' styles are clustered by k-means weighted by utility, so that clusters sit where
    much of the pool's doubt is. Within a cluster, crops go by utility times typicality (1 / mean
    style distance to their nearest neighbours), so a cluster offers a crop the model doubts
    that is like many others, not an oddity; the clusters take turns, the heaviest (most summed
    utility) first. A near-copy of a pick thus waits until every other cluster has had a turn,
    and an outlier, typical of nothing, waits in its cluster. Typicality is compared only within
    a cluster: the pool's sparse regions (a dim experiment whose crops differ a lot) still get
    their turns. Candidates of no use (utility 0: blank, or certain) come last, in utility
    order; without distinct styles, or with fewer than 2 * MIN_CLUSTER_SIZE useful candidates,
    the order is utility times typicality.

    Why not one global order: re-picking the utility order greedily for distance to the picks
    sought outliers when scaled by the farthest candidate (docs/benchmarks.md, Run 5), and
    multiplying it by global typicality swung the picks from one experiment to the other
    (docs/benchmarks.md, "What comes next" after Run 7)."""
    useful = np.clip(np.nan_to_num(np.asarray(utility, dtype=np.float64)), 0, None)
    k = min(k, len(useful))
    candidates = np.flatnonzero(useful > 0)
    rest = [int(i) for i in np.argsort(-useful, kind="stable") if useful[i] <= 0]
    x = unit_rows(np.asarray(embeddings, dtype=np.float64)[candidates])
    n_clusters = min(clusters, len(candidates) // MIN_CLUSTER_SIZE, len(np.unique(x, axis=0)))
    value = useful[candidates] * typicality(x) if len(candidates) > 1 else useful[candidates]
    if n_clusters <= 1:
        return ([int(i) for i in candidates[np.argsort(-value, kind="stable")]] + rest)[:k]
    kmeans = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit(x, sample_weight=useful[candidates])
    weight = np.bincount(kmeans.labels_, weights=useful[candidates], minlength=n_clusters)
    queues = [list(candidates[members[np.argsort(-value[members], kind="stable")]])
              for members in (np.flatnonzero(kmeans.labels_ == c) for c in np.argsort(-weight, kind="stable"))]
    picked: list[int] = []
    while len(picked) < min(k, len(candidates)):
        picked.extend(int(q.pop(0)) for q in queues if q)
    return (picked + rest)[:k]
