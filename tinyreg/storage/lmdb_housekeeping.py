"""Housekeeping rows on LMDB: projects' cleanup policies, the leases that let one process
of several run a periodic task, and the pull-through cache's rows of cached repositories.

`cleanup_policies` maps a project path to its policy row; `leases` maps a lease name to
{"holder", "expires"}. Whether a lease may be taken is decided above storage (see
`tinyreg.registry.leases`); here rows are only read and written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import cbor2

from tinyreg.storage.interfaces import CachedRepositoryRow, LeaseRow
from tinyreg.storage.lmdb_tx import LmdbTx


class HousekeepingReader(LmdbTx):
    __slots__ = ()

    def cleanup_policy(self, path: str) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self._get(self.d.cleanup_policies, path.encode()))

    def iter_cleanup_policies(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((key.decode(), cbor2.loads(value)) for key, value in self._scan("cleanup_policies", b""))

    def lease(self, name: str) -> LeaseRow | None:
        return cast("LeaseRow | None", self._get(self.d.leases, name.encode()))

    def cached_repository(self, repo: str) -> CachedRepositoryRow | None:
        return cast("CachedRepositoryRow | None", self._get(self.d.cached_repos, repo.encode()))

    def iter_cached_repositories(self) -> Iterator[tuple[str, CachedRepositoryRow]]:
        return ((key.decode(), cbor2.loads(value)) for key, value in self._scan("cached_repos", b""))


class HousekeepingWriter(HousekeepingReader):
    __slots__ = ()

    def put_cleanup_policy(self, path: str, row: dict[str, Any]) -> None:
        self.txn.put(path.encode(), cbor2.dumps(row), db=self.d.cleanup_policies)

    def delete_cleanup_policy(self, path: str) -> bool:
        return bool(self.txn.delete(path.encode(), db=self.d.cleanup_policies))

    def put_lease(self, name: str, row: LeaseRow) -> None:
        self.txn.put(name.encode(), cbor2.dumps(dict(row)), db=self.d.leases)

    def delete_lease(self, name: str) -> bool:
        return bool(self.txn.delete(name.encode(), db=self.d.leases))

    def put_cached_repository(self, repo: str, row: CachedRepositoryRow) -> None:
        self.txn.put(repo.encode(), cbor2.dumps(dict(row)), db=self.d.cached_repos)

    def delete_cached_repository(self, repo: str) -> bool:
        return bool(self.txn.delete(repo.encode(), db=self.d.cached_repos))
