"""A data directory written by an older version opens as it is, upgraded once at the first open:
old tag rows stay readable and get their per-manifest index (version 2); users, projects and
repositories get their numbers, repositories their last-published time (version 3)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cbor2
from tinyreg.storage.keys import repo_key
from tinyreg.storage.lmdb_meta import LmdbMetaStore, encode_tag
from tinyreg.storage.meta import Meta

OLD, OTHER = "sha256:" + "a" * 64, "sha256:" + "b" * 64
ROW = {"media_type": "m", "size": 1, "artifact_type": None, "subject": None, "annotations": None, "refs": [], "created": 1.0}


Put = Callable[[str, bytes, bytes], None]  # (sub-database, key, raw value)


def _write_raw(path: Path, fill: Callable[[Put], None]) -> None:
    """Write rows byte for byte, as an older version left them, without the store's upgrades."""
    meta = Meta(path)
    try:
        meta.write(lambda txn: fill(lambda db, key, value: txn.put(key, value, db=meta.db[db])))
    finally:
        meta.close()


def _write_old_rows(path: Path) -> None:
    """Rows as the first version wrote them: tag values are bare digests, no index, no schema."""

    def fill(put: Put) -> None:
        for digest in (OLD, OTHER):
            put("manifests", repo_key("team/app", digest), cbor2.dumps(ROW))
            put("manifest_data", digest.encode(), b"{}")
        for tag, digest in (("v1", OLD), ("latest", OLD), ("v2", OTHER)):
            put("tags", repo_key("team/app", tag), digest.encode())

    _write_raw(path, fill)


def test_old_tags_are_read_and_indexed_once_at_open(tmp_path: Path) -> None:
    _write_old_rows(tmp_path / "meta")
    store = LmdbMetaStore(tmp_path / "meta")
    try:
        assert store.upgrades == 4  # the tag index, the numbering of rows, the groups of projects, the bytes stored
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


def _write_version_2_rows(path: Path) -> None:
    """Rows as version 2 wrote them: users, projects and repositories without numbers."""

    def fill(put: Put) -> None:
        for name in ("carol", "alice", "bob"):
            put("users", name.encode(), cbor2.dumps({"admin": False, "password": None, "tokens_only": False, "created": 1.0}))
        for project in ("team", "solo"):
            put("projects", project.encode(), cbor2.dumps({"public": False, "registry_enabled": True, "created": 2.0}))
        for repo in ("team/app", "team/blobs-only", "team/untagged"):
            put("repos", repo.encode(), cbor2.dumps({"created": 3.0}))
        put("manifests", repo_key("team/app", OLD), cbor2.dumps({**ROW, "created": 10.0}))
        put("manifests", repo_key("team/untagged", OLD), cbor2.dumps({**ROW, "created": 7.0}))
        put("tags", repo_key("team/app", "v1"), encode_tag(OLD, 20.0))
        put("tags", repo_key("team/app", "v0"), encode_tag(OLD, 15.0))
        put("schema", b"version", cbor2.dumps(2))

    _write_raw(path, fill)


def test_users_projects_and_repositories_get_numbers_and_last_published_times_at_open(tmp_path: Path) -> None:
    _write_version_2_rows(tmp_path / "meta")
    store = LmdbMetaStore(tmp_path / "meta")
    try:
        assert store.upgrades == 3  # numbers, groups, bytes stored
        with store.read() as tx:
            assert [(name, row["id"]) for name, row in tx.iter_users()] == [("alice", 1), ("bob", 2), ("carol", 3)]
            assert tx.user_by_id(3) == ("carol", tx.user("carol"))
            assert tx.project_by_id(1) == ("solo", tx.project("solo")) and tx.project_by_id(3) is None
            assert tx.repository_info("team/app") == {"id": 1, "created": 3.0, "updated": 20.0}  # the newest tag push
            assert tx.repository_info("team/blobs-only") == {"id": 2, "created": 3.0, "updated": None}  # never published
            assert tx.repository_info("team/untagged") == {"id": 3, "created": 3.0, "updated": 7.0}  # its manifest
            assert tx.repository_by_id(3) == ("team/untagged", tx.repository_info("team/untagged"))
            assert tx.counter("user") == 3 and tx.counter("project") == 2 and tx.counter("repository") == 3
    finally:
        store.close()
    again = LmdbMetaStore(tmp_path / "meta")
    try:
        assert again.upgrades == 0
        again.write(lambda tx: tx.ensure_repository("team/new"))
        with again.read() as tx:
            assert tx.repository_by_id(4) == ("team/new", tx.repository_info("team/new"))
    finally:
        again.close()


def test_the_groups_of_existing_projects_are_added_once_at_open(tmp_path: Path) -> None:
    def fill(put: Put) -> None:
        for path in ("a/b/c", "a/d", "a/b/e/f", "top"):
            put("projects", path.encode(), cbor2.dumps({"id": 1, "public": True, "registry_enabled": True, "created": 2.0}))
        put("schema", b"version", cbor2.dumps(3))

    _write_raw(tmp_path / "meta", fill)
    store = LmdbMetaStore(tmp_path / "meta")
    try:
        assert store.upgrades == 2  # groups, bytes stored
        with store.read() as tx:
            groups = list(tx.iter_groups())
            assert [path for path, _ in groups] == ["a", "a/b", "a/b/e"]  # no group for top-level "top"
            assert [row for _, row in groups] == [{"id": i, "public": False, "created": 2.0} for i in (1, 2, 3)]
            assert tx.group_by_id(2) == ("a/b", groups[1][1]) and tx.counter("group") == 3
            assert list(tx.group_members("a")) == []
    finally:
        store.close()
