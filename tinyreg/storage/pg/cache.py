"""The pull-through cache's rows on PostgreSQL: one per cached repository, keyed by its name
(its manifests and tags are ordinary ones; deleting the repository removes the row)."""

from __future__ import annotations

from collections.abc import Iterator

from psycopg.types.json import Json

from tinyreg.storage.interfaces import CachedRepositoryRow
from tinyreg.storage.pg.tx import PgTx, Row

CACHED_COLUMNS = "mirror, upstream, last_pulled, hits, misses, checked"


def _cached(row: Row) -> CachedRepositoryRow:
    """A CachedRepositoryRow from CACHED_COLUMNS."""
    mirror, upstream, last_pulled, hits, misses, checked = row
    return {
        "mirror": mirror,
        "upstream": upstream,
        "last_pulled": last_pulled,
        "hits": hits,
        "misses": misses,
        "checked": checked,
    }


class CacheReader(PgTx):
    __slots__ = ()

    def cached_repository(self, repo: str) -> CachedRepositoryRow | None:
        row = self._one(f"SELECT {CACHED_COLUMNS} FROM cached_repositories WHERE repository = %s", (repo,))
        return None if row is None else _cached(row)

    def iter_cached_repositories(self) -> Iterator[tuple[str, CachedRepositoryRow]]:
        rows = self._pages(f"SELECT repository, {CACHED_COLUMNS} FROM cached_repositories WHERE {{after}}", ("repository",))
        return ((row[0], _cached(row[1:])) for row in rows)


class CacheWriter(CacheReader):
    __slots__ = ()

    def put_cached_repository(self, repo: str, row: CachedRepositoryRow) -> None:
        self.conn.execute(
            f"INSERT INTO cached_repositories (repository, {CACHED_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (repository) DO UPDATE SET mirror = EXCLUDED.mirror, upstream = EXCLUDED.upstream, "
            "last_pulled = EXCLUDED.last_pulled, hits = EXCLUDED.hits, misses = EXCLUDED.misses, checked = EXCLUDED.checked",
            (repo, row["mirror"], row["upstream"], row["last_pulled"], row["hits"], row["misses"], Json(row["checked"])),
        )

    def delete_cached_repository(self, repo: str) -> bool:
        return self._count("DELETE FROM cached_repositories WHERE repository = %s", (repo,)) > 0
