"""The pull-through cache's storage side: cached manifests, blobs and their usage rows.

Cached images are ordinary repositories named `<mirror>/<upstream repository>`, so listing,
usage and garbage collection see them as any other; a `cached_repos` row per repository marks
it as cached and keeps what the cache needs: when it was last pulled, its hit and miss counts,
and when upstream last gave or confirmed each tag (the tag's freshness).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tinyreg.registry.blobs import link_blob, manifest_bytes
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.manifests import ParsedManifest
from tinyreg.registry.mirrors import CacheStat, CacheTarget, Mirror, evictions
from tinyreg.registry.names import Digest
from tinyreg.registry.repository import Manifests, StoredManifest
from tinyreg.storage.interfaces import BlobStore, CachedRepositoryRow, MetaReader, MetaStore, MetaWriter


@dataclass(frozen=True, slots=True)
class CachedManifest:
    """A manifest found in the cache, and when upstream last confirmed the tag it was asked by."""

    manifest: StoredManifest
    checked_at: float | None


@dataclass(slots=True)
class CacheHits:
    """Manifest requests of one cached repository answered from the cache, not yet recorded."""

    hits: int = 0
    last_pulled: float = 0.0
    confirmed: dict[str, float] = field(default_factory=dict)  # tag -> when upstream confirmed it

    def add(self, tag: str | None, *, confirmed: bool) -> None:
        now = time.time()
        self.hits += 1
        self.last_pulled = now
        if confirmed and tag is not None:
            self.confirmed[tag] = now


def _row(tx: MetaReader, target: CacheTarget, now: float) -> CachedRepositoryRow:
    row = tx.cached_repository(target.local_repo)
    if row is None:
        return {
            "mirror": target.mirror.name,
            "upstream": target.upstream_repo,
            "last_pulled": now,
            "hits": 0,
            "misses": 0,
            "checked": {},
        }
    return {**row, "checked": dict(row.get("checked") or {})}


class Cache:
    """Read and fill the cached repositories of every mirror."""

    def __init__(self, meta: MetaStore, store: BlobStore, manifests: Manifests) -> None:
        self.meta = meta
        self.store = store
        self.manifests = manifests

    def find_manifest(self, target: CacheTarget, reference: str, *, digest: str | None) -> CachedManifest | None:
        """The cached manifest of a tag (digest None) or digest, with the tag's last confirmation."""
        repo = target.local_repo
        with self.meta.read() as tx:
            wanted = digest if digest is not None else tx.tag_digest(repo, reference)
            row = tx.manifest(repo, wanted) if wanted else None
            data = manifest_bytes(tx, wanted, row) if wanted and row is not None else None
            cached = tx.cached_repository(repo)
        if wanted is None or row is None or data is None:
            return None
        checked = (cached.get("checked") or {}).get(reference) if cached is not None and digest is None else None
        return CachedManifest(StoredManifest(wanted, row["media_type"], data), checked)

    def store_manifest(
        self, target: CacheTarget, tag: str | None, digest: str, data: bytes, parsed: ParsedManifest, sizes: dict[str, int]
    ) -> None:
        """Keep a manifest fetched from upstream (already verified against its digest), tagged `tag`."""
        now = time.time()

        def change(tx: MetaWriter) -> None:
            row = _row(tx, target, now)
            self.manifests.put_verified(tx, target.local_repo, digest, tag, data, parsed, sizes)
            row["misses"] += 1
            row["last_pulled"] = now
            if tag is not None:
                row["checked"][tag] = now
            tx.put_cached_repository(target.local_repo, row)

        self.meta.write(change)

    def record_hits(self, hits: dict[CacheTarget, CacheHits]) -> None:
        """Count manifests served from the cache, several repositories in one unit of work
        (the server batches them: a write per pull would cost a warm pull more than its reads)."""

        def change(tx: MetaWriter) -> None:
            for target, counted in hits.items():
                if not tx.has_repository(target.local_repo):
                    continue  # purged or evicted meanwhile
                row = _row(tx, target, counted.last_pulled)
                row["hits"] += counted.hits
                row["last_pulled"] = max(row["last_pulled"], counted.last_pulled)
                row["checked"].update(counted.confirmed)
                tx.put_cached_repository(target.local_repo, row)

        if hits:
            self.meta.write(change)

    def has_blob(self, target: CacheTarget, digest: Digest) -> bool:
        """Whether the blob is linked in the cached repository and its bytes are there."""
        with self.meta.read() as tx:
            linked = tx.link(target.local_repo, str(digest)) is not None
        return linked and self.store.size(digest) is not None

    def stored_size(self, digest: Digest) -> int | None:
        """The size of the blob's bytes if any repository stored them."""
        with self.meta.read() as tx:
            known = tx.blob(str(digest)) is not None
        return self.store.size(digest) if known else None

    def link(self, target: CacheTarget, digest: Digest, size: int) -> None:
        """Make stored bytes (committed from upstream, or already there) readable in the cached repository."""
        self.meta.write(lambda tx: link_blob(self.store, tx, target.local_repo, digest, size))

    # -- listing, purging, eviction --------------------------------------------------------

    def entries(self, mirror: str | None = None) -> Iterator[dict[str, Any]]:
        """Every cached repository (of one mirror): its rows, size in bytes, tags and hit rate."""
        with self.meta.read() as tx:
            for repo, row in list(tx.iter_cached_repositories()):
                if mirror is not None and row["mirror"] != mirror:
                    continue
                requests = row["hits"] + row["misses"]
                yield {
                    "repository": repo,
                    **{key: row[key] for key in ("mirror", "upstream", "last_pulled", "hits", "misses")},
                    "hit_rate": round(row["hits"] / requests, 4) if requests else 0.0,
                    "size": tx.usage_total("repository", repo),
                    "tags": sorted(tag for tag, _ in tx.iter_tags(repo)),
                }

    def purge(self, repo: str) -> bool:
        """Remove a cached repository (tags, manifests, links, row); garbage collection frees its blobs."""
        with self.meta.read() as tx:
            if tx.cached_repository(repo) is None:
                return False
        try:
            self.manifests.delete_repository(repo)
        except RegistryError:  # only the row was left
            self.meta.write(lambda tx: tx.delete_cached_repository(repo))
        return True

    def evict(self, mirror: Mirror) -> list[str]:
        """Purge the least recently pulled repositories of `mirror` until it fits its size limit."""
        if mirror.size_limit is None:
            return []
        with self.meta.read() as tx:
            stats = [
                CacheStat(repo, row["last_pulled"], tx.usage_total("repository", repo))
                for repo, row in tx.iter_cached_repositories()
                if row["mirror"] == mirror.name
            ]
        chosen = evictions(stats, mirror.size_limit)
        for repo in chosen:
            self.purge(repo)
        return chosen
