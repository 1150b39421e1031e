"""The queue's ranking: a model version's stored scores -> each waiting crop's `queue_score`
(larger is served first, 0 = not ranked) and `queue_reason`; the order of a split's waiting crops
is described in active_learning/queue/__init__.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from active_learning.diversity import diverse_order, expand_style
from active_learning.evaluation import errors_by_crop
from active_learning.models import CropScore, ModelVersion
from active_learning.scoring import DESCRIPTOR
from active_learning.strategies import (
    DEFAULT_STRATEGY,
    Calibration,
    Strategy,
    UnknownStrategy,
    get_strategy,
)
from active_learning.strategies.random import uniform_hash
from active_learning.versions import active_version
from annotations.models import Crop, CropStatus, Project, Split

logger = logging.getLogger(__name__)

# The top of the train queue (about what labellers label between two model versions) is picked
# for diversity among this many times as many of the best-scored crops.
DIVERSE_HEAD = 200
DIVERSE_POOL_FACTOR = 5
DIVERSITY = 0.5
WRITE_CHUNK = 5000

REASON_CONTROL = "random-control"
REASON_UNSCORED = "random-unscored"
REASON_COLD_START = "random-cold-start"
REASON_VALIDATION = "random-validation"


# --- Ranking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingSummary:
    strategy: str
    model_version: int | None  # the version number whose scores ranked the queue
    ranked: int
    by_reason: dict[str, int] = field(default_factory=dict)
    written: int = 0
    seconds: float = 0.0
    fitted_weights: dict[str, float] = field(default_factory=dict)  # a calibrating strategy's mix

    def __str__(self) -> str:
        version = f"version {self.model_version}" if self.model_version else "no model scores"
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.by_reason.items())) or "no crop waiting"
        weights = ", ".join(f"{name} {w:.3f}" for name, w in self.fitted_weights.items())
        fitted = f"; weights fitted on the validation crops: {weights}" if weights else ""
        return (f"ranked {self.ranked} crops with {self.strategy} ({version}): {reasons}; "
                f"{self.written} rows written{fitted}")


@dataclass
class _Pool:
    ids: np.ndarray  # crop ids, ascending
    image: np.ndarray  # each crop's image id
    split: np.ndarray
    old_score: np.ndarray
    old_reason: np.ndarray


def project_strategy(project: Project) -> Strategy:
    try:
        return get_strategy(project.strategy)
    except UnknownStrategy:
        logger.warning("project %s has unknown strategy %r; ranking with %s", project.pk, project.strategy,
                       DEFAULT_STRATEGY)
        return get_strategy(DEFAULT_STRATEGY)


def ranking_version(project: Project) -> ModelVersion | None:
    """The version whose scores rank the queue: the active one once it has scored crops; until
    then (while its scoring runs) the latest version that served before it and has scores."""
    scored = Exists(CropScore.objects.filter(model_version=OuterRef("pk"), strategy=DESCRIPTOR))
    active = active_version(project)
    if active is not None and ModelVersion.objects.filter(pk=active.pk).filter(scored).exists():
        return active
    served = ModelVersion.objects.filter(project=project, promoted_at__isnull=False).filter(scored)
    return served.order_by("-promoted_at").first()


def _pool(project: Project) -> _Pool:
    rows = Crop.objects.filter(project=project).exclude(status=CropStatus.LABELLED).order_by("id")
    columns = list(zip(*rows.values_list("id", "image_id", "split", "queue_score", "queue_reason"), strict=True))
    if not columns:
        columns = [(), (), (), (), ()]
    return _Pool(
        ids=np.array(columns[0], dtype=np.int64),
        image=np.array(columns[1], dtype=np.int64),
        split=np.array(columns[2], dtype=object),
        old_score=np.array(columns[3], dtype=np.float64),
        old_reason=np.array(columns[4], dtype=object),
    )


def _columns(version: ModelVersion | None, names: Iterable[str], ids: np.ndarray, *,
             only_these: bool = False) -> dict[str, np.ndarray]:
    """Each component's stored score per crop of `ids` (ascending; NaN: not scored, or
    unavailable). The pool reads all of the version's rows; `only_these` asks the database for
    just these crops' rows (a few crops, beside a large pool)."""
    columns = {name: np.full(len(ids), np.nan) for name in names}
    if version is None or not len(ids):
        return columns
    for name in columns:
        rows = CropScore.objects.filter(model_version=version, strategy=name, score__gte=0)
        if only_these:
            rows = rows.filter(crop_id__in=ids.tolist())
        crop_ids, scores = _arrays(rows.values_list("crop_id", "score"))
        at = np.minimum(np.searchsorted(ids, crop_ids), len(ids) - 1)
        in_pool = ids[at] == crop_ids  # scores of crops labelled since are left out
        columns[name][at[in_pool]] = scores[in_pool]
    return columns


