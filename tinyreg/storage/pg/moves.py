"""Moves on PostgreSQL: renaming a repository or a project with its rows, and the aliases of old paths.

Every row of a repository (tags, manifests and so referrers, links) refers to it by id, so a
move renames one row of `repositories`, whatever the number of its tags, and the id stays. The
rows keyed by a project's path (members, hooks, cleanup policy) and the usage rows keyed by an
owner's name are renamed through their primary keys: a move costs the rows it moves. Blob and
shared manifest bytes are keyed by digest and never move.
"""

from __future__ import annotations

from collections.abc import Iterator

from tinyreg.storage.interfaces import AliasRow, UsageKind
from tinyreg.storage.pg.tx import PgTx, Row

#: The tables of rows keyed by a project's path: (table, the rest of their primary key).
PROJECT_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("members", ("user_name",)),
    ("project_hooks", ("id",)),
    ("cleanup_policies", ()),
)


def alias_row(row: Row) -> AliasRow:
    kind, target, created, expires = row
    return {"kind": kind, "target": target, "created": created, "expires": expires}


class MovesReader(PgTx):
    __slots__ = ()

    def alias(self, path: str) -> AliasRow | None:
        row = self._one("SELECT kind, target, created, expires FROM aliases WHERE path = %s", (path,))
        return None if row is None else alias_row(row)

    def iter_aliases(self) -> Iterator[tuple[str, AliasRow]]:
        rows = self._pages("SELECT path, kind, target, created, expires FROM aliases WHERE {after}", ("path",))
        return ((row[0], alias_row(row[1:])) for row in rows)


class MovesWriter(MovesReader):
    __slots__ = ()

    def _rename(self, table: str, column: str, rest: tuple[str, ...], old: str, new: str, kind: UsageKind | None = None) -> None:
        """Give the rows of `table` whose `column` is `old` the value `new`. A row already under `new`
        with the same rest of the key (left by nothing the registry keeps, but possible) gives way,
        as on LMDB, where the moved row overwrites it: the rename cannot fail on a duplicate key."""
        same = "".join(f" AND n.{key} = o.{key}" for key in rest)
        scope = "" if kind is None else " AND n.kind = %(kind)s AND o.kind = %(kind)s"
        params = {"old": old, "new": new, "kind": kind}
        self.conn.execute(
            f"DELETE FROM {table} n USING {table} o WHERE n.{column} = %(new)s AND o.{column} = %(old)s{same}{scope}", params
        )
        scope = "" if kind is None else " AND kind = %(kind)s"
        self.conn.execute(f"UPDATE {table} SET {column} = %(new)s WHERE {column} = %(old)s{scope}", params)

    def _rename_usage(self, kind: UsageKind, old: str, new: str) -> None:
        self._rename("usage_refs", "owner", ("digest",), old, new, kind)
        self._rename("usage_totals", "owner", (), old, new, kind)

    def move_repository(self, old: str, new: str) -> bool:
        if self._repo_id(new) is not None:
            raise ValueError(f"repository {new} exists")
        repo_id = self._repo_id(old)
        if repo_id is None:
            return False
        self.conn.execute("UPDATE repositories SET name = %s WHERE id = %s", (new, repo_id))
        self._repo_ids[old], self._repo_ids[new] = None, repo_id
        self._rename_usage("repository", old, new)
        return True

    def move_project(self, old: str, new: str) -> bool:
        if self._one("SELECT 1 FROM projects WHERE path = %s", (new,)) is not None:
            raise ValueError(f"project {new} exists")
        if self._count("UPDATE projects SET path = %s WHERE path = %s", (new, old)) == 0:
            return False
        for table, rest in PROJECT_ROWS:
            self._rename(table, "project_path", rest, old, new)
        self._rename_usage("project", old, new)
        return True

    def put_alias(self, path: str, row: AliasRow) -> None:
        self.conn.execute(
            "INSERT INTO aliases (path, kind, target, created, expires) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (path) DO UPDATE SET kind = EXCLUDED.kind, target = EXCLUDED.target, "
            "created = EXCLUDED.created, expires = EXCLUDED.expires",
            (path, row["kind"], row["target"], row["created"], row["expires"]),
        )

    def delete_alias(self, path: str) -> bool:
        return self._count("DELETE FROM aliases WHERE path = %s", (path,)) > 0
