"""The metadata store's usage contract: counts per (owner, digest), totals, and the bytes stored."""

from __future__ import annotations

from tinyreg.storage.interfaces import ManifestRow, UsageRef

from .backends import Backend

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def test_usage_counts_are_kept_per_kind_and_owner_and_listed_in_digest_order(backend: Backend) -> None:
    def change(tx):  # type: ignore[no-untyped-def]
        tx.set_usage_refs("project", "team", {D2: UsageRef(2, 20), D1: UsageRef(1, 10)})
        tx.set_usage_refs("project", "team/app", {D3: UsageRef(1, 30)})  # a project below: not listed with team
        tx.set_usage_refs("repository", "team", {D1: UsageRef(5, 10)})  # same name, other kind
        tx.set_usage_total("project", "team", 30)
        tx.set_usage_total("project", "team/app", 30)
        tx.set_usage_total("repository", "team", 10)

    backend.meta.write(change)
    with backend.meta.read() as tx:
        assert tx.usage_ref("project", "team", D1) == UsageRef(1, 10)
        assert tx.usage_ref("project", "team", D3) is None
        assert tx.usage_ref("repository", "team", D1) == UsageRef(5, 10)
        assert tx.usage_counts("project", "team", [D3, D2]) == {D3: None, D2: UsageRef(2, 20)}
        assert list(tx.usage_refs("project", "team")) == [(D1, UsageRef(1, 10)), (D2, UsageRef(2, 20))]
        assert tx.usage_total("project", "team") == 30 and tx.usage_total("project", "nobody") == 0
        assert list(tx.usage_totals("project")) == [("team", 30), ("team/app", 30)]
        assert list(tx.usage_totals("repository")) == [("team", 10)]


def test_a_count_of_none_or_zero_removes_it_and_clearing_an_owner_removes_all_of_it(backend: Backend) -> None:
    def fill(tx):  # type: ignore[no-untyped-def]
        tx.set_usage_refs("project", "team", dict.fromkeys((D1, D2, D3), UsageRef(1, 1)))
        tx.set_usage_refs("project", "other", {D1: UsageRef(1, 1)})
        tx.set_usage_total("project", "team", 3)
        tx.set_usage_total("project", "other", 1)

    backend.meta.write(fill)
    backend.meta.write(lambda tx: tx.set_usage_refs("project", "team", {D1: None, D2: UsageRef(0, 1)}))
    with backend.meta.read() as tx:
        assert list(tx.usage_refs("project", "team")) == [(D3, UsageRef(1, 1))]
    backend.meta.write(lambda tx: tx.clear_usage("project", "team"))
    with backend.meta.read() as tx:
        assert list(tx.usage_refs("project", "team")) == []
        assert list(tx.usage_totals("project")) == [("other", 1)]
        assert list(tx.usage_refs("project", "other")) == [(D1, UsageRef(1, 1))]


def _row(size: int, data: bytes | None = None) -> ManifestRow:
    row: ManifestRow = {
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "size": size,
        "artifact_type": None,
        "subject": None,
        "annotations": None,
        "refs": [],
        "created": 1.0,
    }
    if data is not None:
        row["data"] = data
    return row


def test_stored_bytes_follow_blob_rows_and_shared_manifest_bytes(backend: Backend) -> None:
    meta = backend.meta
    with meta.read() as tx:
        assert tx.stored_bytes() == 0
    meta.write(lambda tx: tx.put_blob(D1, {"size": 100, "created": 1.0}))
    meta.write(lambda tx: tx.put_blob(D1, {"size": 100, "created": 2.0}))  # already recorded: counted once
    meta.write(lambda tx: tx.put_manifest("a", D2, b"12345", _row(5)))
    meta.write(lambda tx: tx.put_manifest("b", D2, b"12345", _row(5)))  # the bytes are shared
    meta.write(lambda tx: tx.put_manifest("a", D3, b"own", _row(3, b"own")))  # a repository's own copy: not shared bytes
    with meta.read() as tx:
        assert tx.stored_bytes() == 105
    meta.write(lambda tx: tx.delete_blob(D1))
    meta.write(lambda tx: tx.delete_blob(D1))  # gone already: nothing more to take away
    meta.write(lambda tx: tx.delete_manifest_data(D2))
    meta.write(lambda tx: tx.delete_manifest_data(D2))
    with meta.read() as tx:
        assert tx.stored_bytes() == 0
    meta.write(lambda tx: tx.set_stored_bytes(7))
    backend = backend.reopen()
    with backend.meta.read() as tx:
        assert tx.stored_bytes() == 7
    backend.close()


def test_usage_changes_in_a_failed_unit_of_work_are_not_kept(backend: Backend) -> None:
    def change(tx):  # type: ignore[no-untyped-def]
        tx.set_usage_refs("project", "team", {D1: UsageRef(1, 10)})
        tx.set_usage_total("project", "team", 10)
        raise RuntimeError("half way")

    try:
        backend.meta.write(change)
    except RuntimeError:
        pass
    with backend.meta.read() as tx:
        assert tx.usage_ref("project", "team", D1) is None and tx.usage_total("project", "team") == 0
