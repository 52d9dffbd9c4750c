"""Moves on LMDB: re-keying a repository's or a project's rows, and the aliases of old paths.

Every row of a repository sits under the key prefix `repo\\0` in its sub-databases (see
`tinyreg.storage.keys`), so a move reads that prefix once and writes each row again under the
new name: it costs the rows it moves, whatever else is stored. Values are copied as they are
(blob and shared manifest bytes are keyed by digest and never move). The id index is pointed at
the new name, so a project or repository keeps its id.

`aliases` maps an old path to {"kind", "target", "created", "expires"}; whether one is still in
force is decided above storage (`tinyreg.registry.aliases`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import cbor2

from tinyreg.storage import keys
from tinyreg.storage.interfaces import AliasRow
from tinyreg.storage.lmdb_access import AccessWriter
from tinyreg.storage.lmdb_tx import LmdbTx

#: The sub-databases keyed `repo\0...`: everything of one repository but its own row.
REPOSITORY_ROWS = ("tags", "tag_index", "manifests", "referrers", "links")


class MovesReader(LmdbTx):
    __slots__ = ()

    def alias(self, path: str) -> AliasRow | None:
        return cast("AliasRow | None", self._get(self.d.aliases, path.encode()))

    def iter_aliases(self) -> Iterator[tuple[str, AliasRow]]:
        return ((key.decode(), cbor2.loads(value)) for key, value in self._scan("aliases", b""))


class MovesWriter(AccessWriter, MovesReader):
    __slots__ = ()

    def _rekey(self, db: str, old: bytes, new: bytes) -> int:
        """Write every row under prefix `old` again under prefix `new`, and delete it; how many."""
        rows = list(self._scan(db, old))  # listed first: a cursor must not walk rows changed under it
        handle = getattr(self.d, db)
        put, delete = self.txn.put, self.txn.delete
        for key, value in rows:
            put(new + key[len(old) :], value, db=handle)
            delete(key, db=handle)
        return len(rows)

    def _rekey_one(self, db: str, old: bytes, new: bytes) -> bool:
        handle = getattr(self.d, db)
        value = self.txn.get(old, db=handle)
        if value is None:
            return False
        self.txn.put(new, value, db=handle)
        self.txn.delete(old, db=handle)
        return True

    def _has_prefix(self, db: str, prefix: bytes) -> bool:
        return next(self._scan(db, prefix), None) is not None

    def _usage_rekey(self, kind: str, old: str, new: str) -> None:
        self._rekey("usage", keys.usage_prefix(kind, old), keys.usage_prefix(kind, new))
        self._rekey_one("usage", keys.usage_total_key(kind, old), keys.usage_total_key(kind, new))

    def _renumbered(self, kind: str, db: str, old: str, new: str) -> bool:
        """Move a numbered row (`repos`, `projects`) to `new`, its id now naming `new`."""
        row = self._get(getattr(self.d, db), old.encode())
        if row is None:
            return False
        self.txn.delete(old.encode(), db=getattr(self.d, db))
        self._put_numbered(kind, getattr(self.d, db), new, row)
        return True

    def move_repository(self, old: str, new: str) -> bool:
        old_prefix, new_prefix = keys.repo_prefix(old), keys.repo_prefix(new)
        if self.txn.get(new.encode(), db=self.d.repos) is not None or any(
            self._has_prefix(db, new_prefix) for db in REPOSITORY_ROWS
        ):
            raise ValueError(f"repository {new} exists")
        moved = self._renumbered("repository", "repos", old, new)
        for db in REPOSITORY_ROWS:
            moved = bool(self._rekey(db, old_prefix, new_prefix)) or moved
        self._usage_rekey("repository", old, new)
        return moved

    def move_project(self, old: str, new: str) -> bool:
        if self.txn.get(new.encode(), db=self.d.projects) is not None:
            raise ValueError(f"project {new} exists")
        if not self._renumbered("project", "projects", old, new):
            return False
        self._rekey("members", keys.repo_prefix(old), keys.repo_prefix(new))
        self._rekey("project_hooks", keys.repo_prefix(old), keys.repo_prefix(new))  # their queues are named by id
        self._rekey_one("cleanup_policies", old.encode(), new.encode())
        self._usage_rekey("project", old, new)
        return True

    def put_alias(self, path: str, row: AliasRow) -> None:
        self.txn.put(path.encode(), cbor2.dumps(dict(row)), db=self.d.aliases)

    def delete_alias(self, path: str) -> bool:
        return bool(self.txn.delete(path.encode(), db=self.d.aliases))
