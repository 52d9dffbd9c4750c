"""Read views of repositories and tags for the web panel and `/api/v4`: summaries, tag details.

Everything reads one snapshot of the metadata through the storage interfaces. Listings filter
and sort on what is cheap to read for every row (names, push times), then compute the details
(sizes, platforms, referrers) for the rows of the requested page only, so a repository with
10,000 tags lists a page quickly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tinyreg.registry.blobs import manifest_bytes
from tinyreg.registry.manifests import INDEX_TYPES
from tinyreg.storage.interfaces import ManifestRow, MetaReader, MetaStore

T = TypeVar("T")
SORTS = ("name", "updated")
ORDERS = ("asc", "desc")
#: How deep an index may nest indexes before the rest is not counted (pushes never go deeper).
MAX_DEPTH = 4


class CatalogueError(ValueError):
    """A listing request that cannot be answered (unknown sort key, page below 1)."""


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """One page of a listing and how many rows all pages hold together."""

    items: list[T]
    total: int


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    """A repository at a glance. `size` counts the compressed bytes of the distinct blobs its
    manifests reference and the manifests' own bytes; times are epoch seconds (None: unknown)."""

    name: str
    id: int  # the repository's number, as `/api/v4` shows it
    tags_count: int
    size: int
    created: float | None
    updated: float | None  # last published: a manifest put or a tag set


@dataclass(frozen=True, slots=True)
class Platform:
    """One child of an index: what it runs on and its own total size."""

    digest: str
    media_type: str
    os: str | None
    architecture: str | None
    variant: str | None
    size: int


@dataclass(frozen=True, slots=True)
class Referrer:
    """A manifest whose subject is the tagged one: a signature, an SBOM, an attestation."""

    digest: str
    media_type: str
    artifact_type: str | None
    size: int


@dataclass(frozen=True, slots=True)
class TagDetail:
    """A tag and what it points to. `total_size` is the manifest plus the distinct config and
    layers below it (through every child of an index)."""

    name: str
    digest: str
    media_type: str
    total_size: int
    pushed_at: float | None
    is_index: bool
    layers: int | None  # for an image
    config_digest: str | None  # for an image
    annotations: dict[str, str] = field(default_factory=dict)
    platforms: list[Platform] = field(default_factory=list)  # for an index
    referrers: list[Referrer] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a listing asks for: names holding `search`, sorted by `sort` (`name`, or `updated`:
    the last push) in `order`, page `page` of `per_page` rows. CatalogueError if nonsensical."""

    search: str = ""
    sort: str = "name"
    order: str = "asc"
    page: int = 1
    per_page: int = 20

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise CatalogueError(f"sort must be one of {', '.join(SORTS)}, not {self.sort!r}")
        if self.order not in ORDERS:
            raise CatalogueError(f"order must be asc or desc, not {self.order!r}")
        if self.page < 1 or self.per_page < 1:
            raise CatalogueError("page and per_page must be at least 1")

    def select(self, rows: list[tuple[str, float | None]]) -> tuple[list[str], int]:
        """The names of this page of `rows` ((name, time), in byte order of the names), and their count."""
        rows = [row for row in rows if self.search in row[0]]
        if self.sort == "updated":
            rows.sort(key=lambda row: (row[1] or 0.0, row[0].encode()), reverse=self.order == "desc")
        elif self.order == "desc":
            rows.reverse()
        start = (self.page - 1) * self.per_page
        return [name for name, _ in rows[start : start + self.per_page]], len(rows)


def _newest(values: Iterable[float | None]) -> float | None:
    return max((value for value in values if value is not None), default=None)


def _document(tx: MetaReader, digest: str, row: ManifestRow) -> dict[str, Any]:
    """The manifest's JSON document ({} if its bytes are gone or not an object)."""
    data = manifest_bytes(tx, digest, row)
    try:
        document = json.loads(data) if data is not None else {}
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _blob_size(tx: MetaReader, repo: str, digest: str) -> int:
    link = tx.link(repo, digest)
    if link is not None and "size" in link:
        return int(link["size"])
    blob = tx.blob(digest)
    return int(blob["size"]) if blob is not None else 0


def _closure(tx: MetaReader, repo: str, digest: str, blobs: dict[str, int], manifests: dict[str, int], depth: int = 0) -> None:
    """Collect the manifests (with their byte sizes) and blobs below `digest` in `repo`."""
    if digest in manifests or depth > MAX_DEPTH:
        return
    row = tx.manifest(repo, digest)
    if row is None:
        return
    manifests[digest] = row["size"]
    for ref in row["refs"]:
        if tx.has_manifest(repo, ref):
            _closure(tx, repo, ref, blobs, manifests, depth + 1)
        elif ref not in blobs:
            blobs[ref] = _blob_size(tx, repo, ref)


def total_size(tx: MetaReader, repo: str, digest: str) -> int:
    """The bytes of the manifest `digest` and of the distinct manifests and blobs below it."""
    blobs: dict[str, int] = {}
    manifests: dict[str, int] = {}
    _closure(tx, repo, digest, blobs, manifests)
    return sum(blobs.values()) + sum(manifests.values())


# -- repositories ----------------------------------------------------------------------------


