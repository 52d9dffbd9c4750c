"""The metadata environment's size, and compacting it: `tinyreg db stats|compact`.

LMDB never gives pages back to the file system: after many deletions `data.mdb` keeps its
size, with free pages inside. A compacting copy (`env.copy(path, compact=True)`) writes only
the pages in use. Swapping the copy in is safe only while nothing else has the environment
open, so `tinyreg serve` holds `serve.lock` (shared: every worker) for as long as it runs, and
compaction takes it exclusively (and the collection lock) or refuses.

Steps: copy into `meta/compact.new/`, check every sub-database holds as many entries as the
original, rename the original to `data.mdb.old`, move the copy into place, open and check it
again, and only then delete `data.mdb.old` (a failure on the way leaves it, and says so).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import lmdb

from tinyreg.storage import private
from tinyreg.storage.files import FileBlobStore
from tinyreg.storage.interfaces import CollectionRunning
from tinyreg.storage.meta import SUBDBS

SERVE_LOCK = "serve.lock"


class DataDirInUse(RuntimeError):
    """A server (or a garbage collection) uses the data directory."""


@contextmanager
def _serve_lock(data_dir: Path, operation: int, refusal: str) -> Iterator[None]:
    """`serve.lock` held with `operation` (shared or exclusive, never waiting); DataDirInUse otherwise."""
    fd = os.open(data_dir / SERVE_LOCK, os.O_RDWR | os.O_CREAT, private.FILE_MODE)
    try:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirInUse(refusal) from None
        yield
    finally:
        os.close(fd)


def serving(data_dir: Path) -> AbstractContextManager[None]:
    """Held by a server for as long as it serves `data_dir` (shared between its workers)."""
    return _serve_lock(data_dir, fcntl.LOCK_SH, f"{data_dir} is being compacted (tinyreg db compact): serve once it is done")


@contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    with _serve_lock(data_dir, fcntl.LOCK_EX, f"a server is using {data_dir}: stop it first"):
        try:
            with FileBlobStore(data_dir).collection_lock():
                yield
        except CollectionRunning:
            raise DataDirInUse(f"a garbage collection is running on {data_dir}") from None


def _open(path: Path, *, readonly: bool) -> lmdb.Environment:
    return lmdb.open(str(path), readonly=readonly, max_dbs=len(SUBDBS) + 8)


def _entries(env: lmdb.Environment) -> dict[str, int]:
    counts = {}
    with env.begin() as txn:
        for name in SUBDBS:
            try:
                handle = env.open_db(name.encode(), txn=txn, create=False)
            except lmdb.NotFoundError:
                continue
            counts[name] = int(txn.stat(handle)["entries"])
    return counts


def meta_stats(data_dir: Path) -> dict[str, Any]:
    """File size, page size, pages used and free, and entries per sub-database."""
    meta = data_dir / "meta"
    env = _open(meta, readonly=True)
    try:
        info, stat = env.info(), env.stat()
        page = int(stat["psize"])
        with env.begin() as txn:
            used = sum(int(s["branch_pages"] + s["leaf_pages"] + s["overflow_pages"]) for s in _db_stats(env, txn))
        used += int(stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]) + 2  # the main db, 2 meta pages
        allocated = int(info["last_pgno"]) + 1
        size = (meta / "data.mdb").stat().st_size
        return {
            "file_bytes": size,
            "page_size": page,
            "pages_allocated": allocated,
            "pages_used": min(used, allocated),
            "pages_free": max(allocated - used, 0),
            "map_size": int(info["map_size"]),
            "entries": _entries(env),
        }
    finally:
        env.close()


def _db_stats(env: lmdb.Environment, txn: lmdb.Transaction[bytes]) -> Iterator[dict[str, int]]:
    for name in SUBDBS:
        try:
            handle = env.open_db(name.encode(), txn=txn, create=False)
        except lmdb.NotFoundError:
            continue
        stat = txn.stat(handle)
        yield {key: int(stat[key]) for key in ("branch_pages", "leaf_pages", "overflow_pages", "entries")}


def compact_meta(data_dir: Path) -> tuple[int, int]:
    """Compact the metadata environment in place; (bytes before, bytes after). DataDirInUse
    when a server or a collection uses the data directory; RuntimeError when a check fails."""
    meta = data_dir / "meta"
    new_dir, old_file = meta / "compact.new", meta / "data.mdb.old"
    with _exclusive(data_dir):
        if old_file.exists():
            raise RuntimeError(f"{old_file} is left from an earlier compaction: check it, then remove it")
        shutil.rmtree(new_dir, ignore_errors=True)
        private.make_dir(new_dir)
        env = _open(meta, readonly=False)
        try:
            expected = _entries(env)
            env.copy(str(new_dir), compact=True)
        finally:
            env.close()
        _check(new_dir, expected, "the compacted copy")
        before = (meta / "data.mdb").stat().st_size
        os.rename(meta / "data.mdb", old_file)
        os.rename(new_dir / "data.mdb", meta / "data.mdb")
        _fsync_dir(meta)
        _check(meta, expected, f"the compacted environment (the original is kept as {old_file})")
        old_file.unlink()
        shutil.rmtree(new_dir, ignore_errors=True)
        return before, (meta / "data.mdb").stat().st_size


def _check(path: Path, expected: dict[str, int], what: str) -> None:
    env = _open(path, readonly=True)
    try:
        found = _entries(env)
    finally:
        env.close()
    if found != expected:
        raise RuntimeError(f"{what} does not hold the same entries: {found} instead of {expected}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