def calibration(version: ModelVersion, names: Iterable[str]) -> Calibration | None:
    """The version's component scores on the validation crops it was evaluated on, beside its
    errors there (false positives + false negatives at IoU 0.5, from its stored per-crop
    metrics); None when it has neither (not evaluated, or its evaluation scored nothing)."""
    errors = errors_by_crop(version.metrics)
    ids = np.array(sorted(errors), dtype=np.int64)
    columns = _columns(version, names, ids, only_these=True)
    if all(np.isnan(column).all() for column in columns.values()):
        return None
    return Calibration(columns, np.array([errors[int(c)] for c in ids]))


def _arrays(pairs: Iterable[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    table = np.array(list(pairs), dtype=np.float64).reshape(-1, 2)  # crop ids < 2**53 stay exact
    return table[:, 0].astype(np.int64), table[:, 1]


def _embeddings(version: ModelVersion, crop_ids: np.ndarray) -> np.ndarray:
    """Compressed style vectors of the given crops (zeros where none is stored)."""
    rows = CropScore.objects.filter(model_version=version, strategy=DESCRIPTOR, crop_id__in=crop_ids.tolist())
    styles = {crop_id: expand_style(details["style"]) for crop_id, details in rows.values_list("crop_id", "details")
              if details.get("style")}
    dims = len(next(iter(styles.values()))) if styles else 1
    return np.stack([styles.get(int(c), np.zeros(dims)) for c in crop_ids]) if len(crop_ids) else np.zeros((0, dims))


def _strategy_order(utility: np.ndarray, ids: np.ndarray, images: np.ndarray,
                    version: ModelVersion | None) -> np.ndarray:
    """Indices of scored crops, best first. Given a version whose style vectors to pick by, the
    head is re-picked for diversity (one crop per image first, then styles); without one, the
    order is plain utility."""
    scored = np.flatnonzero(~np.isnan(utility))
    order = scored[np.lexsort((ids[scored], -utility[scored]))]
    head = order[: DIVERSE_HEAD * DIVERSE_POOL_FACTOR]
    if version is None or len(head) <= 1:
        return order
    picks = diverse_order(utility[head], _embeddings(version, ids[head]), DIVERSE_HEAD, DIVERSITY,
                          groups=images[head])
    first = head[picks]
    return np.concatenate([first, order[~np.isin(order, first)]])


def _is_control_slot(n: int, fraction: float, phase: float) -> np.ndarray:
    """Slot i goes to the control group when it completes another `fraction` of the queue, so
    every prefix of the queue holds about fraction * length control crops (one in every 1/fraction
    slots). `phase` in [0, 1) shifts where the first one falls, so that labellers who take fewer
    than 1/fraction crops between two rankings still get control crops, at the right rate over
    many rankings."""
    slots = np.arange(n)
    return np.floor((slots + 1) * fraction + phase) > np.floor(slots * fraction + phase)


def _interleave(ranked: np.ndarray, shuffled: np.ndarray, fraction: float,
                phase: float) -> tuple[np.ndarray, np.ndarray]:
    """The queue order (indices) and which slots are control slots. The control group is the
    first crops of `shuffled`, a uniform random sample of the pool whatever the strategy thinks
    of them; the other slots take the rest in `ranked` order."""
    slots = _is_control_slot(len(ranked), fraction, phase)
    control = shuffled[: int(slots.sum())]
    order = np.empty(len(ranked), dtype=np.int64)
    order[slots] = control
    order[~slots] = ranked[~np.isin(ranked, control)]
    return order, slots


def _train_order(pool: _Pool, members: np.ndarray, strategy: Strategy, version: ModelVersion | None,
                 fraction: float, seed: int, weights: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    ids = pool.ids[members]
    columns = _columns(version, strategy.components(), ids)
    utility = strategy.utility(ids, columns, seed, weights)
    shuffled = np.argsort(uniform_hash(ids, seed + 1), kind="stable")
    if np.isnan(utility).all():
        return members[shuffled], np.full(len(ids), REASON_COLD_START, dtype=object)
    # The random strategy is the control: a uniform order, with no diversity head and no extra
    # control slots, so it measures what labelling without a model's advice would give.
    model_based = bool(strategy.components())
    ranked = _strategy_order(utility, ids, pool.image[members], version if model_based else None)
    unscored = shuffled[np.isnan(utility[shuffled])]
    fraction = fraction if model_based else 0.0
    phase = float(uniform_hash(np.array([seed]), seed + 3)[0])  # fixed per (project, version)
    order, control = _interleave(np.concatenate([ranked, unscored]), shuffled, fraction, phase)
    reasons = np.where(np.isnan(utility[order]), REASON_UNSCORED, f"strategy:{strategy.name}").astype(object)
    reasons[control] = REASON_CONTROL
    return members[order], reasons


def _validation_order(pool: _Pool, members: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    shuffled = np.argsort(uniform_hash(pool.ids[members], seed + 2), kind="stable")
    return members[shuffled], np.full(len(members), REASON_VALIDATION, dtype=object)


def _queue_scores(n: int) -> np.ndarray:
    """Position i of n gets (n - i) / n: in (0, 1], larger first, 0 left for unranked crops."""
    return (n - np.arange(n)) / max(n, 1)


def _seed(project: Project, version: ModelVersion | None) -> int:
    return project.pk * 7919 + (version.number if version else 0)


def rank_queue(project: Project) -> RankingSummary:
    """Rewrite queue_score and queue_reason of the project's waiting crops (see module doc)."""
    started = time.perf_counter()
    strategy, version = project_strategy(project), ranking_version(project)
    pool, seed = _pool(project), _seed(project, version)
    new_score, new_reason = np.zeros(len(pool.ids)), np.empty(len(pool.ids), dtype=object)
    train = np.flatnonzero(pool.split != Split.VALIDATION)
    validation = np.flatnonzero(pool.split == Split.VALIDATION)
    fraction = float(np.clip(project.random_fraction, 0.0, 1.0))
    fitted = calibration(version, strategy.components()) if strategy.calibrates and version is not None else None
    weights = strategy.mix_weights(fitted)
    for order, reasons in (_train_order(pool, train, strategy, version, fraction, seed, weights),
                           _validation_order(pool, validation, seed)):
        new_score[order] = _queue_scores(len(order))
        new_reason[order] = reasons
    written = _write_changes(pool, new_score, new_reason)
    reasons, counts = np.unique(new_reason.astype(str), return_counts=True) if len(pool.ids) else ((), ())
    return RankingSummary(strategy.name, version.number if version else None, len(pool.ids),
                          {str(r): int(n) for r, n in zip(reasons, counts, strict=True)}, written,
                          time.perf_counter() - started,
                          dict(weights) if fitted is not None else {})


def _write_changes(pool: _Pool, score: np.ndarray, reason: np.ndarray) -> int:
    changed = np.flatnonzero((pool.old_score != score) | (pool.old_reason != reason))
    rows = [(int(pool.ids[i]), float(score[i]), str(reason[i])) for i in changed]
    for start in range(0, len(rows), WRITE_CHUNK):
        write_queue_scores(rows[start : start + WRITE_CHUNK])
    return len(rows)


def write_queue_scores(rows: Sequence[tuple[int, float, str]]) -> None:
    """Set (crop id, queue_score, queue_reason) for many crops in one statement on PostgreSQL
    (UPDATE ... FROM unnest(arrays)), one prepared statement on SQLite."""
    if not rows:
        return
    table = connection.ops.quote_name(Crop._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids, scores, reasons = (list(column) for column in zip(*rows, strict=True))
            cursor.execute(
                f"UPDATE {table} AS c SET queue_score = v.score, queue_reason = v.reason "
                "FROM unnest(%s::bigint[], %s::float8[], %s::text[]) AS v(id, score, reason) WHERE c.id = v.id",
                [ids, scores, reasons],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET queue_score = %s, queue_reason = %s WHERE id = %s",
                [(score, reason, crop_id) for crop_id, score, reason in rows],
            )




