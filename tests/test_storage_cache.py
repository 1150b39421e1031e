"""With an object store, the local copies of stored files (labelserver.storage.local_path) stay
within STORAGE_CACHE_MAX_MB: the copies used longest ago go first, a copy in use never."""

from __future__ import annotations

import os
import time

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from labelserver import storage

SIZE = 400 * 1024


@pytest.fixture
def stored(s3_storage, settings):
    settings.STORAGE_CACHE_MAX_MB = 1
    names = [default_storage.save(f"images/{i}{i}/{str(i) * 64}.tif", ContentFile(bytes([i]) * SIZE))
             for i in range(1, 5)]
    return names


def _used(path, seconds_ago: float) -> None:
    os.utime(path, ns=(time.time_ns() - int(seconds_ago * 1e9), path.stat().st_mtime_ns))


def test_the_copy_used_longest_ago_goes_first(stored):
    first, second, third, _ = stored
    a, b = storage.local_path(first), storage.local_path(second)
    _used(a, 7200)
    _used(b, 3600)
    c = storage.local_path(third)  # 1.2 MB > 1 MB: the oldest copy goes
    assert not a.exists() and b.exists() and c.exists()
    assert storage.local_path(first).read_bytes() == bytes([1]) * SIZE  # fetched again when needed


def test_a_use_keeps_a_copy_and_leaves_its_modification_time_alone(stored):
    first, second, third, _ = stored
    a, b = storage.local_path(first), storage.local_path(second)
    _used(a, 7200)
    _used(b, 3600)
    modified = a.stat().st_mtime_ns
    assert storage.local_path(first) == a  # a hit: now the newest use
    assert a.stat().st_mtime_ns == modified  # open readers are cached by it
    storage.local_path(third)
    assert a.exists() and not b.exists()


def test_copies_in_use_are_never_evicted(stored, caplog):
    paths = [storage.local_path(name) for name in stored]  # all used just now: 1.6 MB stays
    assert all(path.exists() for path in paths)
    assert "over STORAGE_CACHE_MAX_MB" in caplog.text


def test_no_limit_keeps_everything(stored, settings):
    settings.STORAGE_CACHE_MAX_MB = 0
    paths = [storage.local_path(name) for name in stored[:3]]
    for path in paths:
        _used(path, 7200)
    paths.append(storage.local_path(stored[3]))
    assert all(path.exists() for path in paths)
