"""The access model's rows on LMDB: the id index and groups with their members.

Users, projects, groups and repositories carry a numeric `id`; the `ids` sub-database maps
(kind, id) to the name, so a lookup by id is one get and never a scan. Writers of those rows
keep the index in the same unit of work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cbor2

from tinyreg.storage import keys
from tinyreg.storage.interfaces import RepositoryRow
from tinyreg.storage.lmdb_tx import LmdbTx

_loads = cbor2.loads
_dumps = cbor2.dumps


class AccessReader(LmdbTx):
    """Lookups by id, and groups."""

    __slots__ = ()

    def _by_id(self, kind: str, db: Any, number: int) -> tuple[str, dict[str, Any]] | None:
        name = self.txn.get(keys.id_key(kind, number), db=self.d.ids)
        if name is None:
            return None
        row = self._get(db, name)
        return None if row is None else (name.decode(), row)

    def user_by_id(self, user_id: int) -> tuple[str, dict[str, Any]] | None:
        return self._by_id("user", self.d.users, user_id)

    def project_by_id(self, project_id: int) -> tuple[str, dict[str, Any]] | None:
        return self._by_id("project", self.d.projects, project_id)

    def group_by_id(self, group_id: int) -> tuple[str, dict[str, Any]] | None:
        return self._by_id("group", self.d.groups, group_id)

    def projects_below(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("projects", keys.child_prefix(path)))

    # -- groups -----------------------------------------------------------------------------

    def group(self, path: str) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self._get(self.d.groups, path.encode())
        return row

    def iter_groups(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("groups", b""))

    def groups_below(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((key.decode(), _loads(value)) for key, value in self._scan("groups", keys.child_prefix(path)))

    def group_member(self, path: str, user: str) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self._get(self.d.group_members, keys.repo_key(path, user))
        return row

    def group_members(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return self._members_of("group_members", path)

    def iter_group_members(self) -> Iterator[tuple[str, str]]:
        return self._memberships("group_members")


class AccessWriter(AccessReader):
    """Writes of id-carrying rows and of groups."""

    __slots__ = ()

    def _put(self, db: Any, key: bytes, value: Any) -> None:
        self.txn.put(key, _dumps(value), db=db)

    def _put_numbered(self, kind: str, db: Any, name: str, row: dict[str, Any]) -> None:
        """Store `row` under `name`, and index its `id` (rows without one are not indexed)."""
        self._put(db, name.encode(), row)
        if "id" in row:
            self.txn.put(keys.id_key(kind, row["id"]), name.encode(), db=self.d.ids)

    def _delete_numbered(self, kind: str, db: Any, name: str) -> bool:
        row = self._get(db, name.encode())
        if row is None:
            return False
        if "id" in row:
            self.txn.delete(keys.id_key(kind, row["id"]), db=self.d.ids)
        return bool(self.txn.delete(name.encode(), db=db))

    def next_counter(self, name: str) -> int:
        value = (self._get(self.d.counters, name.encode()) or 0) + 1
        self._put(self.d.counters, name.encode(), value)
        return int(value)

    def set_counter(self, name: str, value: int) -> None:
        self._put(self.d.counters, name.encode(), value)

    def put_repository(self, repo: str, row: RepositoryRow) -> None:
        self._put_numbered("repository", self.d.repos, repo, dict(row))

    def _new_repository(self, repo: str, created: float, updated: float | None) -> None:
        row: RepositoryRow = {"id": self.next_counter("repository"), "created": created, "updated": updated}
        self._put_numbered("repository", self.d.repos, repo, dict(row))

    def put_group(self, path: str, row: dict[str, Any]) -> None:
        self._put_numbered("group", self.d.groups, path, row)

    def delete_group(self, path: str) -> bool:
        return self._delete_numbered("group", self.d.groups, path)

    def put_group_member(self, path: str, user: str, row: dict[str, Any]) -> None:
        self._put(self.d.group_members, keys.repo_key(path, user), row)

    def delete_group_member(self, path: str, user: str) -> bool:
        return bool(self.txn.delete(keys.repo_key(path, user), db=self.d.group_members))
