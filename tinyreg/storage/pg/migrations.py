"""Versioned schema migrations: numbered SQL files in `migrations/`, applied in order, each once.

`NNNN_name.sql` is version NNNN. Each file runs in its own transaction together with its row in
`schema_migrations`, so a migration is applied whole or not at all. Opening a store migrates
under a session advisory lock: several processes opening a new database at once apply each
migration once. A database migrated by a newer tinyreg (a version this one does not know) is refused.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources

from tinyreg.storage.pg.connection import Connection

#: The advisory lock held while migrating (any fixed number; this is "tinyreg" in ASCII).
MIGRATION_LOCK = 0x74696E79726567
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at double precision NOT NULL
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


class SchemaTooNew(RuntimeError):
    """The database holds migrations this version of tinyreg does not know."""


def available() -> list[Migration]:
    """The migrations shipped with this version, in order."""
    found = []
    for entry in resources.files("tinyreg.storage.pg").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {[m.version for m in found]}")
    return found


def applied(conn: Connection) -> list[int]:
    """The versions recorded in the database (empty when it has no schema yet)."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() in (None, (None,)):
        return []
    return [int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]  # type: ignore[call-overload]


def migrate(conn: Connection) -> list[Migration]:
    """Apply the missing migrations on `conn` (in autocommit mode); those applied now."""
    known = available()
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(CREATE_TABLE)
        done = set(applied(conn))
        unknown = sorted(done - {m.version for m in known})
        if unknown:
            raise SchemaTooNew(
                f"the database has schema migrations {unknown} that this tinyreg does not know "
                f"(it knows up to {known[-1].version}): use a newer tinyreg"
            )
        ran = []
        for migration in known:
            if migration.version in done:
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, time.time()),
                )
            ran.append(migration)
        return ran
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
