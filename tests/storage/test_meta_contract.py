"""The metadata store's contract: each operation, listings' order and pages, units of work."""

from __future__ import annotations

import pytest
from tinyreg.storage.interfaces import ManifestRow, MetaWriter

from .backends import Backend

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
SUBJECT = "sha256:" + "5" * 64


def row(subject: str | None = None, created: float = 1.0, artifact_type: str | None = None) -> ManifestRow:
    return {
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "size": 3,
        "artifact_type": artifact_type,
        "subject": subject,
        "annotations": {"a": "b"} if subject else None,
        "refs": ["sha256:" + "9" * 64],
        "created": created,
    }


def test_a_manifest_is_stored_with_its_bytes_and_keeps_its_first_created_time(backend: Backend) -> None:
    meta = backend.meta
    meta.write(lambda tx: tx.put_manifest("r", D1, b"one", row(created=1.0)))
    meta.write(lambda tx: tx.put_manifest("r", D1, b"one", row(created=5.0)))
    with meta.read() as tx:
        assert tx.manifest("r", D1) == row(created=1.0)
        assert tx.has_manifest("r", D1) and not tx.has_manifest("other", D1)
        assert tx.manifest("other", D1) is None
        assert tx.manifest_data(D1) == b"one"
        assert tx.manifest_data(D2) is None
        assert list(tx.iter_manifests()) == [("r", D1, row(created=1.0))]
        assert list(tx.iter_manifest_data()) == [D1]


def test_repositories_are_listed_in_byte_order_by_pages(backend: Backend) -> None:
    names = ["b", "a/b", "a", "ab", "A", "a-b"]
    backend.meta.write(lambda tx: [tx.ensure_repository(name) for name in names])
    backend.meta.write(lambda tx: tx.ensure_repository("a"))  # again: no duplicate
    ordered = sorted(names, key=str.encode)
    with backend.meta.read() as tx:
        assert tx.has_repository("a/b") and not tx.has_repository("c")
        assert tx.repositories(after=None, limit=100) == (ordered, False)
        assert tx.repositories(after=None, limit=2) == (ordered[:2], True)
        assert tx.repositories(after=ordered[1], limit=2) == (ordered[2:4], True)
        assert tx.repositories(after=ordered[3], limit=2) == (ordered[4:], False)
        assert tx.repositories(after="zzz", limit=2) == ([], False)
        assert tx.repositories(after=None, limit=0) == ([], True)
        assert list(tx.iter_repositories(after="a")) == ordered[ordered.index("a") + 1 :]


def test_tags_point_to_digests_record_when_pushed_and_list_by_pages(backend: Backend) -> None:
    tags = ["v2", "latest", "v10", "v1", "V1", "1.0"]

    def tag_all(tx: MetaWriter) -> None:
        for i, tag in enumerate(tags):
            tx.set_tag("r", tag, D1 if i % 2 else D2, 100.0 + i)
        tx.set_tag("r/nested", "v1", D3, 1.0)
        tx.set_tag("s", "v1", D3, 1.0)

    backend.meta.write(tag_all)
    ordered = sorted(tags, key=str.encode)
    with backend.meta.read() as tx:
        assert tx.tag("r", "latest") == (D1, 101.0)
        assert tx.tag_digest("r", "v2") == D2
        assert tx.tag("r", "nope") is None and tx.tag_digest("r", "nope") is None
        assert tx.tags("r", after=None, limit=100) == (ordered, False)
        assert tx.tags("r", after=None, limit=3) == (ordered[:3], True)
        assert tx.tags("r", after=ordered[2], limit=3) == (ordered[3:], False)
        assert tx.tags("r", after="v9", limit=3) == ([], False)
        assert tx.tags("nobody", after=None, limit=3) == ([], False)
        assert sorted(tx.tags_of("r", D1)) == sorted(tags[1::2])
        assert tx.tags_of("s", D1) == []


