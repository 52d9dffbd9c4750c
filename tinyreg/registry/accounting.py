"""Usage kept current inside the units of work that change it, size limits, and recounts.

`Accounting.manifest_added` and `manifest_removed` run in the write transaction of a manifest
put or delete: they change the reference counts of the project owning the repository and of the
repository, and refuse (DENIED) a put that would take the project over its limit. As LMDB write
transactions are serialized, two pushes racing for the last free bytes cannot both pass, and a
crash leaves the counts exactly as the manifests are. `recount` computes everything from the
manifests, reports how far the stored counts drifted and puts them right.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tinyreg.registry import usage
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.manifests import parse_manifest
from tinyreg.registry.owners import project_of
from tinyreg.storage.interfaces import ManifestRow, MetaReader, MetaWriter, UsageKind, UsageRef

log = logging.getLogger("tinyreg.usage")

#: The counter recording that usage was counted for this data directory (by the first open of a version that counts).
COUNTED = "usage_counted"
KINDS: tuple[UsageKind, ...] = ("project", "repository")


def owner_project(tx: MetaReader, repo: str) -> str | None:
    """The project owning `repo` as the metadata says now."""
    return owner_and_row(tx, repo)[0]


def owner_and_row(tx: MetaReader, repo: str) -> tuple[str | None, dict[str, Any] | None]:
    """The project owning `repo` and its row, each project row read once."""
    rows: dict[str, dict[str, Any] | None] = {}

    def is_project(path: str) -> bool:
        rows[path] = tx.project(path)
        return rows[path] is not None

    project = project_of(repo, is_project)
    return project, rows.get(project) if project is not None else None


def row_blob_refs(tx: MetaReader, digest: str, row: ManifestRow) -> list[str]:
    """The blobs a stored manifest references (its bytes are parsed again for old rows)."""
    blobs = usage.blob_refs(row)
    if blobs is not None:
        return blobs
    data = row.get("data") or tx.manifest_data(digest)
    try:
        return [str(d) for d in parse_manifest(bytes(data), row["media_type"]).blobs] if data is not None else list(row["refs"])
    except RegistryError:
        return list(row["refs"])


def blob_size(tx: MetaReader, repo: str, digest: str) -> int:
    """A referenced blob's size: its row (kept while a manifest references it), else the repository's link."""
    row = tx.blob(digest)
    if row is not None:
        return int(row["size"])
    link = tx.link(repo, digest)
    return int(link.get("size", 0)) if link is not None else 0


@dataclass
class Drift:
    """Where the stored usage differed from a recount."""

    owners: list[dict[str, Any]] = field(default_factory=list)
    stored_bytes: tuple[int, int] | None = None  # (stored, counted) when they differ

    def __bool__(self) -> bool:
        return bool(self.owners) or self.stored_bytes is not None

    def to_json(self) -> dict[str, Any]:
        stored = None if self.stored_bytes is None else {"stored": self.stored_bytes[0], "counted": self.stored_bytes[1]}
        return {"owners": self.owners, "stored_bytes": stored}


class Accounting:
    """Usage counts and size limits of one data directory."""

    def __init__(self, default_limit: int | None = None) -> None:
        self.default_limit = default_limit

    def manifest_added(self, tx: MetaWriter, repo: str, digest: str, size: int, blob_sizes: dict[str, int]) -> None:
        """Count a manifest new to `repo`; DENIED if it takes its project over the limit."""
        contribution = usage.manifest_contribution(digest, size, blob_sizes)
        project, row = owner_and_row(tx, repo)
        if project is not None:
            used = tx.usage_total("project", project)
            added = self._apply(tx, "project", project, contribution, 1, used)
            limit = usage.effective_limit(row, self.default_limit)
            if limit is not None and usage.over_limit(used, added, limit):
                raise RegistryError("DENIED", usage.refusal_message(project, used, limit, added))
            if limit is not None and usage.crosses_warning(used, used + added, limit):
                log.warning(
                    "project %s uses %s of its %s size limit", project, usage.human_size(used + added), usage.human_size(limit)
                )
        self._apply(tx, "repository", repo, contribution, 1, tx.usage_total("repository", repo))

    def manifest_removed(self, tx: MetaWriter, repo: str, digest: str, row: ManifestRow) -> None:
        """Uncount a manifest deleted from `repo` (the sizes are the ones counted when it was added)."""
        contribution = dict.fromkeys((*row_blob_refs(tx, digest, row), digest), 0)
        project = owner_project(tx, repo)
        if project is not None:
            self._apply(tx, "project", project, contribution, -1, tx.usage_total("project", project))
        self._apply(tx, "repository", repo, contribution, -1, tx.usage_total("repository", repo))

    @staticmethod
    def _apply(tx: MetaWriter, kind: UsageKind, owner: str, contribution: dict[str, int], step: int, total: int) -> int:
        changes, delta = usage.apply_manifest(tx.usage_counts(kind, owner, contribution), contribution, step)
        tx.set_usage_refs(kind, owner, changes)
        if delta:
            tx.set_usage_total(kind, owner, total + delta)
        return delta

    def transfer(self, tx: MetaWriter, repo: str, source: str | None, target: str | None) -> None:
        """Move the counts of `repo`'s manifests from project `source` to project `target` (a
        repository moving between projects), in the move's unit of work; DENIED if `target` would
        go over its limit. Costs the repository's manifests; the repository's own counts move with it."""
        rows = list(tx.manifests_of(repo))
        if source is not None:
            for digest, row in rows:
                contribution = dict.fromkeys((*row_blob_refs(tx, digest, row), digest), 0)
                self._apply(tx, "project", source, contribution, -1, tx.usage_total("project", source))
        if target is None:
            return
        used = tx.usage_total("project", target)
        added = 0
        for digest, row in rows:
            sizes = {blob: blob_size(tx, repo, blob) for blob in row_blob_refs(tx, digest, row)}
            contribution = usage.manifest_contribution(digest, int(row["size"]), sizes)
            added += self._apply(tx, "project", target, contribution, 1, used + added)
        limit = usage.effective_limit(tx.project(target), self.default_limit)
        if limit is not None and usage.over_limit(used, added, limit):
            raise RegistryError("DENIED", usage.refusal_message(target, used, limit, added).replace("this push", "this move"))

    def check_upload(self, tx: MetaReader, repo: str, digest: str | None, size: int) -> None:
        """DENIED if a blob of `size` bytes (`digest` when known) would take the project of `repo`
        over its limit: a refusal before the bytes are read, instead of at the manifest."""
        project, row = owner_and_row(tx, repo)
        limit = usage.effective_limit(row, self.default_limit) if project is not None else None
        if project is None or limit is None:
            return
        if digest is not None and tx.usage_ref("project", project, digest) is not None:
            return
        used = tx.usage_total("project", project)
        if usage.over_limit(used, size, limit):
            raise RegistryError("DENIED", usage.refusal_message(project, used, limit, size))


def counted_from_scratch(tx: MetaReader, projects: set[str] | None = None) -> dict[tuple[UsageKind, str], dict[str, UsageRef]]:
    """Every owner's counts as the manifests say (only those of `projects` when given)."""
    counts: dict[tuple[UsageKind, str], dict[str, UsageRef]] = {}
    owners: dict[str, str | None] = {}
    for repo, digest, row in tx.iter_manifests():
        if repo not in owners:
            owners[repo] = owner_project(tx, repo)
        contribution = usage.manifest_contribution(
            digest, int(row["size"]), {blob: blob_size(tx, repo, blob) for blob in row_blob_refs(tx, digest, row)}
        )
        targets: list[tuple[UsageKind, str]] = [] if projects is not None else [("repository", repo)]
        project = owners[repo]
        if project is not None and (projects is None or project in projects):
            targets.append(("project", project))
        for target in targets:
            refs = counts.setdefault(target, {})
            for ref, size in contribution.items():
                old = refs.get(ref)
                refs[ref] = UsageRef(old.manifests + 1, old.size) if old else UsageRef(1, size)
    return counts


