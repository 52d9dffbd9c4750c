"""The usage rows of the LMDB `MetaStore` (the `usage` sub-database), mixed into its snapshot and unit of work.

Counts and totals are fixed-width big-endian integers rather than cbor: a manifest put reads and
writes a few of them for its project and its repository, and they cost less to pack.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tinyreg.storage import keys
from tinyreg.storage.interfaces import UsageKind, UsageRef
from tinyreg.storage.lmdb_tx import LmdbTx

_USAGE_REF = struct.Struct(">QQ")  # manifests, size
_USAGE_TOTAL = struct.Struct(">q")


class UsageReading(LmdbTx):
    """Reads of the usage rows."""

    __slots__ = ()

    def usage_ref(self, kind: UsageKind, owner: str, digest: str) -> UsageRef | None:
        raw = self.txn.get(keys.usage_prefix(kind, owner) + digest.encode(), db=self.d.usage)
        return None if raw is None else UsageRef._make(_USAGE_REF.unpack(raw))

    def usage_counts(self, kind: UsageKind, owner: str, digests: Iterable[str]) -> dict[str, UsageRef | None]:
        prefix, get, db, unpack, make = (
            keys.usage_prefix(kind, owner),
            self.txn.get,
            self.d.usage,
            _USAGE_REF.unpack,
            UsageRef._make,
        )
        found: dict[str, UsageRef | None] = {}
        for digest in digests:
            raw = get(prefix + digest.encode(), db=db)
            found[digest] = None if raw is None else make(unpack(raw))
        return found

    def usage_refs(self, kind: UsageKind, owner: str) -> Iterator[tuple[str, UsageRef]]:
        prefix = keys.usage_prefix(kind, owner)
        for key, value in self._scan("usage", prefix):
            yield key[len(prefix) :].decode(), UsageRef._make(_USAGE_REF.unpack(value))

    def usage_total(self, kind: UsageKind, owner: str) -> int:
        raw = self.txn.get(keys.usage_total_key(kind, owner), db=self.d.usage)
        return 0 if raw is None else int(_USAGE_TOTAL.unpack(raw)[0])

    def usage_totals(self, kind: UsageKind) -> Iterator[tuple[str, int]]:
        prefix = keys.usage_total_key(kind, "")
        for key, value in self._scan("usage", prefix):
            yield key[len(prefix) :].decode(), int(_USAGE_TOTAL.unpack(value)[0])

    def stored_bytes(self) -> int:
        raw = self.txn.get(keys.STORED_BYTES, db=self.d.usage)
        return 0 if raw is None else int(_USAGE_TOTAL.unpack(raw)[0])


class UsageWriting(UsageReading):
    """Writes of the usage rows, and the registry-wide total kept by blob and manifest writes."""

    __slots__ = ()

    def set_usage_refs(self, kind: UsageKind, owner: str, refs: Mapping[str, UsageRef | None]) -> None:
        prefix, put, delete, db, pack = (
            keys.usage_prefix(kind, owner),
            self.txn.put,
            self.txn.delete,
            self.d.usage,
            _USAGE_REF.pack,
        )
        for digest, ref in refs.items():
            if ref is None or ref.manifests <= 0:
                delete(prefix + digest.encode(), db=db)
            else:
                put(prefix + digest.encode(), pack(ref.manifests, ref.size), db=db)

    def set_usage_total(self, kind: UsageKind, owner: str, total: int) -> None:
        self.txn.put(keys.usage_total_key(kind, owner), _USAGE_TOTAL.pack(total), db=self.d.usage)

    def clear_usage(self, kind: UsageKind, owner: str) -> None:
        for key, _ in list(self._scan("usage", keys.usage_prefix(kind, owner))):
            self.txn.delete(key, db=self.d.usage)
        self.txn.delete(keys.usage_total_key(kind, owner), db=self.d.usage)

    def set_stored_bytes(self, total: int) -> None:
        put_stored_bytes(self.txn, self.d, total)

    def _add_stored(self, change: int) -> None:
        self.set_stored_bytes(self.stored_bytes() + change)


def put_stored_bytes(txn: Any, handles: Any, total: int) -> None:
    """Record the bytes stored (also for the schema upgrade that first sums them)."""
    txn.put(keys.STORED_BYTES, _USAGE_TOTAL.pack(total), db=handles.usage)