def test_moving_and_deleting_a_tag_keeps_the_tags_of_each_digest_right(backend: Backend) -> None:
    meta = backend.meta
    meta.write(lambda tx: [tx.set_tag("r", "a", D1, 1.0), tx.set_tag("r", "b", D1, 1.0)])
    meta.write(lambda tx: tx.set_tag("r", "a", D2, 2.0))
    with meta.read() as tx:
        assert tx.tags_of("r", D1) == ["b"] and tx.tags_of("r", D2) == ["a"]
        assert tx.tag("r", "a") == (D2, 2.0)
    assert meta.write(lambda tx: tx.delete_tag("r", "a")) is True
    assert meta.write(lambda tx: tx.delete_tag("r", "a")) is False
    with meta.read() as tx:
        assert tx.tags_of("r", D2) == [] and tx.tags("r", after=None, limit=10) == (["b"], False)


def test_deleting_a_manifest_removes_its_tags_and_referrer_entry_only(backend: Backend) -> None:
    def push(tx: MetaWriter) -> None:
        tx.put_manifest("r", D1, b"one", row(subject=SUBJECT))
        tx.put_manifest("r", D2, b"two", row(subject=SUBJECT))
        tx.put_manifest("s", D1, b"one", row(subject=SUBJECT))
        tx.set_tag("r", "a", D1, 1.0)
        tx.set_tag("r", "b", D1, 1.0)
        tx.set_tag("r", "c", D2, 1.0)
        tx.set_tag("s", "a", D1, 1.0)

    backend.meta.write(push)
    assert backend.meta.write(lambda tx: tx.delete_manifest("r", D1)) == row(subject=SUBJECT)
    assert backend.meta.write(lambda tx: tx.delete_manifest("r", D1)) is None
    with backend.meta.read() as tx:
        assert tx.manifest("r", D1) is None and tx.manifest_data(D1) == b"one"
        assert tx.tags("r", after=None, limit=10) == (["c"], False)
        assert tx.tags("s", after=None, limit=10) == (["a"], False)
        assert list(tx.referrers("r", SUBJECT)) == [D2]
        assert list(tx.referrers("s", SUBJECT)) == [D1]
    backend.meta.write(lambda tx: tx.delete_manifest_data(D1))
    with backend.meta.read() as tx:
        assert tx.manifest_data(D1) is None


def test_referrers_are_listed_in_digest_order_per_repository_and_subject(backend: Backend) -> None:
    other = "sha256:" + "6" * 64
    backend.meta.write(
        lambda tx: [
            tx.put_manifest("r", D3, b"3", row(subject=SUBJECT)),
            tx.put_manifest("r", D1, b"1", row(subject=SUBJECT)),
            tx.put_manifest("r", D2, b"2", row(subject=other)),
            tx.put_manifest("r2", D2, b"2", row(subject=SUBJECT)),
        ]
    )
    with backend.meta.read() as tx:
        assert list(tx.referrers("r", SUBJECT)) == [D1, D3]
        assert list(tx.referrers("r", other)) == [D2]
        assert list(tx.referrers("r", D1)) == []


def test_blob_rows_are_written_once_and_links_per_repository(backend: Backend) -> None:
    meta = backend.meta
    meta.write(lambda tx: tx.put_blob(D1, {"size": 3, "created": 1.0}))
    meta.write(lambda tx: tx.put_blob(D1, {"size": 3, "created": 9.0}))
    meta.write(lambda tx: [tx.put_link("r", D1, {"size": 3, "created": 2.0}), tx.put_link("s", D1, {"size": 3, "created": 3.0})])
    with meta.read() as tx:
        assert tx.blob(D1) == {"size": 3, "created": 1.0} and tx.blob(D2) is None
        assert list(tx.iter_blobs()) == [D1]
        assert tx.link("r", D1) == {"size": 3, "created": 2.0} and tx.link("t", D1) is None
        assert list(tx.iter_links()) == [("r", D1, {"size": 3, "created": 2.0}), ("s", D1, {"size": 3, "created": 3.0})]
    assert meta.write(lambda tx: tx.delete_link("r", D1)) is True
    assert meta.write(lambda tx: tx.delete_link("r", D1)) is False
    meta.write(lambda tx: tx.delete_blob(D1))
    with meta.read() as tx:
        assert tx.blob(D1) is None and tx.link("r", D1) is None and tx.link("s", D1) is not None


