"""The `MetaStore` on LMDB: typed snapshots and units of work over `tinyreg.storage.meta.Meta`.

A snapshot is one LMDB read transaction, a unit of work one write transaction (retried whole
when the map must grow, so a change only touches its `tx`). The key layout is in
`tinyreg.storage.keys`, the sub-databases in `tinyreg.storage.meta`.

Upgrades of an existing environment run once, at open, inside one write transaction (see
`tinyreg.storage.lmdb_upgrade`). The access model's rows (ids, groups) are in
`tinyreg.storage.lmdb_access`, the usage rows in `tinyreg.storage.lmdb_usage`, event queues and
projects' hooks in `tinyreg.storage.lmdb_events`, moves and aliases in `tinyreg.storage.lmdb_moves`. The usage of
projects and repositories follows rules of the registry, which counts it on its first open.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import cbor2

from tinyreg.storage import keys
from tinyreg.storage.interfaces import (
    BlobRow,
    FoundBlob,
    FoundManifest,
    LinkRow,
    ManifestRow,
    RepositoryRow,
    StagingStateRow,
    Tag,
    UploadRow,
)
from tinyreg.storage.lmdb_access import AccessReader
from tinyreg.storage.lmdb_events import EventsReader, EventsWriter
from tinyreg.storage.lmdb_housekeeping import HousekeepingReader, HousekeepingWriter
from tinyreg.storage.lmdb_moves import MovesReader, MovesWriter
from tinyreg.storage.lmdb_tx import Handles, decode_tag, encode_tag
from tinyreg.storage.lmdb_upgrade import SCHEMA_VERSION, upgrade
from tinyreg.storage.lmdb_usage import UsageReading, UsageWriting
from tinyreg.storage.meta import Meta
from tinyreg.storage.pull_lookups import find_blob_in, find_manifest_in

T = TypeVar("T")

_loads = cbor2.loads
_dumps = cbor2.dumps
SEP = keys.SEP


class LmdbReader(AccessReader, UsageReading, HousekeepingReader, EventsReader, MovesReader):
    """A read snapshot (also the base of the unit of work)."""

    __slots__ = ()

    def __enter__(self) -> LmdbReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.txn.abort()

    # -- repositories -----------------------------------------------------------------------

    def has_repository(self, repo: str) -> bool:
        return self.txn.get(repo.encode(), db=self.d.repos) is not None

    def repositories(self, *, after: str | None, limit: int) -> tuple[list[str], bool]:
        return self._names("repos", b"", after.encode() if after else None, limit)

    def iter_repositories(self, *, after: str | None = None) -> Iterator[str]:
        return (key.decode() for key, _ in self._scan("repos", b"", after.encode() if after else None))

    def repositories_under(self, path: str) -> list[str]:
        below = (key.decode() for key, _ in self._scan("repos", path.encode() + b"/"))
        return [path, *below] if self.has_repository(path) else list(below)

    def repository_info(self, repo: str) -> RepositoryRow | None:
        row: RepositoryRow | None = self._get(self.d.repos, repo.encode())
        return row

    def repository_by_id(self, repo_id: int) -> tuple[str, RepositoryRow] | None:
        return cast("tuple[str, RepositoryRow] | None", self._by_id("repository", self.d.repos, repo_id))

    # -- manifests --------------------------------------------------------------------------

    def manifest(self, repo: str, digest: str) -> ManifestRow | None:
        return cast("ManifestRow | None", self._get(self.d.manifests, keys.repo_key(repo, digest)))

    def has_manifest(self, repo: str, digest: str) -> bool:
        return self.txn.get(keys.repo_key(repo, digest), db=self.d.manifests) is not None

    def manifest_data(self, digest: str) -> bytes | None:
        return self.txn.get(digest.encode(), db=self.d.manifest_data)

    def iter_manifests(self) -> Iterator[tuple[str, str, ManifestRow]]:
        for key, value in self._scan("manifests", b""):
            repo, _, digest = key.decode().rpartition("\0")
            yield repo, digest, _loads(value)

    def iter_manifest_data(self) -> Iterator[str]:
        return (key.decode() for key, _ in self._scan("manifest_data", b""))

    def manifests_of(self, repo: str) -> Iterator[tuple[str, ManifestRow]]:
        cut = len(keys.repo_prefix(repo))
        return ((key[cut:].decode(), _loads(value)) for key, value in self._scan("manifests", keys.repo_prefix(repo)))

    # -- tags -------------------------------------------------------------------------------

    def tag_digest(self, repo: str, tag: str) -> str | None:
        raw = self.txn.get(keys.repo_key(repo, tag), db=self.d.tags)
        return None if raw is None else raw.partition(SEP)[0].decode()

    def tag(self, repo: str, tag: str) -> Tag | None:
        raw = self.txn.get(keys.repo_key(repo, tag), db=self.d.tags)
        return None if raw is None else decode_tag(raw)

    def tags(self, repo: str, *, after: str | None, limit: int) -> tuple[list[str], bool]:
        return self._names("tags", keys.repo_prefix(repo), keys.repo_key(repo, after) if after else None, limit)

    def tags_of(self, repo: str, digest: str) -> list[str]:
        prefix = keys.referrer_key(repo, digest, "")
        return [key[len(prefix) :].decode() for key, _ in self._scan("tag_index", prefix)]

    def iter_tags(self, repo: str) -> Iterator[tuple[str, Tag]]:
        cut = len(keys.repo_prefix(repo))
        return ((key[cut:].decode(), decode_tag(value)) for key, value in self._scan("tags", keys.repo_prefix(repo)))

    # -- blobs and links --------------------------------------------------------------------

    def blob(self, digest: str) -> BlobRow | None:
        return cast("BlobRow | None", self._get(self.d.blobs, digest.encode()))

    def iter_blobs(self) -> Iterator[str]:
        return (key.decode() for key, _ in self._scan("blobs", b""))

    def link(self, repo: str, digest: str) -> LinkRow | None:
        return cast("LinkRow | None", self._get(self.d.links, keys.repo_key(repo, digest)))

    def iter_links(self) -> Iterator[tuple[str, str, LinkRow]]:
        for key, value in self._scan("links", b""):
            repo, _, digest = key.decode().rpartition("\0")
            yield repo, digest, _loads(value)

    def referrers(self, repo: str, subject: str) -> Iterator[str]:
        prefix = keys.referrer_key(repo, subject, "")
        return (key[len(prefix) :].decode() for key, _ in self._scan("referrers", prefix))

    # -- upload sessions --------------------------------------------------------------------

    def upload(self, upload_id: str) -> UploadRow | None:
        return cast("UploadRow | None", self._get(self.d.uploads, upload_id.encode()))

    def iter_uploads(self) -> Iterator[tuple[str, UploadRow]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("uploads", b""))

    def staging_state(self, upload_id: str) -> StagingStateRow | None:
        return cast("StagingStateRow | None", self._get(self.d.staging_states, upload_id.encode()))

    def iter_staging_states(self) -> Iterator[tuple[str, StagingStateRow]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("staging_states", b""))

    # -- the access model -------------------------------------------------------------------

    def user(self, name: str) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self._get(self.d.users, name.encode()))

    def iter_users(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("users", b""))

    def project(self, path: str) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self._get(self.d.projects, path.encode()))

    def iter_projects(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("projects", b""))

    def member(self, path: str, user: str) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self._get(self.d.members, keys.repo_key(path, user)))

    def members(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return self._members_of("members", path)

    def iter_members(self) -> Iterator[tuple[str, str]]:
        return self._memberships("members")

    def token(self, key: bytes) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self._get(self.d.tokens, key))

    def token_key(self, token_id: int) -> bytes | None:
        return self.txn.get(str(token_id).encode(), db=self.d.token_ids)

    def iter_token_keys(self) -> Iterator[bytes]:
        return (value for _, value in self._scan("token_ids", b""))

    def counter(self, name: str) -> int:
        return cast("int", self._get(self.d.counters, name.encode()) or 0)

    def iter_counters(self) -> Iterator[tuple[str, int]]:
        return ((key.decode(), int(_loads(value))) for key, value in self._scan("counters", b""))


class LmdbWriter(LmdbReader, MovesWriter, UsageWriting, HousekeepingWriter, EventsWriter):
    """A unit of work: one LMDB write transaction."""

    __slots__ = ()

    def ensure_repository(self, repo: str) -> None:
        if self.txn.get(repo.encode(), db=self.d.repos) is None:
            self._new_repository(repo, time.time(), None)

    def _published(self, repo: str, when: float) -> None:
        """Record that a manifest was put or a tag set in `repo` at `when` (one get, one put)."""
        row = self._get(self.d.repos, repo.encode())
        if row is None:
            self._new_repository(repo, when, when)
        elif "id" not in row:  # pragma: no cover - every row has an id once the schema is upgraded
            self._new_repository(repo, row.get("created", when), when)
        elif (row.get("updated") or 0.0) < when:
            self._put(self.d.repos, repo.encode(), {**row, "updated": when})

    def put_manifest(self, repo: str, digest: str, data: bytes, row: ManifestRow) -> None:
        if "data" not in row and self.txn.get(digest.encode(), db=self.d.manifest_data) is None:
            self.txn.put(digest.encode(), data, db=self.d.manifest_data)
            self._add_stored(len(data))
        key = keys.repo_key(repo, digest)
        old = self._get(self.d.manifests, key)
        self._put(self.d.manifests, key, {**row, "created": old["created"]} if old else row)
        if row["subject"]:
            self.txn.put(keys.referrer_key(repo, row["subject"], digest), b"", db=self.d.referrers)
        self._published(repo, row["created"])

    def delete_manifest(self, repo: str, digest: str) -> ManifestRow | None:
        key = keys.repo_key(repo, digest)
        row: ManifestRow | None = self._get(self.d.manifests, key)
        if row is None:
            return None
        self.txn.delete(key, db=self.d.manifests)
        for tag in self.tags_of(repo, digest):
            self.txn.delete(keys.repo_key(repo, tag), db=self.d.tags)
            self.txn.delete(keys.referrer_key(repo, digest, tag), db=self.d.tag_index)
        subject = row.get("subject")
        if subject:
            self.txn.delete(keys.referrer_key(repo, subject, digest), db=self.d.referrers)
        return row

    def delete_manifest_data(self, digest: str) -> None:
        old = self.txn.get(digest.encode(), db=self.d.manifest_data)
        if old is not None:
            self.txn.delete(digest.encode(), db=self.d.manifest_data)
            self._add_stored(-len(old))

    def set_tag(self, repo: str, tag: str, digest: str, pushed_at: float) -> None:
        key = keys.repo_key(repo, tag)
        old = self.txn.get(key, db=self.d.tags)
        if old is not None:
            self.txn.delete(keys.referrer_key(repo, old.partition(SEP)[0].decode(), tag), db=self.d.tag_index)
        self.txn.put(key, encode_tag(digest, pushed_at), db=self.d.tags)
        self.txn.put(keys.referrer_key(repo, digest, tag), b"", db=self.d.tag_index)
        self._published(repo, pushed_at)

    def delete_tag(self, repo: str, tag: str) -> bool:
        key = keys.repo_key(repo, tag)
        old = self.txn.get(key, db=self.d.tags)
        if old is None:
            return False
        self.txn.delete(key, db=self.d.tags)
        self.txn.delete(keys.referrer_key(repo, old.partition(SEP)[0].decode(), tag), db=self.d.tag_index)
        return True

    def delete_repository(self, repo: str) -> bool:
        existed = self._delete_numbered("repository", self.d.repos, repo)  # its row and its id
        prefix = keys.repo_prefix(repo)
        # Listed before deleting: a cursor must not walk rows deleted under it.
        for db in ("tags", "tag_index", "manifests", "referrers", "links"):
            doomed = [key for key, _ in self._scan(db, prefix)]
            existed = bool(doomed) or existed
            handle = getattr(self.d, db)
            for key in doomed:
                self.txn.delete(key, db=handle)
        self.txn.delete(repo.encode(), db=self.d.cached_repos)
        return existed

    def put_blob(self, digest: str, row: BlobRow) -> None:
        if self.txn.get(digest.encode(), db=self.d.blobs) is None:
            self._put(self.d.blobs, digest.encode(), row)
            self._add_stored(row["size"])

    def delete_blob(self, digest: str) -> None:
        old = self._get(self.d.blobs, digest.encode())
        if old is not None:
            self.txn.delete(digest.encode(), db=self.d.blobs)
            self._add_stored(-old["size"])

    def put_link(self, repo: str, digest: str, row: LinkRow) -> None:
        self._put(self.d.links, keys.repo_key(repo, digest), row)

    def delete_link(self, repo: str, digest: str) -> bool:
        return self.txn.delete(keys.repo_key(repo, digest), db=self.d.links)

    def put_upload(self, upload_id: str, row: UploadRow) -> None:
        self._put(self.d.uploads, upload_id.encode(), row)

    def delete_upload(self, upload_id: str) -> bool:
        return self.txn.delete(upload_id.encode(), db=self.d.uploads)

    def put_staging_state(self, upload_id: str, row: StagingStateRow) -> None:
        self._put(self.d.staging_states, upload_id.encode(), row)

    def delete_staging_state(self, upload_id: str) -> bool:
        return self.txn.delete(upload_id.encode(), db=self.d.staging_states)

    def put_user(self, name: str, row: dict[str, Any]) -> None:
        self._put_numbered("user", self.d.users, name, row)

    def delete_user(self, name: str) -> bool:
        return self._delete_numbered("user", self.d.users, name)

    def put_project(self, path: str, row: dict[str, Any]) -> None:
        self._put_numbered("project", self.d.projects, path, row)

    def put_member(self, path: str, user: str, row: dict[str, Any]) -> None:
        self._put(self.d.members, keys.repo_key(path, user), row)

    def delete_member(self, path: str, user: str) -> bool:
        return self.txn.delete(keys.repo_key(path, user), db=self.d.members)

    def put_token(self, key: bytes, token_id: int, row: dict[str, Any]) -> None:
        self._put(self.d.tokens, key, row)
        self.txn.put(str(token_id).encode(), key, db=self.d.token_ids)


class LmdbMetaStore:
    """The metadata of one data directory in an LMDB environment at `path`."""

    remote = False  # a call costs microseconds: cheaper on the event loop than a thread hop
    threads = 1

    def __init__(self, path: Path) -> None:
        self.env_meta = Meta(path)
        self._env = self.env_meta.env
        self._handles = Handles(self.env_meta.db)
        with self.read() as tx:
            current = tx._get(tx.d.schema, b"version") == SCHEMA_VERSION
        self.upgrades = 0 if current else self.write(upgrade)  # how many upgrade steps this open ran

    def close(self) -> None:
        self.env_meta.close()

    def read(self) -> LmdbReader:
        """A snapshot, to use as `with meta.read() as tx:`."""
        return LmdbReader(self._env.begin(buffers=False), self.env_meta, self._handles)

    def write(self, change: Callable[[LmdbWriter], T]) -> T:
        """Run `change` in one write transaction (again from the start if the map must grow)."""
        return self.env_meta.write(lambda txn: change(LmdbWriter(txn, self.env_meta, self._handles)))

    def find_manifest(self, name: str, *, tag: str | None = None, digest: str | None = None) -> FoundManifest:
        with self.read() as tx:
            return find_manifest_in(tx, name, tag, digest)

    def find_blob(self, name: str, digest: str) -> FoundBlob:
        with self.read() as tx:
            return find_blob_in(tx, name, digest)

    # On the event loop as they are: a lookup takes microseconds.
    async def afind_manifest(self, name: str, *, tag: str | None = None, digest: str | None = None) -> FoundManifest:
        return self.find_manifest(name, tag=tag, digest=digest)

    async def afind_blob(self, name: str, digest: str) -> FoundBlob:
        return self.find_blob(name, digest)
