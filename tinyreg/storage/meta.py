"""Metadata in one LMDB environment: named sub-databases, cbor2 values, raw accessors.

This is the LMDB layer under `tinyreg.storage.lmdb_meta.LmdbMetaStore` (the `MetaStore` the
registry uses); nothing above `tinyreg.storage` touches it.

Sub-databases (keys from `tinyreg.storage.keys`):

=============  =========================  ==============================================
name           key                        value
=============  =========================  ==============================================
repos          repo                       {"id": int, "created": float, "updated": float | None}
blobs          digest                     {"size": int, "created": float}
links          repo\\0digest               {"size": int}  (blob readable through repo)
manifests      repo\\0digest               {"media_type", "size", "artifact_type",
                                           "subject", "refs", "annotations", "created"}
manifest_data  digest                     the manifest bytes, exactly as pushed
tags           repo\\0tag                  digest \\0 pushed-at (big-endian double); rows
                                          written before pushed-at was kept: digest only
tag_index      repo\\0digest\\0tag          b"" (the tags of a manifest, kept with `tags`)
referrers      repo\\0subject\\0referrer     b""
uploads        upload id                  {"repo", "size", "started", "updated"}
staging_states upload id                  {"state", "version", "updated", "holder", "expires"}: what
                                          an S3 blob store stages (see `tinyreg.storage.staging_states`)
users          user name                  {"id", "admin", "password", "tokens_only", "created"}
projects       project path               {"id", "public", "registry_enabled", "created"}
members        path\0user                 {"role"}
groups         group path                 {"id", "public", "created"}
group_members  path\0user                 {"role"}
ids            kind\0id (8 bytes, BE)      the name of the user, project, group or repository
tokens         sha256 of the secret       {"id", "kind", "name", "username", "owner",
                                           "scopes", "expires_at", "revoked", "created"}
token_ids      token id                   sha256 of the secret (bytes)
counters       counter name               int
usage          p\\0project\\0digest       manifests, size (two big-endian u64): how many manifests
               r\\0repo\\0digest          of the project (repository) reference the digest; its bytes
               P\\0project, R\\0repo       big-endian i64: the bytes of the distinct digests above
               b"stored"                  big-endian i64: bytes of blob rows and shared manifest bytes
schema         b"version"                 int: upgrades done on this environment
cleanup_policies  project path            {"enabled", "cadence", "keep_n", "older_than",
                                           "name_regex", "name_regex_keep", "next_run_at"}
leases         lease name                 {"holder": str, "expires": float}
event_queue    queue\\0seq (8 bytes, BE)  an event's JSON bytes, waiting for its delivery target
event_state    queue                      {"next", "pending", "queued", "delivered", "failed", "dropped"}
project_hooks  path\\0id (8 bytes, BE)    {"id", "url", "token", "enable_ssl_verification", "actions", "created"}
cached_repos   repo                       {"mirror", "upstream", "last_pulled", "hits", "misses",
                                           "checked": {tag: float}}  (pull-through cache)
aliases        old project or repo path   {"kind", "target", "created", "expires"} (a moved one)
=============  =========================  ==============================================

Read transactions are cheap and concurrent; write transactions are serialized, so callers
keep them short and never hold one across an `await`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import cbor2
import lmdb

from tinyreg.storage import private

T = TypeVar("T")

SUBDBS = (
    "repos",
    "blobs",
    "links",
    "manifests",
    "manifest_data",
    "tags",
    "tag_index",
    "referrers",
    "uploads",
    "users",
    "projects",
    "members",
    "groups",
    "group_members",
    "ids",
    "tokens",
    "token_ids",
    "counters",
    "schema",
    "usage",
    "cleanup_policies",
    "leases",
    "event_queue",
    "event_state",
    "project_hooks",
    "cached_repos",
    "aliases",
    "staging_states",
)
INITIAL_MAP_SIZE = 4 * 1024 * 1024 * 1024  # address space only: the file grows with its data
SCAN_BATCH = 1024


def encode(value: Any) -> bytes:
    return cbor2.dumps(value)


def decode(raw: bytes | memoryview | None) -> Any:
    return None if raw is None else cbor2.loads(raw)


class Meta:
    """The metadata store: an LMDB environment with one handle per sub-database."""

    def __init__(self, path: Path) -> None:
        private.make_dir(path)
        self.path = path
        self.env = lmdb.open(
            str(path),
            mode=private.FILE_MODE,  # data.mdb and lock.mdb hold password and token hashes
            map_size=INITIAL_MAP_SIZE,
            max_dbs=len(SUBDBS) + 8,
            max_readers=512,
            metasync=True,
            sync=True,
        )
        self.db = {name: self.env.open_db(name.encode()) for name in SUBDBS}
        private.warn_if_shared(path, path / "data.mdb", path / "lock.mdb")

    def close(self) -> None:
        self.env.close()

    @contextmanager
    def read(self) -> Iterator[lmdb.Transaction[bytes]]:
        """A read-only transaction (a consistent snapshot)."""
        with self.env.begin(buffers=False) as txn:
            yield txn

    def write(self, change: Callable[[lmdb.Transaction[bytes]], T]) -> T:
        """Run `change` in one write transaction, growing the map when it is full."""
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    return change(txn)
            except lmdb.MapFullError:
                self._grow()
            except lmdb.MapResizedError:
                self.env.set_mapsize(0)  # another process grew the map: adopt its size

    def _grow(self) -> None:
        current = self.env.info()["map_size"]
        self.env.set_mapsize(current * 2)

    def get(self, txn: lmdb.Transaction[bytes], db: str, key: bytes) -> Any:
        return decode(txn.get(key, db=self.db[db]))

    decode_value = staticmethod(decode)

    def put(self, txn: lmdb.Transaction[bytes], db: str, key: bytes, value: Any) -> None:
        txn.put(key, encode(value), db=self.db[db])

    def delete(self, txn: lmdb.Transaction[bytes], db: str, key: bytes) -> bool:
        return txn.delete(key, db=self.db[db])

    def scan_names(
        self, txn: lmdb.Transaction[bytes], db: str, prefix: bytes, *, after: bytes | None, limit: int
    ) -> tuple[list[str], bool]:
        """Up to `limit` keys starting with `prefix` (strictly after `after`), without the prefix,
        decoded; and whether more follow. The listing fast path: keys only, fetched in batches."""
        cursor = txn.cursor(db=self.db[db])
        start = after if after is not None and after >= prefix else prefix
        if not cursor.set_range(start):
            return [], False
        upper = prefix[:-1] + bytes([prefix[-1] + 1]) if prefix else None
        keys_iter = cursor.iternext(keys=True, values=False)
        found: list[bytes] = []
        while len(found) <= limit:
            batch = list(islice(keys_iter, SCAN_BATCH))
            exhausted = len(batch) < SCAN_BATCH  # judged before `after` is dropped from the batch
            if after is not None and not found and batch and batch[0] == after:
                batch = batch[1:]
            end = bisect_left(batch, upper) if upper is not None else len(batch)
            found.extend(batch[:end])
            if end < len(batch) or exhausted:
                break
        cut = len(prefix)
        return [key[cut:].decode() for key in found[:limit]], len(found) > limit

    def scan(
        self, txn: lmdb.Transaction[bytes], db: str, prefix: bytes, *, after: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Raw (key, value) pairs whose key starts with `prefix`, in key order, strictly after `after`."""
        cursor = txn.cursor(db=self.db[db])
        start = after if after is not None and after >= prefix else prefix
        if not cursor.set_range(start):
            return
        for key, value in cursor:
            if not key.startswith(prefix):
                return
            if after is not None and key <= after:
                continue
            yield key, value
