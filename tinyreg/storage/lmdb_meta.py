"""The `MetaStore` on LMDB: typed snapshots and units of work over `tinyreg.storage.meta.Meta`.

A snapshot is one LMDB read transaction, a unit of work one write transaction (retried whole
when the map must grow, so a change only touches its `tx`). The key layout is in
`tinyreg.storage.keys`, the sub-databases in `tinyreg.storage.meta`.

Upgrades of an existing environment run once, at open, inside one write transaction, and are
recorded in the `schema` sub-database: version 2 builds the `tag_index` (repo, digest → tags)
from the tags already stored; version 3 sums the bytes stored (`stored_bytes`). The usage of
projects and repositories follows rules of the registry, which counts it on its first open.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import cbor2
import lmdb

from tinyreg.storage import keys
from tinyreg.storage.interfaces import BlobRow, LinkRow, ManifestRow, Tag, UploadRow
from tinyreg.storage.lmdb_usage import UsageReading, UsageWriting
from tinyreg.storage.meta import Meta

T = TypeVar("T")

SCHEMA_VERSION = 3
_STAMP = struct.Struct(">d")
_loads = cbor2.loads
_dumps = cbor2.dumps
SEP = keys.SEP


def encode_tag(digest: str, pushed_at: float) -> bytes:
    """A tag's value: the digest, NUL, when it was pushed (digests never hold a NUL)."""
    return digest.encode() + SEP + _STAMP.pack(pushed_at)


def decode_tag(raw: bytes) -> Tag:
    """A tag's value, new or old (bare digest bytes, written before pushed-at was kept)."""
    digest, sep, stamp = raw.partition(SEP)
    return Tag(digest.decode(), _STAMP.unpack(stamp)[0] if sep else None)


class _Handles:
    """The sub-database handles as attributes (cheaper than a dict lookup on hot paths)."""

    def __init__(self, db: dict[str, Any]) -> None:
        for name, handle in db.items():
            setattr(self, name, handle)

    def __getattr__(self, name: str) -> Any:  # only for the type checker: every name is set
        raise AttributeError(name)


