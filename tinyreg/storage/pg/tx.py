"""What every PostgreSQL snapshot and unit of work shares: the connection and query helpers.

A transaction object is usable only while its transaction lasts: once the snapshot is over (or
the unit of work committed) its connection goes back to the pool, and a late query, say from an
iterator consumed after the `with` block, raises instead of reading another transaction's data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from psycopg.types.json import Json

from tinyreg.storage.pg.connection import Connection

Row = tuple[Any, ...]
PAGE = 1000  # rows fetched per query by the iterators over whole tables


class TransactionOver(RuntimeError):
    """A snapshot or unit of work was used after it ended."""


def json_value(value: Any) -> Json | None:
    """A Python value for a json column (None stays SQL NULL)."""
    return None if value is None else Json(value)


def numbered(row_id: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    """A free-form row rebuilt from its typed `id` column (NULL: not numbered) and the other fields."""
    return attributes if row_id is None else {"id": row_id, **attributes}


def split_id(row: dict[str, Any]) -> tuple[int | None, Json]:
    """A free-form row as its `id` column and the json of its other fields."""
    rest = {key: value for key, value in row.items() if key != "id"}
    return row.get("id"), Json(rest)


class PgTx:
    """One transaction on one connection."""

    __slots__ = ("_conn", "_repo_ids", "_published_at", "_seen")

    def __init__(self, conn: Connection, *, snapshot: bool = False) -> None:
        self._conn: Connection | None = conn
        self._repo_ids: dict[str, int | None] = {}  # repository ids looked up in this transaction
        self._published_at: dict[int, float] = {}  # a unit of work's pending `updated` times, by repository id
        # Rows a snapshot fetched ahead, joined to the one asked for, keyed by what would fetch them
        # alone: a snapshot sees nothing change, so they answer later calls without a round trip
        # (None in a unit of work, whose own writes would make them stale).
        self._seen: dict[tuple[str, ...], object] | None = {} if snapshot else None

    def _flush(self) -> None:
        """Write what a unit of work keeps pending until it ends (nothing, in a snapshot)."""

    def _end(self) -> None:
        self._conn = None

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise TransactionOver("this snapshot or unit of work has ended")
        return self._conn

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self.conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(sql, params).fetchall()

    def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._one(sql, params)
        return None if row is None else row[0]

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """How many rows a statement changed."""
        return self.conn.execute(sql, params).rowcount

    def _pages(self, sql: str, key: tuple[str, ...], params: Sequence[Any] = ()) -> Iterator[Row]:
        """Every row of `sql` in `key` order, fetched PAGE at a time (keyset pagination).

        `sql` holds `{after}` where its WHERE clause takes the condition on the key; the first
        len(key) columns it selects are the key. Plain queries rather than a server-side cursor:
        nothing stays open on the connection between two pages.
        """
        tail = f" ORDER BY {', '.join(key)} LIMIT %s"
        first = sql.format(after="TRUE") + tail
        later = sql.format(after=f"({', '.join(key)}) > ({', '.join(['%s'] * len(key))})") + tail
        rows = self._all(first, (*params, PAGE))
        while True:
            yield from rows
            if len(rows) < PAGE:
                return
            rows = self._all(later, (*params, *rows[-1][: len(key)], PAGE))

    # -- repository ids ---------------------------------------------------------------------

    def _repo_id(self, repo: str) -> int | None:
        """The id of repository `repo` (None: no such repository), looked up once per transaction."""
        if repo in self._repo_ids:
            return self._repo_ids[repo]
        found = self._value("SELECT id FROM repositories WHERE name = %s", (repo,))
        self._repo_ids[repo] = found
        return found  # type: ignore[no-any-return]
