"""Administration of the PostgreSQL metadata: migrating a database, and its size per table."""

from __future__ import annotations

from typing import Any

from tinyreg.storage.pg.connection import connect
from tinyreg.storage.pg.migrations import Migration, applied, migrate


def migrate_database(url: str) -> tuple[list[Migration], list[int]]:
    """Apply the missing migrations; those applied now, and every version the database has then."""
    conn = connect(url)
    try:
        ran = migrate(conn)
        return ran, applied(conn)
    finally:
        conn.close()


def database_stats(url: str) -> dict[str, Any]:
    """The database's size, and each table's estimated rows and bytes (indexes included)."""
    conn = connect(url)
    try:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        rows = conn.execute(
            "SELECT relname, n_live_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() ORDER BY relname"
        ).fetchall()
        return {
            "database_bytes": int(size[0]) if size else 0,  # type: ignore[call-overload]
            "tables": {str(name): {"rows": int(live), "bytes": int(total)} for name, live, total in rows},  # type: ignore[call-overload]
        }
    finally:
        conn.close()
