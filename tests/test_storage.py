"""The metadata store (LMDB) and the content-addressed blob files, used directly on a temporary directory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest
from tinyreg.registry.names import Digest
from tinyreg.storage.blobs import FileBlobStore
from tinyreg.storage.keys import SEP, referrer_key, repo_key, repo_prefix, split_last
from tinyreg.storage.meta import INITIAL_MAP_SIZE, Meta


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[Meta]:
    """A fresh metadata store in a temporary directory."""
    store = Meta(tmp_path / "meta")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def store(tmp_path: Path) -> FileBlobStore:
    """A fresh blob store in a temporary directory."""
    return FileBlobStore(tmp_path)


def put_all(meta: Meta, db: str, rows: dict[bytes, object]) -> None:
    """Write `rows` to `db` in one transaction."""
    meta.write(lambda txn: [meta.put(txn, db, key, value) for key, value in rows.items()])


def scan_keys(meta: Meta, db: str, prefix: bytes, after: bytes | None = None) -> list[bytes]:
    """Keys of `db` that `scan` yields for `prefix` and `after`."""
    with meta.read() as txn:
        return [key for key, _ in meta.scan(txn, db, prefix, after=after)]


def stage(store: FileBlobStore, upload_id: str, data: bytes) -> Path:
    """Create the staging file of `upload_id` holding `data`."""
    store.create_staging(upload_id)
    path = store.staging_path(upload_id)
    path.write_bytes(data)
    return path


# -- Meta --------------------------------------------------------------------------------------


def test_values_written_are_read_back_as_written(meta: Meta) -> None:
    row = {"media_type": "application/vnd.oci.image.manifest.v1+json", "size": 1234, "refs": ["a", "b"], "created": 1.5}
    assert meta.write(lambda txn: meta.put(txn, "manifests", b"repo\0sha256:x", row)) is None
    with meta.read() as txn:
        assert meta.get(txn, "manifests", b"repo\0sha256:x") == row
        assert meta.get(txn, "manifests", b"repo\0sha256:y") is None
        assert meta.get(txn, "tags", b"repo\0sha256:x") is None


def test_write_returns_what_the_change_returns(meta: Meta) -> None:
    def change(txn: lmdb.Transaction) -> str:
        meta.put(txn, "repos", b"a", {"created": 1.0})
        return "done"

    assert meta.write(change) == "done"


def test_a_failed_change_writes_nothing(meta: Meta) -> None:
    def change(txn: lmdb.Transaction) -> None:
        meta.put(txn, "repos", b"half", {"created": 1.0})
        raise RuntimeError("abandon")

    with pytest.raises(RuntimeError, match="abandon"):
        meta.write(change)
    with meta.read() as txn:
        assert meta.get(txn, "repos", b"half") is None


def test_delete_reports_whether_the_key_existed(meta: Meta) -> None:
    put_all(meta, "tags", {b"r\0latest": b"sha256:x"})
    assert meta.write(lambda txn: meta.delete(txn, "tags", b"r\0latest")) is True
    assert meta.write(lambda txn: meta.delete(txn, "tags", b"r\0latest")) is False
    with meta.read() as txn:
        assert meta.get(txn, "tags", b"r\0latest") is None


def test_values_survive_closing_and_reopening(tmp_path: Path) -> None:
    first = Meta(tmp_path / "meta")
    put_all(first, "blobs", {b"sha256:a": {"size": 3}})
    first.close()
    second = Meta(tmp_path / "meta")
    try:
        with second.read() as txn:
            assert second.get(txn, "blobs", b"sha256:a") == {"size": 3}
    finally:
        second.close()


def test_a_read_transaction_is_a_snapshot(meta: Meta) -> None:
    put_all(meta, "repos", {b"a": 1})
    with meta.read() as txn:
        put_all(meta, "repos", {b"b": 2})
        assert meta.get(txn, "repos", b"b") is None
    with meta.read() as txn:
        assert meta.get(txn, "repos", b"b") == 2


ROWS = {
    repo_key("a", "x"): 1,
    repo_key("a", "y"): 2,
    repo_key("a", "z"): 3,
    repo_key("a/b", "w"): 4,
    repo_key("ab", "v"): 5,
    repo_key("b", "u"): 6,
}


@pytest.mark.parametrize(
    ("prefix", "after", "expected"),
    [
        pytest.param(repo_prefix("a"), None, [repo_key("a", k) for k in "xyz"], id="one-repository-only"),
        pytest.param(repo_prefix("ab"), None, [repo_key("ab", "v")], id="longer-name"),
        pytest.param(repo_prefix("a/b"), None, [repo_key("a/b", "w")], id="nested-name"),
        pytest.param(repo_prefix("c"), None, [], id="no-rows"),
        pytest.param(repo_prefix("a"), repo_key("a", "x"), [repo_key("a", k) for k in "yz"], id="strictly-after"),
        pytest.param(repo_prefix("a"), repo_key("a", "xx"), [repo_key("a", k) for k in "yz"], id="after-absent-key"),
        pytest.param(repo_prefix("a"), repo_key("a", "z"), [], id="after-last"),
        pytest.param(repo_prefix("a"), b"0", [repo_key("a", k) for k in "xyz"], id="after-before-prefix"),
        pytest.param(repo_prefix("a"), b"b", [], id="after-past-prefix"),
        pytest.param(b"", repo_key("ab", "v"), [repo_key("b", "u")], id="whole-database-after"),
    ],
)
def test_scan_lists_one_prefix_in_key_order_after_a_key(
    meta: Meta, prefix: bytes, after: bytes | None, expected: list[bytes]
) -> None:
    put_all(meta, "links", ROWS)
    assert scan_keys(meta, "links", prefix, after) == expected


def test_scan_yields_raw_values_that_decode_to_what_was_written(meta: Meta) -> None:
    put_all(meta, "links", ROWS)
    with meta.read() as txn:
        rows = {key: meta.decode_value(value) for key, value in meta.scan(txn, "links", repo_prefix("a"))}
    assert rows == {key: value for key, value in ROWS.items() if key.startswith(repo_prefix("a"))}


def test_keys_put_the_repository_first_and_split_on_nul() -> None:
    assert repo_key("group/app", "latest") == b"group/app" + SEP + b"latest"
    assert repo_key("group/app", "latest").startswith(repo_prefix("group/app"))
    assert not repo_key("group/apple", "latest").startswith(repo_prefix("group/app"))
    assert referrer_key("r", "sha256:s", "sha256:f").startswith(repo_key("r", "sha256:s") + SEP)
    assert split_last(referrer_key("r", "sha256:s", "sha256:f")) == "sha256:f"


def test_grow_doubles_the_map_and_writes_keep_working(meta: Meta) -> None:
    assert meta.env.info()["map_size"] == INITIAL_MAP_SIZE
    meta._grow()
    assert meta.env.info()["map_size"] == 2 * INITIAL_MAP_SIZE
    put_all(meta, "blobs", {b"after-growth": {"size": 1}})
    with meta.read() as txn:
        assert meta.get(txn, "blobs", b"after-growth") == {"size": 1}


def test_a_full_map_grows_until_the_write_fits(meta: Meta) -> None:
    meta.env.set_mapsize(64 * 1024)
    small = meta.env.info()["map_size"]
    rows = {b"k%04d" % i: bytes([i % 256]) * 8192 for i in range(300)}
    put_all(meta, "manifest_data", rows)
    assert meta.env.info()["map_size"] > small
    assert meta.env.info()["map_size"] % small == 0
    with meta.read() as txn:
        assert all(meta.get(txn, "manifest_data", key) == value for key, value in rows.items())
    assert scan_keys(meta, "manifest_data", b"k") == sorted(rows)


# -- FileBlobStore --------------------------------------------------------------------------------


def test_commit_moves_the_staging_file_to_its_sharded_blob_path(store: FileBlobStore, tmp_path: Path) -> None:
    data = b"layer bytes"
    digest = Digest.of(data)
    staging = stage(store, "0" * 32, data)
    store.commit("0" * 32, digest)
    hex_ = hashlib.sha256(data).hexdigest()
    target = tmp_path / "blobs" / "sha256" / hex_[:2] / hex_[2:4] / hex_
    assert store.path(digest) == target
    assert target.read_bytes() == data
    assert not staging.exists()
    assert store.size(digest) == len(data)
    with store.open(digest) as blob:
        assert blob.read() == data


def test_sha512_blobs_live_under_their_own_algorithm(store: FileBlobStore, tmp_path: Path) -> None:
    data = b"sha512 content"
    digest = Digest.of(data, "sha512")
    stage(store, "1" * 32, data)
    store.commit("1" * 32, digest)
    hex_ = digest.encoded
    assert (tmp_path / "blobs" / "sha512" / hex_[:2] / hex_[2:4] / hex_).read_bytes() == data


def test_commit_is_idempotent_when_the_blob_already_exists(store: FileBlobStore) -> None:
    data = b"same content twice"
    digest = Digest.of(data)
    stage(store, "a" * 32, data)
    store.commit("a" * 32, digest)
    before = store.path(digest).stat()
    second = stage(store, "b" * 32, data)
    store.commit("b" * 32, digest)
    after = store.path(digest).stat()
    assert not second.exists()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    assert store.path(digest).read_bytes() == data
    store.commit("b" * 32, digest)
    assert store.staging_ids() == []


def test_an_unknown_blob_has_no_size(store: FileBlobStore) -> None:
    assert store.size(Digest.of(b"never stored")) is None
    with pytest.raises(FileNotFoundError):
        store.open(Digest.of(b"never stored"))


def test_staging_files_are_listed_and_discarded(store: FileBlobStore) -> None:
    for upload_id in ("c" * 32, "d" * 32):
        stage(store, upload_id, b"partial")
    assert sorted(store.staging_ids()) == ["c" * 32, "d" * 32]
    store.discard("c" * 32)
    store.discard("c" * 32)
    assert store.staging_ids() == ["d" * 32]


def test_a_staging_file_is_created_only_once(store: FileBlobStore) -> None:
    store.create_staging("e" * 32)
    with pytest.raises(FileExistsError):
        store.create_staging("e" * 32)
