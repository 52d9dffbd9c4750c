"""The `MetaStore` on PostgreSQL: snapshots and units of work over the tables of `migrations/`."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TypeVar

from tinyreg.storage.interfaces import FoundBlob, FoundManifest
from tinyreg.storage.pg.access import AccessReader
from tinyreg.storage.pg.cache import CacheReader, CacheWriter
from tinyreg.storage.pg.connection import Connection, Database, connect
from tinyreg.storage.pg.content_reader import ContentReader
from tinyreg.storage.pg.content_writer import ContentWriter
from tinyreg.storage.pg.events import EventsReader, EventsWriter
from tinyreg.storage.pg.housekeeping import HousekeepingReader, HousekeepingWriter
from tinyreg.storage.pg.loop_reads import LoopReads
from tinyreg.storage.pg.migrations import migrate
from tinyreg.storage.pg.moves import MovesReader, MovesWriter
from tinyreg.storage.pg.pull_lookups import STATEMENTS, afind_blob, afind_manifest, find_blob, find_manifest
from tinyreg.storage.pg.usage import UsageReader

T = TypeVar("T")


class PgReader(ContentReader, AccessReader, UsageReader, HousekeepingReader, EventsReader, CacheReader, MovesReader):
    """A snapshot: one read-only REPEATABLE READ transaction, begun when `read()` is called."""

    __slots__ = ("_db",)

    def __init__(self, db: Database) -> None:
        super().__init__(db.begin_snapshot(), snapshot=True)
        self._db = db

    def __enter__(self) -> PgReader:
        return self

    def __exit__(self, *exc: object) -> None:
        conn = self._conn
        self._end()
        if conn is not None:
            self._db.end(conn)


class PgWriter(ContentWriter, HousekeepingWriter, EventsWriter, CacheWriter, MovesWriter):
    """A unit of work: one SERIALIZABLE transaction (run again whole after a serialization failure)."""

    __slots__ = ()


class PgMetaStore:
    """The metadata of a registry in the PostgreSQL database at `url` (migrated at open)."""

    def __init__(self, url: str) -> None:
        self.url = url
        conn = connect(url)
        try:
            self.migrated = [m.version for m in migrate(conn)]  # versions this open applied
        finally:
            conn.close()
        self.db = Database(url)
        self.loop_reads = LoopReads(self.db, STATEMENTS)
        self.remote = True  # every call is a few round trips to the server
        self.threads = self.db.size  # more threads than connections would only wait for one
        # A store dropped without close() still closes its pool, from the thread that drops it (left to
        # the pool's own finalizer, it may run in one of the pool's threads, which cannot join itself).
        self._closer = weakref.finalize(self, _close, self.db, self.loop_reads)

    def close(self) -> None:
        self._closer()

    def read(self) -> PgReader:
        """A snapshot, to use as `with meta.read() as tx:`."""
        return PgReader(self.db)

    def write(self, change: Callable[[PgWriter], T]) -> T:
        """Run `change` in one transaction, committed when it returns (again from the start after a
        serialization failure: `change` only touches its `tx`)."""

        def attempt(conn: Connection) -> T:
            tx = PgWriter(conn)
            try:
                result = change(tx)
                tx._flush()
                return result
            finally:
                tx._end()

        return self.db.run(attempt)

    def find_manifest(self, name: str, *, tag: str | None = None, digest: str | None = None) -> FoundManifest:
        return find_manifest(self.db, name, tag, digest)

    def find_blob(self, name: str, digest: str) -> FoundBlob:
        return find_blob(self.db, name, digest)

    async def afind_manifest(self, name: str, *, tag: str | None = None, digest: str | None = None) -> FoundManifest:
        return await afind_manifest(self.loop_reads, name, tag, digest)

    async def afind_blob(self, name: str, digest: str) -> FoundBlob:
        return await afind_blob(self.loop_reads, name, digest)


def _close(db: Database, loop_reads: LoopReads) -> None:
    loop_reads.close()
    db.close()
