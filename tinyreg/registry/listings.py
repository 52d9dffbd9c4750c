"""Listings: the tags of a repository, the catalog, and the referrers of a manifest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tinyreg.registry.errors import RegistryError
from tinyreg.registry.manifests import OCI_INDEX
from tinyreg.registry.numbers import parse_count
from tinyreg.storage.interfaces import MetaStore

MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a sorted listing; `more` says whether a next page exists."""

    items: list[str]
    more: bool


def parse_page_size(value: str | None) -> int | None:
    """The `n` query parameter: None when absent; PAGINATION_NUMBER_INVALID when not a count."""
    if value is None or value == "":
        return None
    count = parse_count(value, cap=MAX_PAGE)
    if count is None:
        raise RegistryError("PAGINATION_NUMBER_INVALID", f"n must be a non-negative integer, not {value[:50]!r}")
    return count


def _page(names: Any, n: int | None) -> Page:
    limit = MAX_PAGE if n is None else n
    items: list[str] = []
    for name in names:
        if len(items) == limit:
            return Page(items, True)
        items.append(name)
    return Page(items, False)


class Listings:
    """Tag lists, the catalog and referrers, read from one snapshot each."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    def tags(self, repo: str, n: int | None, last: str | None) -> Page:
        """Tags of `repo` in byte order, after `last`; NAME_UNKNOWN for a repository never pushed to."""
        with self.meta.read() as tx:
            if not tx.has_repository(repo):
                raise RegistryError("NAME_UNKNOWN", detail={"name": repo})
            names, more = tx.tags(repo, after=last or None, limit=MAX_PAGE if n is None else n)
            return Page(names, more)

    def catalog(self, n: int | None, last: str | None, visible: Callable[[str], bool] | None = None) -> Page:
        """Repository names in byte order, after `last`; only those `visible` says the caller may see."""
        with self.meta.read() as tx:
            if visible is None:
                names, more = tx.repositories(after=last or None, limit=MAX_PAGE if n is None else n)
                return Page(names, more)
            return _page((name for name in tx.iter_repositories(after=last or None) if visible(name)), n)

    def referrers(self, repo: str, subject: str, artifact_type: str | None) -> dict[str, Any]:
        """An OCI image index of the manifests in `repo` whose `subject` is `subject`."""
        descriptors = []
        with self.meta.read() as tx:
            for digest in tx.referrers(repo, subject):
                row = tx.manifest(repo, digest)
                if row is None or (artifact_type and row.get("artifact_type") != artifact_type):
                    continue
                descriptor: dict[str, Any] = {"mediaType": row["media_type"], "digest": digest, "size": row["size"]}
                if row.get("artifact_type"):
                    descriptor["artifactType"] = row["artifact_type"]
                if row.get("annotations"):
                    descriptor["annotations"] = row["annotations"]
                descriptors.append(descriptor)
        return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