def _stored(tx: MetaReader, kind: UsageKind, owner: str) -> tuple[int, dict[str, UsageRef]]:
    return tx.usage_total(kind, owner), dict(tx.usage_refs(kind, owner))


def recount(tx: MetaWriter, projects: Iterable[str] | None = None) -> Drift:
    """Count usage from scratch, report where the stored counts differ and replace them.

    With `projects`, only those projects' counts (creating a project moves repositories to it)."""
    only = None if projects is None else set(projects)
    counted = counted_from_scratch(tx, only)
    drift = Drift()
    for kind, owner in _owners_to_check(tx, counted, only):
        refs = counted.get((kind, owner), {})
        total = sum(ref.size for ref in refs.values())
        stored_total, stored_refs = _stored(tx, kind, owner)
        if (stored_total, stored_refs) == (total, refs) or (not refs and not stored_refs and not stored_total):
            continue
        drift.owners.append({"kind": kind, "owner": owner, "stored": stored_total, "counted": total})
        tx.clear_usage(kind, owner)
        tx.set_usage_refs(kind, owner, refs)
        if refs:
            tx.set_usage_total(kind, owner, total)
    if only is None:
        stored_bytes = sum(int(row["size"]) for row in _blob_rows(tx)) + sum(
            len(tx.manifest_data(d) or b"") for d in tx.iter_manifest_data()
        )
        if stored_bytes != tx.stored_bytes():
            drift.stored_bytes = (tx.stored_bytes(), stored_bytes)
            tx.set_stored_bytes(stored_bytes)
    return drift


def _blob_rows(tx: MetaReader) -> Iterator[dict[str, Any]]:
    for digest in tx.iter_blobs():
        row = tx.blob(digest)
        if row is not None:
            yield dict(row)


def _owners_to_check(
    tx: MetaReader, counted: dict[tuple[UsageKind, str], dict[str, UsageRef]], only: set[str] | None
) -> list[tuple[UsageKind, str]]:
    """The owners counted now, and those with stored counts (which may have to go)."""
    owners = set(counted)
    for kind in KINDS if only is None else ("project",):
        owners.update((kind, owner) for owner, _ in tx.usage_totals(kind) if only is None or owner in only)
    if only is not None:
        owners.update(("project", owner) for owner in only)
    return sorted(owners)


def count_if_new(tx: MetaWriter) -> Drift | None:
    """On the first open of a data directory written before usage was counted, count it."""
    if tx.counter(COUNTED):
        return None
    drift = recount(tx)
    tx.next_counter(COUNTED)
    return drift


def project_usage(tx: MetaReader, path: str, row: dict[str, Any] | None, default_limit: int | None) -> dict[str, Any]:
    """One project's usage, limit (None: none) and percentage of it, as shown and sent as JSON."""
    used = tx.usage_total("project", path)
    limit = usage.effective_limit(row, default_limit)
    percent = usage.percent(used, limit)
    return {"path": path, "usage": used, "limit": limit, "percent": None if percent is None else round(percent, 1)}


def repository_usage(tx: MetaReader, project: str) -> list[dict[str, Any]]:
    """The usage of each repository of `project` (shared blobs count in each repository that uses them)."""
    repos = (repo for repo in tx.repositories_under(project) if owner_project(tx, repo) == project)
    return [{"repository": repo, "usage": tx.usage_total("repository", repo)} for repo in repos]
