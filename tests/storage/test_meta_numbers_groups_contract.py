"""The metadata store's contract for numbered rows (users, projects, groups, repositories),
repositories' last-published times, and groups with their members."""

from __future__ import annotations

import pytest
from tinyreg.storage.interfaces import MetaWriter

from .backends import Backend
from .test_meta_contract import D1, D2, row


def test_rows_with_an_id_are_found_by_it_until_deleted(backend: Backend) -> None:
    def setup(tx: MetaWriter) -> None:
        tx.put_user("bob", {"id": 7, "admin": False})
        tx.put_user("noid", {"admin": False})  # not numbered: not indexed
        tx.put_project("team/app", {"id": 3, "public": False})
        tx.put_group("team", {"id": 3, "public": True})  # each kind counts on its own

    backend.meta.write(setup)
    with backend.meta.read() as tx:
        assert tx.user_by_id(7) == ("bob", {"id": 7, "admin": False}) and tx.user_by_id(8) is None
        assert tx.project_by_id(3) == ("team/app", {"id": 3, "public": False})
        assert tx.group_by_id(3) == ("team", {"id": 3, "public": True}) and tx.group_by_id(7) is None
    backend.meta.write(lambda tx: tx.put_project("team/app", {"id": 3, "public": True}))  # an update keeps the index
    assert backend.meta.write(lambda tx: tx.delete_user("bob")) is True
    assert backend.meta.write(lambda tx: tx.delete_group("team")) is True
    assert backend.meta.write(lambda tx: tx.delete_group("team")) is False
    with backend.meta.read() as tx:
        assert tx.user_by_id(7) is None and tx.group_by_id(3) is None and tx.group("team") is None
        assert tx.project_by_id(3) == ("team/app", {"id": 3, "public": True})


def test_repositories_are_numbered_once_and_updated_by_manifests_and_tags(backend: Backend) -> None:
    meta = backend.meta
    meta.write(lambda tx: tx.ensure_repository("blobs"))

    def push(tx: MetaWriter) -> None:
        tx.put_manifest("r", D1, b"one", row(created=10.0))
        tx.ensure_repository("r")

    meta.write(push)
    with meta.read() as tx:
        blobs, first = tx.repository_info("blobs"), tx.repository_info("r")
        assert blobs is not None and blobs["id"] == 1 and blobs["updated"] is None
        assert first == {"id": 2, "created": 10.0, "updated": 10.0}
        assert tx.repository_by_id(2) == ("r", first) and tx.repository_by_id(3) is None
        assert tx.repository_info("nobody") is None
    meta.write(lambda tx: tx.set_tag("r", "v1", D1, 20.0))
    meta.write(lambda tx: tx.set_tag("r", "v0", D1, 15.0))  # an older time (clock step back) does not go back
    meta.write(lambda tx: tx.put_manifest("r", D2, b"two", row(created=12.0)))
    meta.write(lambda tx: tx.ensure_repository("r"))
    with meta.read() as tx:
        assert tx.repository_info("r") == {"id": 2, "created": 10.0, "updated": 20.0}
    meta.write(lambda tx: tx.set_tag("t", "v1", D1, 30.0))  # a tag alone makes a repository too
    with meta.read() as tx:
        assert tx.repository_info("t") == {"id": 3, "created": 30.0, "updated": 30.0}


def test_numbering_a_repository_is_undone_with_its_unit_of_work(backend: Backend) -> None:
    def half(tx: MetaWriter) -> None:
        tx.put_manifest("r", D1, b"one", row())
        raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        backend.meta.write(half)
    backend.meta.write(lambda tx: tx.ensure_repository("s"))
    with backend.meta.read() as tx:
        assert tx.repository_info("r") is None and tx.repository_by_id(1) == ("s", tx.repository_info("s"))


def test_groups_their_members_and_what_lies_below_them(backend: Backend) -> None:
    def setup(tx: MetaWriter) -> None:
        for i, path in enumerate(["a", "a/b", "a/b/c", "a-x", "ab", "z"], 1):
            tx.put_group(path, {"id": i, "public": False})
        for path in ["a/p", "a/b/q", "a-x/p", "ab/p", "top"]:
            tx.put_project(path, {"public": False})
        tx.put_group_member("a", "bob", {"role": "developer"})
        tx.put_group_member("a", "alice", {"role": "owner"})
        tx.put_group_member("a/b", "bob", {"role": "maintainer"})

    backend.meta.write(setup)
    with backend.meta.read() as tx:
        assert tx.group("a/b") == {"id": 2, "public": False} and tx.group("q") is None
        assert [path for path, _ in tx.iter_groups()] == ["a", "a-x", "a/b", "a/b/c", "ab", "z"]
        assert [path for path, _ in tx.groups_below("a")] == ["a/b", "a/b/c"]
        assert [path for path, _ in tx.groups_below("z")] == []
        assert [path for path, _ in tx.projects_below("a")] == ["a/b/q", "a/p"]
        assert [path for path, _ in tx.projects_below("a/b")] == ["a/b/q"]
        assert tx.group_member("a", "bob") == {"role": "developer"} and tx.group_member("a/b/c", "bob") is None
        assert list(tx.group_members("a")) == [("alice", {"role": "owner"}), ("bob", {"role": "developer"})]
        assert sorted(tx.iter_group_members()) == [("a", "alice"), ("a", "bob"), ("a/b", "bob")]
        assert list(tx.members("a")) == []  # group members are not project members
    assert backend.meta.write(lambda tx: tx.delete_group_member("a", "bob")) is True
    assert backend.meta.write(lambda tx: tx.delete_group_member("a", "bob")) is False
    with backend.meta.read() as tx:
        assert list(tx.group_members("a")) == [("alice", {"role": "owner"})]


def test_a_copy_keeps_repository_ids_and_counters(backend: Backend) -> None:
    """What a copy from another store needs: rows stored with their ids, counters set and listed."""

    def copy(tx: MetaWriter) -> None:
        tx.put_repository("team/app", {"id": 41, "created": 5.0, "updated": 6.0})
        tx.set_counter("repository", 41)
        tx.set_counter("token", 9)

    backend.meta.write(copy)
    backend.meta.write(lambda tx: tx.ensure_repository("team/next"))
    with backend.meta.read() as tx:
        assert tx.repository_info("team/app") == {"id": 41, "created": 5.0, "updated": 6.0}
        assert tx.repository_by_id(41) == ("team/app", {"id": 41, "created": 5.0, "updated": 6.0})
        assert tx.repository_info("team/next")["id"] == 42  # type: ignore[index]  # after the copied counter
        assert dict(tx.iter_counters()) == {"repository": 42, "token": 9}
        assert [name for name, _ in tx.iter_counters()] == ["repository", "token"]
    assert backend.meta.write(lambda tx: tx.next_counter("token")) == 10
