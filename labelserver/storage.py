"""Stored files that any host can reach: the local folder (MEDIA_ROOT) or an S3-compatible store.

Every stored file (originals, crop display PNGs, model weights) is read and written through
Django's `default_storage`, chosen by STORAGE_BACKEND (docs/configuration.md):

* "local" (the default, `make run`): FileSystemStorage under MEDIA_ROOT, one machine;
* "s3": `ObjectStorage`, django-storages' S3 backend, for MinIO, Ceph, AWS S3 or GCS's S3 API:
  the web server on one host and GPU workers on others share the files through the store.

Two kinds of reader need more than a stream of bytes, and get it here:

* Readers that need a local file (memory-mapping an original, Cellpose loading weights):
  `local_path(name)` is the file itself on a local disk, else a copy in STORAGE_CACHE_DIR under
  the same name. Stored names are content addressed (images/<sha256>..., models/<project>/<sha256>.pt,
  crops/.../<sha256>/<window>.png), so a copy never goes stale and needs no revalidation. The
  cache stays within STORAGE_CACHE_MAX_MB by evicting the copies used longest ago.
* Browsers: with an object store the file views answer a redirect to a short-lived signed URL
  (labelserver/files.py), signed for the endpoint browsers reach (S3_PUBLIC_ENDPOINT_URL).
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.config import Config
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
# A cached copy used this recently is never evicted: the job that asked for it may not have opened it yet.
CACHE_IN_USE_SECONDS = 600
# Under MEDIA_ROOT (on every host a local folder): files on their way into the storage.
SCRATCH_DIR = ".staging"


class ObjectStorage(S3Storage):
    """django-storages' S3 backend, whose signed URLs name the endpoint browsers reach.

    Inside docker compose the processes reach MinIO as http://minio:9000, a name no browser can
    resolve; a SigV4 signature covers the host, so the URL must be signed for the public endpoint
    from the start (signing is local: no request goes to that endpoint)."""

    def get_default_settings(self) -> dict[str, Any]:
        return {**super().get_default_settings(), "public_endpoint_url": None}

    def signing_client(self) -> Any:
        client = getattr(self._connections, "signing_client", None)
        if client is None:
            client = self._create_session().client(
                "s3", region_name=self.region_name, endpoint_url=self.public_endpoint_url or self.endpoint_url,
                config=self.client_config, verify=self.verify)
            self._connections.signing_client = client
        return client

    def url(self, name: str, parameters: dict[str, Any] | None = None, expire: int | None = None,
            http_method: str | None = None) -> str:
        params = {**(parameters or {}), "Bucket": self.bucket_name, "Key": self._normalize_name(clean_name(name))}
        return str(self.signing_client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expire or self.querystring_expire, HttpMethod=http_method))

    def head_bucket(self, timeout: float) -> None:
        """One HEAD of the bucket within `timeout` seconds, no retry: reachable, the keys work, the bucket exists."""
        config = self.client_config.merge(Config(connect_timeout=timeout, read_timeout=timeout,
                                                 retries={"total_max_attempts": 1}))
        client = self._create_session().client("s3", region_name=self.region_name, endpoint_url=self.endpoint_url,
                                                config=config, verify=self.verify)
        client.head_bucket(Bucket=self.bucket_name)


class _ScratchFile(File):
    """A scratch file that FileSystemStorage moves into place (it renames any file that has a
    `temporary_file_path`, as it does Django's own uploads); S3 uploads it from the handle."""

    def __init__(self, handle: Any, path: Path) -> None:
        super().__init__(handle)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def signed_url(name: str, *, parameters: dict[str, str], expire: int) -> str:
    """A URL of the stored file that works for `expire` seconds without credentials; an object
    store's GET parameters (ResponseContentType, ...) set the headers of its answer."""
    if not isinstance(default_storage, ObjectStorage):
        raise TypeError("signed URLs are an object store's: files on a local disk are sent by their views")
    return default_storage.url(name, parameters=parameters, expire=expire)


def is_local() -> bool:
    """True when stored files are files under MEDIA_ROOT on this machine."""
    return isinstance(default_storage, FileSystemStorage)


def local_root() -> Path:
    """The folder where stored files have local copies under their stored names: MEDIA_ROOT
    itself on a local disk, else the cache."""
    return Path(settings.MEDIA_ROOT if is_local() else settings.STORAGE_CACHE_DIR)


def local_path(name: str | None) -> Path:
    """A local file holding the stored file `name`; FileNotFoundError when the store has none."""
    if not name:
        raise FileNotFoundError("no stored file")
    if is_local():
        return Path(default_storage.path(name))  # safe_join: a name never leaves MEDIA_ROOT
    target = _cache_path(name)
    try:
        _mark_used(target)
    except FileNotFoundError:
        if not default_storage.exists(name):
            raise FileNotFoundError(f"no stored file {name}") from None
        _download(name, target)
        _trim_cache(keep=target)
    return target


def save_local_file(name: str, path: Path, *, move: bool = False) -> bool:
    """Store the local file `path` as `name`, unless a file of that name is stored already (names
    are content addressed, so it holds the same bytes); True when this call stored it. `move`:
    `path` is a scratch file on MEDIA_ROOT's disk, which a local storage renames into place
    instead of copying (a 2 GB original). Either way a stored name only ever names a whole file:
    a local storage copies to a scratch file first and renames it, an object appears whole."""
    if default_storage.exists(name):
        return False
    if is_local() and not move:
        with _scratch_copy(path) as copy:
            return save_local_file(name, copy, move=True)
    with open(path, "rb") as handle:
        content = _ScratchFile(handle, path) if move else File(handle)
        content.name = posixpath.basename(name)
        saved = default_storage.save(name, content)
    if saved != name:  # another process stored the same name meanwhile: keep one copy
        default_storage.delete(saved)
        return False
    return True


@contextmanager
def _scratch_copy(path: Path) -> Iterator[Path]:
    folder = Path(settings.MEDIA_ROOT) / SCRATCH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    fd, copy = tempfile.mkstemp(dir=folder, suffix=".partial")
    os.close(fd)
    try:
        shutil.copyfile(path, copy)
        yield Path(copy)
    finally:
        Path(copy).unlink(missing_ok=True)


def delete(name: str) -> None:
    """Delete a stored file; on a local disk, also the folders it leaves empty (up to MEDIA_ROOT)."""
    default_storage.delete(name)
    if is_local():
        _prune_empty_folders(Path(default_storage.path(name)).parent)


def delete_folder(folder: str) -> None:
    """Delete every stored file under `folder` (e.g. a deleted project's crops/<id>)."""
    if is_local():
        shutil.rmtree(default_storage.path(folder), ignore_errors=True)
        return
    directories, files = default_storage.listdir(folder)
    for file in files:
        default_storage.delete(posixpath.join(folder, file))
    for directory in directories:
        delete_folder(posixpath.join(folder, directory))


def _cache_path(name: str) -> Path:
    root = Path(settings.STORAGE_CACHE_DIR).resolve()
    target = (root / clean_name(name)).resolve()
    if root not in target.parents:
        raise ValueError(f"stored name {name!r} leaves the storage cache")
    return target


def _mark_used(path: Path) -> None:
    """Record a use of a cached copy in its access time, which eviction goes by. Set explicitly
    (mounts with noatime never update it), and the modification time is left alone: open image
    readers are cached by it (annotations.imaging.cached_source)."""
    stat = path.stat()
    os.utime(path, ns=(time.time_ns(), stat.st_mtime_ns))


def _trim_cache(*, keep: Path) -> None:
    """Keep the cache under STORAGE_CACHE_MAX_MB: delete the copies used longest ago, never one
    used within CACHE_IN_USE_SECONDS (a job may be about to open it) nor `keep`. A copy deleted
    while a reader has it open or mapped stays readable to that reader (POSIX); the next
    `local_path` downloads it again."""
    limit = settings.STORAGE_CACHE_MAX_MB * 2**20
    if not limit:
        return
    copies = []
    for path in Path(settings.STORAGE_CACHE_DIR).rglob("*"):
        if path.is_file() and path.suffix != ".part":
            stat = path.stat()
            copies.append((stat.st_atime, stat.st_size, path))
    total = sum(size for _, size, _ in copies)
    in_use_since = time.time() - CACHE_IN_USE_SECONDS
    for used, size, path in sorted(copies):
        if total <= limit or used > in_use_since:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size
    if total > limit:
        logger.warning("the storage cache holds %d MB, over STORAGE_CACHE_MAX_MB (%d): its copies are in use",
                       total >> 20, limit >> 20)


def _download(name: str, target: Path) -> None:
    """Copy the stored file into the cache under a temporary name and rename it into place:
    readers (other processes too) never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, default_storage.open(name, "rb") as source:
            shutil.copyfileobj(source, out, _CHUNK)
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


def _prune_empty_folders(folder: Path) -> None:
    root = Path(settings.MEDIA_ROOT).resolve()
    folder = folder.resolve()
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty: another file lives here
        folder = folder.parent


def copy_to(name: str, out: Any) -> None:
    """Write the stored file `name` to the binary file object `out`, in chunks."""
    with default_storage.open(name, "rb") as source:
        shutil.copyfileobj(source, out, _CHUNK)
