"""Garbage collection: remove blob files and manifest bytes nothing refers to any more.

A repository's link to a blob is kept while a manifest of that repository references the
blob, or while the link is younger than the grace period (a push in progress uploads its
layers before its manifest). A blob is kept while a kept link or any manifest refers to it;
manifest bytes while any repository has that manifest. Collection is safe while the
registry serves:

1. one read snapshot lists the candidates (blob rows and files nobody refers to, files older
   than the grace period, so a finished upload about to be recorded is never a candidate);
2. each candidate file is renamed into `trash/` first;
3. one write transaction re-checks every candidate against the references as they are now,
   deletes the rows of those still unreferenced, and says which files to put back;
4. files re-linked meanwhile are renamed back, the others deleted.

An upload finishing in between finds its file gone when it links it (the link checks the
file inside its transaction) and fails cleanly; the client pushes again.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import parse_digest
from tinyreg.storage import keys
from tinyreg.storage.blobs import FileBlobStore
from tinyreg.storage.meta import Meta

DEFAULT_GRACE = 3600.0


@dataclass
class GcReport:
    """What a collection removed (or, on a dry run, would remove)."""

    blobs: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    manifests: list[str] = field(default_factory=list)
    links: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"blobs": self.blobs, "bytes_freed": self.bytes_freed, "manifests": self.manifests, "links": self.links}


@dataclass
class _References:
    blobs: set[str]
    manifests: set[str]
    dead_links: list[bytes]


def _referenced(meta: Meta, txn: Any, now: float, grace: float) -> _References:
    """What something refers to, and the links nothing needs any more."""
    blobs: set[str] = set()
    manifests: set[str] = set()
    used_by_manifests: set[bytes] = set()
    for key, value in meta.scan(txn, "manifests", b""):
        repo, _, digest = key.decode().rpartition("\0")
        manifests.add(digest)
        refs = meta.decode_value(value).get("refs") or ()
        blobs.update(refs)
        used_by_manifests.update(keys.repo_key(repo, ref) for ref in refs)
    dead_links = []
    for key, value in meta.scan(txn, "links", b""):
        if key in used_by_manifests or now - meta.decode_value(value).get("created", 0.0) <= grace:
            blobs.add(keys.split_last(key))
        else:
            dead_links.append(key)
    return _References(blobs, manifests, dead_links)


def _files(store: FileBlobStore) -> dict[str, Path]:
    found = {}
    for algorithm in os.scandir(store.blobs):
        for root, _, names in os.walk(algorithm.path):
            for name in names:
                found[f"{algorithm.name}:{name}"] = Path(root) / name
    return found


def _is_digest(name: str) -> bool:
    try:
        parse_digest(name)
    except RegistryError:
        return False
    return True


class CollectionRunning(RuntimeError):
    """Another garbage collection holds the data directory's collection lock."""


@contextmanager
def _collection_lock(store: FileBlobStore) -> Iterator[None]:
    """One collection at a time per data directory (across processes)."""
    fd = os.open(store.blobs.parent / "gc.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CollectionRunning("another garbage collection is running on this data directory") from None
        yield
    finally:
        os.close(fd)


def collect(meta: Meta, store: FileBlobStore, *, grace: float = DEFAULT_GRACE, dry_run: bool = False) -> GcReport:
    """Remove unreferenced blobs (files older than `grace` seconds) and manifest bytes.

    Raises CollectionRunning when another collection is under way.
    """
    with _collection_lock(store):
        return _collect(meta, store, grace=grace, dry_run=dry_run)


def _collect(meta: Meta, store: FileBlobStore, *, grace: float, dry_run: bool) -> GcReport:
    _restore(store)
    now = time.time()
    with meta.read() as txn:
        found = _referenced(meta, txn, now, grace)
        blobs_used, manifests_used = found.blobs, found.manifests
        rows = {key.decode() for key, _ in meta.scan(txn, "blobs", b"")}
        data = {key.decode() for key, _ in meta.scan(txn, "manifest_data", b"")}
    candidates = {}
    for name, path in _files(store).items():
        if name in blobs_used or not _is_digest(name):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if now - stat.st_mtime > grace:
            candidates[name] = (path, stat.st_size)
    report = GcReport(manifests=sorted(data - manifests_used), links=len(found.dead_links))
    if dry_run:
        report.blobs = sorted(candidates)
        report.bytes_freed = sum(size for _, size in candidates.values())
        return report

    trash = store.blobs.parent / "trash"
    trash.mkdir(exist_ok=True)
    moved: dict[str, tuple[Path, Path, int]] = {}
    try:
        for name, (path, size) in candidates.items():
            target = trash / name.replace(":", "-")
            try:
                os.replace(path, target)
            except FileNotFoundError:
                continue
            moved[name] = (path, target, size)
        keep, report.manifests = meta.write(lambda txn: _decide(meta, txn, moved, rows, data, grace, report))
    except BaseException:
        keep = set(moved)  # whatever went wrong, nothing is lost: every file goes back
        raise
    finally:
        _settle(moved, keep, report)
    report.blobs.sort()
    return report


def _decide(
    meta: Meta, txn: Any, moved: dict[str, Any], rows: set[str], data: set[str], grace: float, report: GcReport
) -> tuple[set[str], list[str]]:
    """In one write transaction: drop dead links, and the rows of blobs still unreferenced."""
    now_refs = _referenced(meta, txn, time.time(), grace)
    for key in now_refs.dead_links:
        meta.delete(txn, "links", key)
    report.links = len(now_refs.dead_links)
    keep = {name for name in moved if name in now_refs.blobs}
    for name in moved:
        if name not in keep and name in rows:
            meta.delete(txn, "blobs", name.encode())
    dropped = [d for d in data if d not in now_refs.manifests and txn.get(d.encode(), db=meta.db["manifest_data"]) is not None]
    for digest in dropped:
        meta.delete(txn, "manifest_data", digest.encode())
    return keep, sorted(dropped)


def _settle(moved: dict[str, tuple[Path, Path, int]], keep: set[str], report: GcReport) -> None:
    """Put back the files still needed; delete the others. One failure stops nothing else:
    a file left in trash/ is put back by the next collection or server start."""
    for name, (path, target, size) in moved.items():
        try:
            if name in keep:
                os.replace(target, path)
            else:
                target.unlink(missing_ok=True)
                report.blobs.append(name)
                report.bytes_freed += size
        except OSError:
            continue


def restore_trash(store: FileBlobStore) -> int:
    """Put back files an interrupted collection left aside (unless a collection runs now)."""
    try:
        with _collection_lock(store):
            return _restore(store)
    except CollectionRunning:
        return 0


def _restore(store: FileBlobStore) -> int:
    trash = store.blobs.parent / "trash"
    restored = 0
    if trash.is_dir():
        for entry in os.scandir(trash):
            algorithm, _, encoded = entry.name.partition("-")
            try:
                digest = parse_digest(f"{algorithm}:{encoded}")
            except RegistryError:
                continue
            target = store.path(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(entry.path, target)
            restored += 1
    return restored
