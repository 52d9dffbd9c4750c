"""A data directory written before tags kept their push time and had a per-manifest index opens
as it is: old tag rows stay readable, and the index is built once, at the first open."""

from __future__ import annotations

from pathlib import Path

import cbor2
from tinyreg.storage.keys import repo_key
from tinyreg.storage.lmdb_meta import LmdbMetaStore
from tinyreg.storage.meta import Meta

OLD, OTHER = "sha256:" + "a" * 64, "sha256:" + "b" * 64
ROW = {"media_type": "m", "size": 1, "artifact_type": None, "subject": None, "annotations": None, "refs": [], "created": 1.0}


def _write_old_rows(path: Path) -> None:
    """Rows as the previous version wrote them: tag values are bare digests, no index, no schema."""
    meta = Meta(path)
    try:

        def change(txn):  # type: ignore[no-untyped-def]
            for digest in (OLD, OTHER):
                txn.put(repo_key("team/app", digest), cbor2.dumps(ROW), db=meta.db["manifests"])
                txn.put(digest.encode(), b"{}", db=meta.db["manifest_data"])
            for tag, digest in (("v1", OLD), ("latest", OLD), ("v2", OTHER)):
                txn.put(repo_key("team/app", tag), digest.encode(), db=meta.db["tags"])

        meta.write(change)
    finally:
        meta.close()


def test_old_tags_are_read_and_indexed_once_at_open(tmp_path: Path) -> None:
    _write_old_rows(tmp_path / "meta")
    store = LmdbMetaStore(tmp_path / "meta")
    try:
        assert store.upgrades == 2  # the tag index, then the bytes stored
        with store.read() as tx:
            assert tx.stored_bytes() == 4  # the two manifests' bytes
            assert tx.tag("team/app", "v1") == (OLD, None)
            assert tx.tag_digest("team/app", "v2") == OTHER
            assert sorted(tx.tags_of("team/app", OLD)) == ["latest", "v1"]
        store.write(lambda tx: tx.delete_manifest("team/app", OLD))
        with store.read() as tx:
            assert tx.tags("team/app", after=None, limit=10) == (["v2"], False)
        store.write(lambda tx: tx.set_tag("team/app", "v2", OLD, 5.0))  # an old row is replaced
        with store.read() as tx:
            assert tx.tags_of("team/app", OTHER) == [] and tx.tag("team/app", "v2") == (OLD, 5.0)
    finally:
        store.close()
    again = LmdbMetaStore(tmp_path / "meta")
    try:
        assert again.upgrades == 0  # recorded: not done twice
    finally:
        again.close()