class LmdbReader(UsageReading):
    """A read snapshot (also the base of the unit of work). `rows_visited` counts rows scanned."""

    __slots__ = ("txn", "d", "meta", "rows_visited")

    def __init__(self, txn: lmdb.Transaction, meta: Meta, handles: _Handles) -> None:
        self.txn: Any = txn  # opened without buffers: keys and values come back as bytes
        self.meta = meta
        self.d = handles
        self.rows_visited = 0

    def __enter__(self) -> LmdbReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.txn.abort()

    def _get(self, db: Any, key: bytes) -> Any:
        raw = self.txn.get(key, db=db)
        return None if raw is None else _loads(raw)

    def _scan(self, db: str, prefix: bytes, after: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        for row in self.meta.scan(self.txn, db, prefix, after=after):
            self.rows_visited += 1
            yield row

    def _names(self, db: str, prefix: bytes, after: bytes | None, limit: int) -> tuple[list[str], bool]:
        names, more = self.meta.scan_names(self.txn, db, prefix, after=after, limit=limit)
        self.rows_visited += len(names) + more
        return names, more

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

    # -- manifests --------------------------------------------------------------------------

    def manifest(self, repo: str, digest: str) -> ManifestRow | None:
        return self._get(self.d.manifests, keys.repo_key(repo, digest))

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

    # -- blobs and links --------------------------------------------------------------------

    def blob(self, digest: str) -> BlobRow | None:
        return self._get(self.d.blobs, digest.encode())

    def iter_blobs(self) -> Iterator[str]:
        return (key.decode() for key, _ in self._scan("blobs", b""))

    def link(self, repo: str, digest: str) -> LinkRow | None:
        return self._get(self.d.links, keys.repo_key(repo, digest))

    def iter_links(self) -> Iterator[tuple[str, str, LinkRow]]:
        for key, value in self._scan("links", b""):
            repo, _, digest = key.decode().rpartition("\0")
            yield repo, digest, _loads(value)

    def referrers(self, repo: str, subject: str) -> Iterator[str]:
        prefix = keys.referrer_key(repo, subject, "")
        return (key[len(prefix) :].decode() for key, _ in self._scan("referrers", prefix))

    # -- upload sessions --------------------------------------------------------------------

    def upload(self, upload_id: str) -> UploadRow | None:
        return self._get(self.d.uploads, upload_id.encode())

    def iter_uploads(self) -> Iterator[tuple[str, UploadRow]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("uploads", b""))

    # -- the access model -------------------------------------------------------------------

    def user(self, name: str) -> dict[str, Any] | None:
        return self._get(self.d.users, name.encode())

    def iter_users(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("users", b""))

    def project(self, path: str) -> dict[str, Any] | None:
        return self._get(self.d.projects, path.encode())

    def iter_projects(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("projects", b""))

    def member(self, path: str, user: str) -> dict[str, Any] | None:
        return self._get(self.d.members, keys.repo_key(path, user))

    def members(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        prefix = keys.repo_prefix(path)
        return ((key[len(prefix) :].decode(), _loads(value)) for key, value in self._scan("members", prefix))

    def iter_members(self) -> Iterator[tuple[str, str]]:
        for key, _ in self._scan("members", b""):
            path, _, user = key.decode().rpartition("\0")
            yield path, user

    def token(self, key: bytes) -> dict[str, Any] | None:
        return self._get(self.d.tokens, key)

    def token_key(self, token_id: int) -> bytes | None:
        return self.txn.get(str(token_id).encode(), db=self.d.token_ids)

    def iter_token_keys(self) -> Iterator[bytes]:
        return (value for _, value in self._scan("token_ids", b""))

    def counter(self, name: str) -> int:
        return self._get(self.d.counters, name.encode()) or 0


class LmdbWriter(LmdbReader, UsageWriting):
    """A unit of work: one LMDB write transaction."""

    __slots__ = ()

    def _put(self, db: Any, key: bytes, value: Any) -> None:
        self.txn.put(key, _dumps(value), db=db)

    def ensure_repository(self, repo: str) -> None:
        if self.txn.get(repo.encode(), db=self.d.repos) is None:
            self._put(self.d.repos, repo.encode(), {"created": time.time()})

    def put_manifest(self, repo: str, digest: str, data: bytes, row: ManifestRow) -> None:
        if "data" not in row and self.txn.get(digest.encode(), db=self.d.manifest_data) is None:
            self.txn.put(digest.encode(), data, db=self.d.manifest_data)
            self._add_stored(len(data))
        key = keys.repo_key(repo, digest)
        old = self._get(self.d.manifests, key)
        self._put(self.d.manifests, key, {**row, "created": old["created"]} if old else row)
        if row["subject"]:
            self.txn.put(keys.referrer_key(repo, row["subject"], digest), b"", db=self.d.referrers)

    def delete_manifest(self, repo: str, digest: str) -> ManifestRow | None:
        key = keys.repo_key(repo, digest)
        row: ManifestRow | None = self._get(self.d.manifests, key)
        if row is None:
            return None
        self.txn.delete(key, db=self.d.manifests)
        for tag in self.tags_of(repo, digest):
            self.txn.delete(keys.repo_key(repo, tag), db=self.d.tags)
            self.txn.delete(keys.referrer_key(repo, digest, tag), db=self.d.tag_index)
        if row.get("subject"):
            self.txn.delete(keys.referrer_key(repo, row["subject"], digest), db=self.d.referrers)  # type: ignore[arg-type]
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

    def delete_tag(self, repo: str, tag: str) -> bool:
        key = keys.repo_key(repo, tag)
        old = self.txn.get(key, db=self.d.tags)
        if old is None:
            return False
        self.txn.delete(key, db=self.d.tags)
        self.txn.delete(keys.referrer_key(repo, old.partition(SEP)[0].decode(), tag), db=self.d.tag_index)
        return True

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

    def put_user(self, name: str, row: dict[str, Any]) -> None:
        self._put(self.d.users, name.encode(), row)

    def delete_user(self, name: str) -> bool:
        return self.txn.delete(name.encode(), db=self.d.users)

    def put_project(self, path: str, row: dict[str, Any]) -> None:
        self._put(self.d.projects, path.encode(), row)

    def put_member(self, path: str, user: str, row: dict[str, Any]) -> None:
        self._put(self.d.members, keys.repo_key(path, user), row)

    def delete_member(self, path: str, user: str) -> bool:
        return self.txn.delete(keys.repo_key(path, user), db=self.d.members)

    def put_token(self, key: bytes, token_id: int, row: dict[str, Any]) -> None:
        self._put(self.d.tokens, key, row)
        self.txn.put(str(token_id).encode(), key, db=self.d.token_ids)

    def next_counter(self, name: str) -> int:
        value = self.counter(name) + 1
        self._put(self.d.counters, name.encode(), value)
        return value


class LmdbMetaStore:
    """The metadata of one data directory in an LMDB environment at `path`."""

    def __init__(self, path: Path) -> None:
        self.env_meta = Meta(path)
        self._env = self.env_meta.env
        self._handles = _Handles(self.env_meta.db)
        with self.read() as tx:
            current = tx._get(tx.d.schema, b"version") == SCHEMA_VERSION
        self.upgrades = 0 if current else self.write(_upgrade)  # how many upgrade steps this open ran

    def close(self) -> None:
        self.env_meta.close()

    def read(self) -> LmdbReader:
        """A snapshot, to use as `with meta.read() as tx:`."""
        return LmdbReader(self._env.begin(buffers=False), self.env_meta, self._handles)

    def write(self, change: Callable[[LmdbWriter], T]) -> T:
        """Run `change` in one write transaction (again from the start if the map must grow)."""
        return self.env_meta.write(lambda txn: change(LmdbWriter(txn, self.env_meta, self._handles)))


def _upgrade(tx: LmdbWriter) -> int:
    """Bring an environment written by an older version up to `SCHEMA_VERSION`; steps run."""
    version = tx._get(tx.d.schema, b"version") or 1
    steps = 0
    if version < 2:
        for key, value in tx._scan("tags", b""):
            repo, _, tag = key.decode().rpartition("\0")
            tx.txn.put(keys.referrer_key(repo, value.partition(SEP)[0].decode(), tag), b"", db=tx.d.tag_index)
        steps += 1
    if version < 3:
        blobs = sum(_loads(value)["size"] for _, value in tx._scan("blobs", b""))
        tx.set_stored_bytes(blobs + sum(len(value) for _, value in tx._scan("manifest_data", b"")))
        steps += 1
    if version < SCHEMA_VERSION:
        tx._put(tx.d.schema, b"version", SCHEMA_VERSION)
    return steps