def test_upload_sessions_are_kept_until_deleted(backend: Backend) -> None:
    first = {"repo": "r", "size": 0, "started": 1.0, "updated": 1.0}
    backend.meta.write(lambda tx: [tx.put_upload("b" * 32, first), tx.put_upload("a" * 32, {**first, "size": 5})])  # type: ignore[typeddict-item]
    with backend.meta.read() as tx:
        assert tx.upload("b" * 32) == first and tx.upload("c" * 32) is None
        assert [upload_id for upload_id, _ in tx.iter_uploads()] == ["a" * 32, "b" * 32]
    assert backend.meta.write(lambda tx: tx.delete_upload("b" * 32)) is True
    assert backend.meta.write(lambda tx: tx.delete_upload("b" * 32)) is False


def test_users_projects_members_tokens_and_counters(backend: Backend) -> None:
    def setup(tx: MetaWriter) -> int:
        tx.put_user("bob", {"admin": False})
        tx.put_user("alice", {"admin": True})
        tx.put_project("team", {"public": False})
        tx.put_project("team/sub", {"public": True})
        tx.put_member("team", "bob", {"role": "owner"})
        tx.put_member("team/sub", "alice", {"role": "guest"})
        token_id = tx.next_counter("token")
        tx.put_token(b"k1", token_id, {"id": token_id})
        return token_id

    assert backend.meta.write(setup) == 1
    assert backend.meta.write(lambda tx: tx.next_counter("token")) == 2
    with backend.meta.read() as tx:
        assert tx.user("alice") == {"admin": True} and tx.user("carol") is None
        assert [name for name, _ in tx.iter_users()] == ["alice", "bob"]
        assert tx.project("team/sub") == {"public": True} and tx.project("x") is None
        assert [path for path, _ in tx.iter_projects()] == ["team", "team/sub"]
        assert tx.member("team", "bob") == {"role": "owner"} and tx.member("team", "alice") is None
        assert list(tx.members("team")) == [("bob", {"role": "owner"})]
        assert sorted(tx.iter_members()) == [("team", "bob"), ("team/sub", "alice")]
        assert tx.token_key(1) == b"k1" and tx.token(b"k1") == {"id": 1} and tx.token_key(2) is None
        assert list(tx.iter_token_keys()) == [b"k1"]
        assert tx.counter("token") == 2 and tx.counter("other") == 0
    assert backend.meta.write(lambda tx: tx.delete_member("team", "bob")) is True
    assert backend.meta.write(lambda tx: tx.delete_member("team", "bob")) is False
    assert backend.meta.write(lambda tx: tx.delete_user("bob")) is True
    assert backend.meta.write(lambda tx: tx.delete_user("bob")) is False


def test_a_unit_of_work_that_fails_half_way_leaves_nothing(backend: Backend) -> None:
    def half(tx: MetaWriter) -> None:
        tx.put_manifest("r", D1, b"one", row(subject=SUBJECT))
        tx.set_tag("r", "v1", D1, 1.0)
        tx.ensure_repository("r")
        tx.next_counter("token")
        raise RuntimeError("abandon")

    with pytest.raises(RuntimeError, match="abandon"):
        backend.meta.write(half)
    with backend.meta.read() as tx:
        assert tx.manifest("r", D1) is None and tx.manifest_data(D1) is None
        assert tx.tag("r", "v1") is None and tx.tags_of("r", D1) == []
        assert not tx.has_repository("r") and list(tx.referrers("r", SUBJECT)) == []
        assert tx.counter("token") == 0


def test_a_snapshot_does_not_see_later_writes_and_values_survive_reopening(backend: Backend) -> None:
    backend.meta.write(lambda tx: tx.set_tag("r", "v1", D1, 1.0))
    with backend.meta.read() as tx:
        backend.meta.write(lambda w: w.set_tag("r", "v1", D2, 2.0))
        assert tx.tag_digest("r", "v1") == D1
    reopened = backend.reopen()
    try:
        with reopened.meta.read() as tx:
            assert tx.tag("r", "v1") == (D2, 2.0)
    finally:
        reopened.close()


