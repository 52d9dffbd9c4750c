"""The access model's rows on PostgreSQL: users, projects, groups, their members, tokens, counters.

The rows are free-form dicts: `id` has a typed column (unique, for the lookups by id), the other
fields are kept in `attributes` (json) and given back as they were written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg.types.json import Json

from tinyreg.storage.pg.tx import PgTx, Row, numbered, split_id

#: Tables of numbered rows: (table, key column).
USERS = ("users", "name")
PROJECTS = ("projects", "path")
GROUPS = ("groups", "path")
MEMBERS = ("members", "project_path")
GROUP_MEMBERS = ("group_members", "group_path")


def _numbered_rows(rows: Iterator[Row]) -> Iterator[tuple[str, dict[str, Any]]]:
    return ((row[0], numbered(row[1], row[2])) for row in rows)


class AccessReader(PgTx):
    __slots__ = ()

    # -- numbered rows ----------------------------------------------------------------------

    def _row(self, table: tuple[str, str], name: str) -> dict[str, Any] | None:
        found = self._one(f"SELECT id, attributes FROM {table[0]} WHERE {table[1]} = %s", (name,))
        return None if found is None else numbered(found[0], found[1])

    def _by_id(self, table: tuple[str, str], number: int) -> tuple[str, dict[str, Any]] | None:
        found = self._one(f"SELECT {table[1]}, id, attributes FROM {table[0]} WHERE id = %s", (number,))
        return None if found is None else (found[0], numbered(found[1], found[2]))

    def _rows(self, table: tuple[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
        return _numbered_rows(self._pages(f"SELECT {table[1]}, id, attributes FROM {table[0]} WHERE {{after}}", (table[1],)))

    def _below(self, table: tuple[str, str], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Rows whose path starts with `path/`: the range ['path/', 'path0') in byte order."""
        key = table[1]
        rows = self._all(
            f"SELECT {key}, id, attributes FROM {table[0]} WHERE {key} >= %s AND {key} < %s ORDER BY {key}",
            (path + "/", path + "0"),
        )
        return _numbered_rows(iter(rows))

    def user(self, name: str) -> dict[str, Any] | None:
        return self._row(USERS, name)

    def iter_users(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return self._rows(USERS)

    def user_by_id(self, user_id: int) -> tuple[str, dict[str, Any]] | None:
        return self._by_id(USERS, user_id)

    def project(self, path: str) -> dict[str, Any] | None:
        return self._row(PROJECTS, path)

    def iter_projects(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return self._rows(PROJECTS)

    def project_by_id(self, project_id: int) -> tuple[str, dict[str, Any]] | None:
        return self._by_id(PROJECTS, project_id)

    def projects_below(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return self._below(PROJECTS, path)

    def group(self, path: str) -> dict[str, Any] | None:
        return self._row(GROUPS, path)

    def group_by_id(self, group_id: int) -> tuple[str, dict[str, Any]] | None:
        return self._by_id(GROUPS, group_id)

    def iter_groups(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return self._rows(GROUPS)

    def groups_below(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return self._below(GROUPS, path)

    # -- members of projects and groups -----------------------------------------------------

    def _member(self, table: tuple[str, str], path: str, user: str) -> dict[str, Any] | None:
        found = self._value(f"SELECT attributes FROM {table[0]} WHERE {table[1]} = %s AND user_name = %s", (path, user))
        return None if found is None else dict(found)

    def _members(self, table: tuple[str, str], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        rows = self._all(f"SELECT user_name, attributes FROM {table[0]} WHERE {table[1]} = %s ORDER BY user_name", (path,))
        return ((row[0], row[1]) for row in rows)

    def _memberships(self, table: tuple[str, str]) -> Iterator[tuple[str, str]]:
        rows = self._pages(f"SELECT {table[1]}, user_name FROM {table[0]} WHERE {{after}}", (table[1], "user_name"))
        return ((row[0], row[1]) for row in rows)

    def member(self, path: str, user: str) -> dict[str, Any] | None:
        return self._member(MEMBERS, path, user)

    def members(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return self._members(MEMBERS, path)

    def iter_members(self) -> Iterator[tuple[str, str]]:
        return self._memberships(MEMBERS)

    def group_member(self, path: str, user: str) -> dict[str, Any] | None:
        return self._member(GROUP_MEMBERS, path, user)

    def group_members(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return self._members(GROUP_MEMBERS, path)

    def iter_group_members(self) -> Iterator[tuple[str, str]]:
        return self._memberships(GROUP_MEMBERS)

    # -- tokens and counters ----------------------------------------------------------------

    def token(self, key: bytes) -> dict[str, Any] | None:
        found = self._value("SELECT attributes FROM tokens WHERE key = %s", (key,))
        return None if found is None else dict(found)

    def token_key(self, token_id: int) -> bytes | None:
        found = self._value("SELECT key FROM tokens WHERE id = %s", (token_id,))
        return None if found is None else bytes(found)

    def iter_token_keys(self) -> Iterator[bytes]:
        return (bytes(row[1]) for row in self._pages("SELECT id, key FROM tokens WHERE {after}", ("id",)))

    def counter(self, name: str) -> int:
        return int(self._value("SELECT value FROM counters WHERE name = %s", (name,)) or 0)

    def iter_counters(self) -> Iterator[tuple[str, int]]:
        return ((row[0], int(row[1])) for row in self._pages("SELECT name, value FROM counters WHERE {after}", ("name",)))


class AccessWriter(AccessReader):
    __slots__ = ()

    def _put_numbered(self, table: tuple[str, str], name: str, row: dict[str, Any]) -> None:
        row_id, attributes = split_id(row)
        self.conn.execute(
            f"INSERT INTO {table[0]} ({table[1]}, id, attributes) VALUES (%s, %s, %s) "
            f"ON CONFLICT ({table[1]}) DO UPDATE SET id = EXCLUDED.id, attributes = EXCLUDED.attributes",
            (name, row_id, attributes),
        )

    def _delete(self, table: str, where: str, *key: Any) -> bool:
        return self._count(f"DELETE FROM {table} WHERE {where}", key) > 0

    def put_user(self, name: str, row: dict[str, Any]) -> None:
        self._put_numbered(USERS, name, row)

    def delete_user(self, name: str) -> bool:
        return self._delete("users", "name = %s", name)

    def put_project(self, path: str, row: dict[str, Any]) -> None:
        self._put_numbered(PROJECTS, path, row)

    def put_group(self, path: str, row: dict[str, Any]) -> None:
        self._put_numbered(GROUPS, path, row)

    def delete_group(self, path: str) -> bool:
        return self._delete("groups", "path = %s", path)

    def _put_member(self, table: tuple[str, str], path: str, user: str, row: dict[str, Any]) -> None:
        self.conn.execute(
            f"INSERT INTO {table[0]} ({table[1]}, user_name, attributes) VALUES (%s, %s, %s) "
            f"ON CONFLICT ({table[1]}, user_name) DO UPDATE SET attributes = EXCLUDED.attributes",
            (path, user, Json(row)),
        )

    def put_member(self, path: str, user: str, row: dict[str, Any]) -> None:
        self._put_member(MEMBERS, path, user, row)

    def delete_member(self, path: str, user: str) -> bool:
        return self._delete("members", "project_path = %s AND user_name = %s", path, user)

    def put_group_member(self, path: str, user: str, row: dict[str, Any]) -> None:
        self._put_member(GROUP_MEMBERS, path, user, row)

    def delete_group_member(self, path: str, user: str) -> bool:
        return self._delete("group_members", "group_path = %s AND user_name = %s", path, user)

    def put_token(self, key: bytes, token_id: int, row: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO tokens (key, id, attributes) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET id = EXCLUDED.id, attributes = EXCLUDED.attributes",
            (key, token_id, Json(row)),
        )

    def next_counter(self, name: str) -> int:
        value = self._value(
            "INSERT INTO counters (name, value) VALUES (%s, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 "
            "RETURNING value",
            (name,),
        )
        return int(value)

    def set_counter(self, name: str, value: int) -> None:
        self.conn.execute(
            "INSERT INTO counters (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            (name, value),
        )
