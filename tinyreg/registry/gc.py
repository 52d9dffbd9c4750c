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

import time
from dataclasses import dataclass, field
from typing import Any

from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import parse_digest
from tinyreg.storage.interfaces import BlobStore, CollectionRunning, MetaReader, MetaStore, MetaWriter

__all__ = ["DEFAULT_GRACE", "CollectionRunning", "GcReport", "collect", "restore_trash"]

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
    dead_links: list[tuple[str, str]]


def _referenced(tx: MetaReader, now: float, grace: float) -> _References:
    """What something refers to, and the links nothing needs any more."""
    blobs: set[str] = set()
    manifests: set[str] = set()
    used_by_manifests: set[tuple[str, str]] = set()
    for repo, digest, row in tx.iter_manifests():
        manifests.add(digest)
        refs = row.get("refs") or ()
        blobs.update(refs)
        used_by_manifests.update((repo, ref) for ref in refs)
    dead_links = []
    for repo, digest, link in tx.iter_links():
        if (repo, digest) in used_by_manifests or now - link.get("created", 0.0) <= grace:
            blobs.add(digest)
        else:
            dead_links.append((repo, digest))
    return _References(blobs, manifests, dead_links)


def _is_digest(name: str) -> bool:
    try:
        parse_digest(name)
    except RegistryError:
        return False
    return True


def collect(meta: MetaStore, store: BlobStore, *, grace: float = DEFAULT_GRACE, dry_run: bool = False) -> GcReport:
    """Remove unreferenced blobs (files older than `grace` seconds) and manifest bytes.

    Raises CollectionRunning when another collection is under way.
    """
    with store.collection_lock():
        return _collect(meta, store, grace=grace, dry_run=dry_run)


def _collect(meta: MetaStore, store: BlobStore, *, grace: float, dry_run: bool) -> GcReport:
    store.restore_aside()
    now = time.time()
    with meta.read() as tx:
        found = _referenced(tx, now, grace)
        blobs_used, manifests_used = found.blobs, found.manifests
        rows = set(tx.iter_blobs())
        data = set(tx.iter_manifest_data())
    candidates = {
        blob.digest: blob.size
        for blob in store.iter_blob_files()
        if blob.digest not in blobs_used and _is_digest(blob.digest) and now - blob.modified > grace
    }
    report = GcReport(manifests=sorted(data - manifests_used), links=len(found.dead_links))
    if dry_run:
        report.blobs = sorted(candidates)
        report.bytes_freed = sum(candidates.values())
        return report

    moved: dict[str, int] = {}
    try:
        for name, size in candidates.items():
            if store.set_aside(name):
                moved[name] = size
        keep, report.manifests = meta.write(lambda tx: _decide(tx, moved, rows, data, grace, report))
    except BaseException:
        keep = set(moved)  # whatever went wrong, nothing is lost: every file goes back
        raise
    finally:
        _settle(store, moved, keep, report)
    report.blobs.sort()
    return report


def _decide(
    tx: MetaWriter, moved: dict[str, int], rows: set[str], data: set[str], grace: float, report: GcReport
) -> tuple[set[str], list[str]]:
    """In one unit of work: drop dead links, and the rows of blobs still unreferenced."""
    now_refs = _referenced(tx, time.time(), grace)
    for repo, digest in now_refs.dead_links:
        tx.delete_link(repo, digest)
    report.links = len(now_refs.dead_links)
    keep = {name for name in moved if name in now_refs.blobs}
    for name in moved:
        if name not in keep and name in rows:
            tx.delete_blob(name)
    dropped = [d for d in data if d not in now_refs.manifests and tx.manifest_data(d) is not None]
    for digest in dropped:
        tx.delete_manifest_data(digest)
    return keep, sorted(dropped)


def _settle(store: BlobStore, moved: dict[str, int], keep: set[str], report: GcReport) -> None:
    """Put back the blobs still needed; delete the others. One failure stops nothing else:
    a blob left aside is put back by the next collection or server start."""
    for name, size in moved.items():
        try:
            if name in keep:
                store.put_back(name)
            else:
                store.drop_aside(name)
                report.blobs.append(name)
                report.bytes_freed += size
        except OSError:
            continue


def restore_trash(store: BlobStore) -> int:
    """Put back blobs an interrupted collection left aside (unless a collection runs now)."""
    try:
        with store.collection_lock():
            return store.restore_aside()
    except CollectionRunning:
        return 0