def summarize(tx: MetaReader, repo: str) -> RepositorySummary | None:
    """The summary of `repo` read in the snapshot `tx` (None if it does not exist)."""
    info = tx.repository_info(repo)
    if info is None:
        return None
    manifests = dict(tx.manifests_of(repo))
    blobs: dict[str, int] = {}
    for row in manifests.values():
        for ref in row["refs"]:
            if ref not in manifests and ref not in blobs:
                blobs[ref] = _blob_size(tx, repo, ref)
    tags_count = sum(1 for _ in tx.iter_tags(repo))
    size = sum(blobs.values()) + sum(row["size"] for row in manifests.values())
    return RepositorySummary(repo, info["id"], tags_count, size, info["created"], _last_update(tx, repo))


def repository_summary(meta: MetaStore, repo: str) -> RepositorySummary | None:
    """The summary of one repository, or None if it does not exist."""
    with meta.read() as tx:
        return summarize(tx, repo)


def _last_update(tx: MetaReader, repo: str) -> float | None:
    """When a manifest was last put or a tag last set in `repo` (recorded with the repository;
    for repositories from before that was recorded, the newest tag or manifest)."""
    info = tx.repository_info(repo)
    if info is not None and info["updated"] is not None:
        return info["updated"]
    newest = _newest(tag.pushed_at for _, tag in tx.iter_tags(repo))
    return newest if newest is not None else _newest(row["created"] for _, row in tx.manifests_of(repo))


def list_repositories(
    meta: MetaStore,
    query: ListQuery,
    *,
    under: str | None = None,
    include: Callable[[str], bool] | None = None,
) -> Listing[RepositorySummary]:
    """Repositories named `under` or below it (all without `under`) that `include` accepts, as
    `query` asks, with summaries for the page's rows only."""
    with meta.read() as tx:
        names = tx.repositories_under(under) if under is not None else list(tx.iter_repositories())
        names = [name for name in names if query.search in name and (include is None or include(name))]
        stamps = {name: _last_update(tx, name) if query.sort == "updated" else None for name in names}
        chosen, total = query.select(list(stamps.items()))
        rows = [summarize(tx, name) for name in chosen]
        return Listing([row for row in rows if row is not None], total)


# -- tags ------------------------------------------------------------------------------------


def _platform(tx: MetaReader, repo: str, descriptor: Any) -> Platform | None:
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("digest"), str):
        return None
    found = descriptor.get("platform")
    platform: dict[str, Any] = found if isinstance(found, dict) else {}

    def text(key: str) -> str | None:
        value = platform.get(key)
        return value if isinstance(value, str) else None

    digest = descriptor["digest"]
    return Platform(
        digest,
        str(descriptor.get("mediaType", "")),
        text("os"),
        text("architecture"),
        text("variant"),
        total_size(tx, repo, digest),
    )


def _referrers(tx: MetaReader, repo: str, digest: str) -> list[Referrer]:
    found = []
    for referrer in tx.referrers(repo, digest):
        row = tx.manifest(repo, referrer)
        if row is not None:
            found.append(Referrer(referrer, row["media_type"], row.get("artifact_type"), total_size(tx, repo, referrer)))
    return found


def describe(tx: MetaReader, repo: str, name: str) -> TagDetail | None:
    """The details of the tag `name` of `repo` read in the snapshot `tx` (None if there is none)."""
    tag = tx.tag(repo, name)
    row = tx.manifest(repo, tag.digest) if tag is not None else None
    if tag is None or row is None:
        return None
    document = _document(tx, tag.digest, row)
    is_index = row["media_type"] in INDEX_TYPES or (isinstance(document.get("manifests"), list) and "config" not in document)
    platforms: list[Platform] = []
    layers: int | None = None
    config_digest: str | None = None
    if is_index:
        children = document.get("manifests")
        for descriptor in children if isinstance(children, list) else []:
            platform = _platform(tx, repo, descriptor)
            if platform is not None:
                platforms.append(platform)
    else:
        listed = document.get("layers", document.get("fsLayers"))
        layers = len(listed) if isinstance(listed, list) else 0
        config = document.get("config")
        config_digest = config.get("digest") if isinstance(config, dict) else None
    return TagDetail(
        name=name,
        digest=tag.digest,
        media_type=row["media_type"],
        total_size=total_size(tx, repo, tag.digest),
        pushed_at=tag.pushed_at,
        is_index=is_index,
        layers=layers,
        config_digest=config_digest,
        annotations=dict(row.get("annotations") or {}),
        platforms=platforms,
        referrers=_referrers(tx, repo, tag.digest),
    )


def tag_detail(meta: MetaStore, repo: str, name: str) -> TagDetail | None:
    """The details of one tag, or None if `repo` has no such tag."""
    with meta.read() as tx:
        return describe(tx, repo, name)


def list_tags(meta: MetaStore, repo: str, query: ListQuery) -> Listing[TagDetail]:
    """The tags of `repo` as `query` asks (`updated`: push time), with details for the page's rows only."""
    with meta.read() as tx:
        chosen, total = query.select([(name, tag.pushed_at) for name, tag in tx.iter_tags(repo)])
        details = [describe(tx, repo, name) for name in chosen]
        return Listing([detail for detail in details if detail is not None], total)


def tag_infos(meta: MetaStore, repo: str) -> list[tuple[str, float | None]]:
    """Every tag of `repo` with its push time: what bulk deletion rules need, read cheaply."""
    with meta.read() as tx:
        return [(name, tag.pushed_at) for name, tag in tx.iter_tags(repo)]
