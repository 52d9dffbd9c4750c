"""`find_manifest` and `find_blob` on PostgreSQL: the alias of a name with a tag, its manifest and
the manifest's bytes, or with a blob's link, in one statement run outside any transaction (a
statement is its own snapshot), so a manifest or blob GET costs one round trip to the database,
sent from the event loop by the `afind_` functions (see `loop_reads`), from the calling thread
by the others. Nothing of it is kept between requests: several nodes share the database, and a
delete or a tag moved on one must be seen at once by the others."""

from __future__ import annotations

from typing import Any

from tinyreg.storage.interfaces import FoundBlob, FoundManifest
from tinyreg.storage.pg.connection import Database
from tinyreg.storage.pg.loop_reads import LoopReads
from tinyreg.storage.pg.moves import alias_row

# One row whatever is found: the alias (or NULLs) beside the manifest (or NULLs). The bytes are the
# repository's own copy (a signed schema 1 manifest) or else the shared ones.
_SELECT = (
    "SELECT a.kind, a.target, a.created, a.expires, m.digest, m.media_type, coalesce(m.data, d.data) "
    "FROM (SELECT 1) AS one LEFT JOIN aliases a ON a.path = %(name)s "
)
_MANIFEST = "manifests m JOIN repositories r ON r.id = m.repository_id LEFT JOIN manifest_data d ON m.data IS NULL AND d.digest = m.digest"
BY_TAG = (
    f"{_SELECT}LEFT JOIN (tags t JOIN {_MANIFEST} ON m.repository_id = t.repository_id AND m.digest = t.digest) "
    "ON r.name = %(name)s AND t.name = %(tag)s"
)
BY_DIGEST = f"{_SELECT}LEFT JOIN ({_MANIFEST}) ON r.name = %(name)s AND m.digest = %(digest)s"
# A blob: its link in the repository, else (only then) a manifest of that digest there.
BLOB = (
    "SELECT a.kind, a.target, a.created, a.expires, l.size, coalesce(m.data, d.data) "
    "FROM (SELECT 1) AS one LEFT JOIN aliases a ON a.path = %(name)s "
    "LEFT JOIN (links l JOIN repositories lr ON lr.id = l.repository_id) ON lr.name = %(name)s AND l.digest = %(digest)s "
    f"LEFT JOIN ({_MANIFEST}) ON l.digest IS NULL AND r.name = %(name)s AND m.digest = %(digest)s"
)


#: The statements `LoopReads` prepares on its connections.
STATEMENTS = (BY_TAG, BY_DIGEST, BLOB)


def manifest_query(name: str, tag: str | None, digest: str | None) -> tuple[str, dict[str, str]]:
    if tag is not None:
        return BY_TAG, {"name": name, "tag": tag}
    assert digest is not None
    return BY_DIGEST, {"name": name, "digest": digest}


def found_manifest(row: tuple[Any, ...] | None) -> FoundManifest:
    assert row is not None  # the outer side of the joins is one row
    alias = None if row[0] is None else alias_row(row[:4])
    found_digest, media_type, data = row[4:]
    if found_digest is None or data is None:
        return FoundManifest(alias, None, None, None)
    return FoundManifest(alias, str(found_digest), str(media_type), bytes(data))


def found_blob(row: tuple[Any, ...] | None) -> FoundBlob:
    assert row is not None  # the outer side of the joins is one row
    alias = None if row[0] is None else alias_row(row[:4])
    size, data = row[4:]
    return FoundBlob(alias, None if size is None else int(size), None if data is None else bytes(data))


def find_manifest(db: Database, name: str, tag: str | None, digest: str | None) -> FoundManifest:
    return found_manifest(db.query(*manifest_query(name, tag, digest)))


def find_blob(db: Database, name: str, digest: str) -> FoundBlob:
    return found_blob(db.query(BLOB, {"name": name, "digest": digest}))


async def afind_manifest(reads: LoopReads, name: str, tag: str | None, digest: str | None) -> FoundManifest:
    return found_manifest(await reads.query(*manifest_query(name, tag, digest)))


async def afind_blob(reads: LoopReads, name: str, digest: str) -> FoundBlob:
    return found_blob(await reads.query(BLOB, {"name": name, "digest": digest}))