def test_repositories_under_a_path_are_the_path_and_those_below_it_only(backend: Backend) -> None:
    names = ["team", "team/app", "team/app/deep", "team-x", "teamy", "tea", "other/team"]
    backend.meta.write(lambda tx: [tx.ensure_repository(name) for name in names])
    with backend.meta.read() as tx:
        assert tx.repositories_under("team") == ["team", "team/app", "team/app/deep"]
        assert tx.repositories_under("team/app") == ["team/app", "team/app/deep"]
        assert tx.repositories_under("nobody") == []
    backend.meta.write(lambda tx: tx.ensure_repository("solo/below"))
    with backend.meta.read() as tx:
        assert tx.repositories_under("solo") == ["solo/below"]


def test_a_manifest_with_its_own_copy_of_the_bytes_shares_none(backend: Backend) -> None:
    own = {**row(), "data": b"signed for r"}
    backend.meta.write(lambda tx: tx.put_manifest("r", D1, b"signed for r", own))  # type: ignore[arg-type]
    with backend.meta.read() as tx:
        assert tx.manifest("r", D1) == own
        assert tx.manifest_data(D1) is None


def test_one_repositorys_tags_and_manifests_are_listed_without_its_neighbours(backend: Backend) -> None:
    def push(tx: MetaWriter) -> None:
        for repo in ("r", "r/sub", "r-x"):
            tx.put_manifest(repo, D2, b"two", row(created=2.0))
            tx.set_tag(repo, "b", D2, 5.0)
        tx.put_manifest("r", D1, b"one", row(created=1.0))
        tx.set_tag("r", "a", D1, 7.0)

    backend.meta.write(push)
    with backend.meta.read() as tx:
        assert list(tx.iter_tags("r")) == [("a", (D1, 7.0)), ("b", (D2, 5.0))]
        assert list(tx.iter_tags("r/sub")) == [("b", (D2, 5.0))]
        assert list(tx.iter_tags("nobody")) == []
        assert list(tx.manifests_of("r")) == [(D1, row(created=1.0)), (D2, row(created=2.0))]
        assert [digest for digest, _ in tx.manifests_of("r-x")] == [D2]


def test_deleting_a_repository_removes_its_rows_and_keeps_shared_bytes_and_neighbours(backend: Backend) -> None:
    def push(tx: MetaWriter) -> None:
        for repo in ("r", "r/sub"):
            tx.ensure_repository(repo)
            tx.put_manifest(repo, D1, b"one", row())
            tx.put_manifest(repo, D2, b"two", row(subject=D1))
            tx.set_tag(repo, "v1", D1, 1.0)
            tx.put_link(repo, D3, {"size": 3, "created": 1.0})
        tx.put_blob(D3, {"size": 3, "created": 1.0})

    backend.meta.write(push)
    with backend.meta.read() as tx:
        numbered = tx.repository_info("r")
    assert numbered is not None
    assert backend.meta.write(lambda tx: tx.delete_repository("r")) is True
    assert backend.meta.write(lambda tx: tx.delete_repository("r")) is False
    with backend.meta.read() as tx:
        assert not tx.has_repository("r") and tx.has_repository("r/sub")
        assert tx.repository_info("r") is None and tx.repository_by_id(numbered["id"]) is None
        assert tx.tag("r", "v1") is None and tx.tags_of("r", D1) == [] and list(tx.manifests_of("r")) == []
        assert list(tx.referrers("r", D1)) == [] and tx.link("r", D3) is None
        assert tx.manifest_data(D1) == b"one" and tx.blob(D3) is not None
        assert tx.tag("r/sub", "v1") == (D1, 1.0) and list(tx.referrers("r/sub", D1)) == [D2]
        assert tx.link("r/sub", D3) is not None
