"""Queue ranking and the next-crop query on pools of 1k .. 100k crops, on SQLite and PostgreSQL.

For each pool size it builds a project with that many waiting crops, an active model version and
its stored scores (cellprob, flow_error and the crop descriptors with style vectors: what the
default `combined` strategy ranks with), then times:

* rank: `active_learning.queue.rank_queue` from scratch (every crop's queue_score written),
  then again with nothing changed (nothing written), then after the random fraction changed;
* next: the labeller's next-crop call (`active_learning.queue.serving.lease_next_crop`: release expired
  leases, claim the best crop) — one call per labeller, each taking a different crop;
* the open-queue read alone (`annotations.selectors.open_queue(...)[:4]`), and on PostgreSQL
  its EXPLAIN, to show it walks the index `crop_queue_order` instead of sorting the pool.
  These are taken round-robin over the pools, so that a drifting machine load (others' jobs)
  weighs on each pool size alike.

It prints the time per call and the ratio 100k/1k. Each run uses a fresh database (on
PostgreSQL: a new database on the server of --database-url, dropped afterwards).

    .venv/bin/python bench/queue_ranking.py                       # SQLite, 1k 10k 100k
    .venv/bin/python bench/queue_ranking.py --database-url postgres://labelserver:labelserver@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from active_learning.queue import ranking, serving

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="postgres://user:password@host:port/any-db (default: SQLite)")
    parser.add_argument("--sizes", default="1000,10000,100000", help="pool sizes, comma-separated")
    parser.add_argument("--next-calls", type=int, default=50, help="next-crop calls timed per pool")
    return parser.parse_args()


def fresh_database(url: str | None, workdir: Path) -> tuple[str, str | None]:
    """(DATABASE_URL to use, name of a PostgreSQL database to drop at the end)."""
    if not url:
        return f"sqlite:///{workdir / 'bench.sqlite3'}", None
    name = f"queue_bench_{uuid.uuid4().hex[:8]}"
    admin_connection(url, "postgres").cursor().execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}")), name


def admin_connection(url: str, dbname: str) -> Any:
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                           password=parts.password, dbname=dbname, autocommit=True)


def setup_django(database_url: str, workdir: Path) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["LABELSERVER_DATA_DIR"] = str(workdir)
    os.environ.setdefault("DEBUG", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "labelserver.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


# --- Building a pool ------------------------------------------------------------------------------


def build_pool(n: int, labellers: int) -> tuple[Any, list[Any]]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from active_learning.models import ModelVersion, ModelVersionStatus
    from annotations.models import Crop, Image, Membership, Project

    project = Project.objects.create(name=f"pool-{n}-{uuid.uuid4().hex[:6]}", strategy="combined", random_fraction=0.1)
    image = Image.objects.create(project=project, sha256=uuid.uuid4().hex, file="images/x.png", original_name="x.png",
                                 width=64_000, height=64_000, channels=1, dtype="uint8")
    Crop.objects.bulk_create(
        [Crop(project=project, image=image, x=64 * (i % 1000), y=64 * (i // 1000), width=64, height=64,
              display="crops/x.png") for i in range(n)],
        batch_size=5000,
    )
    version = ModelVersion.objects.create(project=project, number=1, status=ModelVersionStatus.ACTIVE,
                                          weights="models/x.pt", promoted_at=timezone.now())
    insert_scores(version, list(Crop.objects.filter(project=project).values_list("id", flat=True)))
    users = [get_user_model().objects.create(username=f"l{n}-{i}") for i in range(labellers)]
    Membership.objects.bulk_create([Membership(project=project, user=u) for u in users])
    return project, users


def insert_scores(version: Any, crop_ids: list[int]) -> None:
    """cellprob, flow_error and descriptor rows for every crop, inserted with plain SQL (what the
    scoring job would have stored; building 300k model objects would dominate the run)."""
    import json

    import numpy as np
    from django.db import connection, transaction
    from django.utils import timezone

    from active_learning.diversity import compress_style
    from active_learning.models import CropScore
    from active_learning.scoring import DESCRIPTOR

    rng = np.random.default_rng(len(crop_ids))
    styles = [json.dumps({"style": compress_style(s)}) for s in rng.normal(size=(64, 256))]  # 64 kinds of crop
    now, n = timezone.now(), len(crop_ids)
    rows = []
    for crop_id, entropy, error, kind in zip(crop_ids, rng.random(n), rng.random(n) * 0.4, rng.integers(0, 64, n),
                                             strict=True):
        rows += [(crop_id, version.pk, "cellprob", float(entropy), "{}", now),
                 (crop_id, version.pk, "flow_error", float(error), "{}", now),
                 (crop_id, version.pk, DESCRIPTOR, 1.0, styles[kind], now)]
    table = connection.ops.quote_name(CropScore._meta.db_table)
    details = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    sql = (f"INSERT INTO {table} (crop_id, model_version_id, strategy, score, details, created_at) "
           f"VALUES (%s, %s, %s, %s, {details}, %s)")
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), 10_000):
            cursor.executemany(sql, rows[start : start + 10_000])


# --- Timing ---------------------------------------------------------------------------------------


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def time_ranking(project: Any) -> dict[str, float]:
    from annotations.models import Project

    first, summary = timed(lambda: ranking.rank_queue(project))
    again, unchanged = timed(lambda: ranking.rank_queue(project))
    Project.objects.filter(pk=project.pk).update(random_fraction=0.2)
    project.random_fraction = 0.2
    changed, moved = timed(lambda: ranking.rank_queue(project))
    assert summary.written == summary.ranked and unchanged.written == 0, (summary, unchanged)
    return {"rank": first, "rerank_same": again, "rerank_changed": changed, "rerank_written": moved.written}


def time_next_crop(pools: dict[int, tuple[Any, list[Any]]], rounds: int) -> dict[int, dict[str, float]]:
    """Next-crop calls and queue reads, taken round-robin over the pools so that the machine's
    load, which drifts, weighs on every pool size alike."""

    reads: dict[int, list[float]] = {n: [] for n in pools}
    calls: dict[int, list[float]] = {n: [] for n in pools}
    served: dict[int, list[int]] = {n: [] for n in pools}
    for i in range(rounds):
        for n, (project, users) in pools.items():
            seconds, _ = timed(lambda p=project: list(serving.open_queue(project=p).values_list("id", flat=True)[:4]))
            reads[n].append(seconds)
            seconds, next_crop = timed(lambda p=project, u=users[i]: serving.lease_next_crop(project=p, user=u))
            calls[n].append(seconds)
            served[n].append(None if next_crop is None else next_crop.crop_id)
    assert all(len(set(ids)) == rounds and None not in ids for ids in served.values())
    return {
        n: {"next": statistics.median(calls[n]), "next_p90": sorted(calls[n])[int(0.9 * (rounds - 1))],
            "read": statistics.median(reads[n])}
        for n in pools
    }


def explain_next(project: Any) -> str:
    from django.db import connection


    if connection.vendor != "postgresql":
        return ""
    return serving.open_queue(project=project).values("id")[:4].explain(analyze=True)


def warm_up() -> None:
    """Import what ranking imports, so the first pool's time is not the import's."""
    from annotations.models import Project

    ranking.rank_queue(Project.objects.create(name=f"warm-up-{uuid.uuid4().hex[:6]}"))


# --- Report ---------------------------------------------------------------------------------------


def report(results: dict[int, dict[str, float]], vendor: str) -> None:
    ms = 1000.0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{vendor}: queue ranking and next-crop query (load average {load} on {os.cpu_count()} CPUs)")
    print(f"{'crops':>8} {'rank (s)':>9} {'rerank same (s)':>16} {'rerank 10->20% (s)':>19} "
          f"{'next (ms)':>10} {'next p90':>9} {'queue read (ms)':>16}")
    for n, r in sorted(results.items()):
        print(f"{n:>8} {r['rank']:>9.2f} {r['rerank_same']:>16.2f} {r['rerank_changed']:>19.2f} "
              f"{r['next'] * ms:>10.2f} {r['next_p90'] * ms:>9.2f} {r['read'] * ms:>16.2f}")
    small, large = min(results), max(results)
    if small != large:
        ratio = {k: results[large][k] / results[small][k] for k in ("next", "read", "rank")}
        print(f"ratio {large // 1000}k/{small // 1000}k: next-crop call x{ratio['next']:.2f}, "
              f"queue read x{ratio['read']:.2f}, ranking x{ratio['rank']:.1f} (pool x{large // small})")


def main() -> None:
    args = parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp:
        database_url, created = fresh_database(args.database_url, Path(tmp))
        try:
            setup_django(database_url, Path(tmp))
            from django.db import connection

            warm_up()
            pools, results = {}, {}
            for n in sizes:
                started = time.perf_counter()
                pools[n] = build_pool(n, args.next_calls)
                print(f"built a pool of {n} crops with scores in {time.perf_counter() - started:.1f} s", flush=True)
                results[n] = time_ranking(pools[n][0])
            for n, timings in time_next_crop(pools, args.next_calls).items():
                results[n].update(timings)
            if connection.vendor == "postgresql":
                print(explain_next(pools[max(sizes)][0]))
            report(results, connection.vendor)
        finally:
            if created:
                from django.db import connections

                connections.close_all()
                admin_connection(args.database_url, "postgres").cursor().execute(f'DROP DATABASE "{created}"')


if __name__ == "__main__":
    main()
