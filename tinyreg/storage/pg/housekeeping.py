"""Housekeeping rows on PostgreSQL: projects' cleanup policies and the leases of periodic tasks.

Whether a lease may be taken is decided above storage; here rows are only read and written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg.types.json import Json

from tinyreg.storage.interfaces import LeaseRow
from tinyreg.storage.pg.tx import PgTx


class HousekeepingReader(PgTx):
    __slots__ = ()

    def cleanup_policy(self, path: str) -> dict[str, Any] | None:
        found = self._value("SELECT attributes FROM cleanup_policies WHERE project_path = %s", (path,))
        return None if found is None else dict(found)

    def iter_cleanup_policies(self) -> Iterator[tuple[str, dict[str, Any]]]:
        rows = self._pages("SELECT project_path, attributes FROM cleanup_policies WHERE {after}", ("project_path",))
        return ((row[0], row[1]) for row in rows)

    def lease(self, name: str) -> LeaseRow | None:
        row = self._one("SELECT holder, expires FROM leases WHERE name = %s", (name,))
        return None if row is None else {"holder": row[0], "expires": row[1]}


class HousekeepingWriter(HousekeepingReader):
    __slots__ = ()

    def put_cleanup_policy(self, path: str, row: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO cleanup_policies (project_path, attributes) VALUES (%s, %s) "
            "ON CONFLICT (project_path) DO UPDATE SET attributes = EXCLUDED.attributes",
            (path, Json(row)),
        )

    def delete_cleanup_policy(self, path: str) -> bool:
        return self._count("DELETE FROM cleanup_policies WHERE project_path = %s", (path,)) > 0

    def put_lease(self, name: str, row: LeaseRow) -> None:
        self.conn.execute(
            "INSERT INTO leases (name, holder, expires) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires = EXCLUDED.expires",
            (name, row["holder"], row["expires"]),
        )

    def delete_lease(self, name: str) -> bool:
        return self._count("DELETE FROM leases WHERE name = %s", (name,)) > 0
