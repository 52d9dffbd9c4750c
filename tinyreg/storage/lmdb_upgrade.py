"""Upgrades of an LMDB environment written by an older version, run once at open.

They run inside one write transaction and are recorded in the `schema` sub-database:

* version 2 builds the `tag_index` (repo, digest → tags) from the tags already stored;
* version 3 numbers the users, projects and repositories (in name order) and indexes the
  numbers; a repository's `updated` (last published) is its newest tag push or manifest;
* version 4 adds the groups the existing projects live in (`a/b/c` lives in `a/b`, which
  lives in `a`): private, without members, as creating a project now makes them;
* version 5 sums the bytes stored (`stored_bytes`: blobs and manifest bytes), which every
  blob and manifest write keeps current from then on.
"""

from __future__ import annotations

from typing import Any

import cbor2

from tinyreg.storage import keys
from tinyreg.storage.lmdb_access import AccessWriter
from tinyreg.storage.lmdb_tx import decode_tag
from tinyreg.storage.lmdb_usage import put_stored_bytes

SCHEMA_VERSION = 5
SEP = keys.SEP


def upgrade(tx: AccessWriter) -> int:
    """Bring an environment written by an older version up to `SCHEMA_VERSION`; steps run."""
    version = tx._get(tx.d.schema, b"version") or 1
    steps = 0
    if version < 2:
        for key, value in tx._scan("tags", b""):
            repo, _, tag = key.decode().rpartition("\0")
            tx.txn.put(keys.referrer_key(repo, value.partition(SEP)[0].decode(), tag), b"", db=tx.d.tag_index)
        steps += 1
    if version < 3:
        _number_rows(tx)
        steps += 1
    if version < 4:
        _add_implied_groups(tx)
        steps += 1
    if version < 5:
        blobs = sum(cbor2.loads(value)["size"] for _, value in tx._scan("blobs", b""))
        put_stored_bytes(tx.txn, tx.d, blobs + sum(len(value) for _, value in tx._scan("manifest_data", b"")))
        steps += 1
    if version < SCHEMA_VERSION:
        tx._put(tx.d.schema, b"version", SCHEMA_VERSION)
    return steps


def _rows(tx: AccessWriter, db: str) -> list[tuple[str, dict[str, Any]]]:
    return [(key.decode(), cbor2.loads(value)) for key, value in tx._scan(db, b"")]


def _number_rows(tx: AccessWriter) -> None:
    for kind, db in (("user", "users"), ("project", "projects")):
        for name, row in _rows(tx, db):
            if "id" not in row:
                tx._put_numbered(kind, getattr(tx.d, db), name, {**row, "id": tx.next_counter(kind)})
    published: dict[str, float] = {}
    first: dict[str, float] = {}
    for manifest_key, manifest in _rows(tx, "manifests"):
        repo = manifest_key.rpartition("\0")[0]
        published[repo] = max(published.get(repo, 0.0), manifest["created"])
        first[repo] = min(first.get(repo, manifest["created"]), manifest["created"])
    for key, value in tx._scan("tags", b""):
        repo = key.decode().rpartition("\0")[0]
        pushed_at = decode_tag(value).pushed_at
        if pushed_at is not None:
            published[repo] = max(published.get(repo, 0.0), pushed_at)
    for repo, row in _rows(tx, "repos"):
        if "id" not in row:
            created = row.get("created", first.get(repo, published.get(repo, 0.0)))
            tx._new_repository(repo, created, published.get(repo))


def _add_implied_groups(tx: AccessWriter) -> None:
    for path, row in _rows(tx, "projects"):
        parts = path.split("/")
        for group in ("/".join(parts[:keep]) for keep in range(1, len(parts))):
            if tx.group(group) is None:
                created = row.get("created", 0.0)
                tx.put_group(group, {"id": tx.next_counter("group"), "public": False, "created": created})
