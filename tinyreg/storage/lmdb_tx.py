"""What every LMDB snapshot and unit of work shares: the transaction, the sub-database handles,
and the raw get/scan helpers the typed readers and writers are built from."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import cbor2
import lmdb

from tinyreg.storage import keys
from tinyreg.storage.interfaces import Tag
from tinyreg.storage.meta import Meta

_loads = cbor2.loads
_STAMP = struct.Struct(">d")
SEP = keys.SEP


def encode_tag(digest: str, pushed_at: float) -> bytes:
    """A tag's value: the digest, NUL, when it was pushed (digests never hold a NUL)."""
    return digest.encode() + SEP + _STAMP.pack(pushed_at)


def decode_tag(raw: bytes) -> Tag:
    """A tag's value, new or old (bare digest bytes, written before pushed-at was kept)."""
    digest, sep, stamp = raw.partition(SEP)
    return Tag(digest.decode(), _STAMP.unpack(stamp)[0] if sep else None)


class Handles:
    """The sub-database handles as attributes (cheaper than a dict lookup on hot paths)."""

    def __init__(self, db: dict[str, Any]) -> None:
        for name, handle in db.items():
            setattr(self, name, handle)

    def __getattr__(self, name: str) -> Any:  # only for the type checker: every name is set
        raise AttributeError(name)


class LmdbTx:
    """One LMDB transaction with typed helpers. `rows_visited` counts rows scanned."""

    __slots__ = ("txn", "d", "meta", "rows_visited")

    def __init__(self, txn: lmdb.Transaction, meta: Meta, handles: Handles) -> None:
        self.txn: Any = txn  # opened without buffers: keys and values come back as bytes
        self.meta = meta
        self.d = handles
        self.rows_visited = 0

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

    def _members_of(self, db: str, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(user, row) of the members of `path` in a `path\\0user` sub-database."""
        prefix = keys.repo_prefix(path)
        return ((key[len(prefix) :].decode(), _loads(value)) for key, value in self._scan(db, prefix))

    def _memberships(self, db: str) -> Iterator[tuple[str, str]]:
        """Every (path, user) of a `path\\0user` sub-database."""
        for key, _ in self._scan(db, b""):
            path, _, user = key.decode().rpartition("\0")
            yield path, user
