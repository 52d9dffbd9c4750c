"""The metadata store's contract for moves: re-keying a repository's and a project's rows, and aliases."""

from __future__ import annotations

import pytest
from tinyreg.storage.interfaces import ManifestRow, MetaWriter, UsageRef

from .backends import Backend

D1, D2, REF = ("sha256:" + c * 64 for c in "12f")


def _row(subject: str | None = None, data: bytes | None = None) -> ManifestRow:
    row: ManifestRow = {
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "size": 3,
        "artifact_type": None,
        "subject": subject,
        "annotations": None,
        "refs": [],
        "created": 1.0,
    }
    if data is not None:
        row["data"] = data
    return row


def _fill(tx: MetaWriter, repo: str) -> None:
    tx.put_link(repo, D1, {"size": 7})
    tx.put_manifest(repo, D1, b"one", _row())
    tx.put_manifest(repo, REF, b"ref", _row(subject=D1))
    tx.set_tag(repo, "v1", D1, 5.0)
    tx.set_tag(repo, "latest", D1, 6.0)
    tx.set_usage_refs("repository", repo, {D1: UsageRef(1, 10)})
    tx.set_usage_total("repository", repo, 10)


def _snapshot(backend: Backend, repo: str) -> dict[str, object]:
    with backend.meta.read() as tx:
        info = tx.repository_info(repo)
        return {
            "id": info["id"] if info else None,
            "tags": list(tx.iter_tags(repo)),
            "tags_of": tx.tags_of(repo, D1),
            "manifests": [digest for digest, _ in tx.manifests_of(repo)],
            "referrers": list(tx.referrers(repo, D1)),
            "link": tx.link(repo, D1),
            "usage": (list(tx.usage_refs("repository", repo)), tx.usage_total("repository", repo)),
        }


def test_a_moved_repository_keeps_everything_and_its_id_under_the_new_name(backend: Backend) -> None:
    backend.meta.write(lambda tx: _fill(tx, "team/app"))
    backend.meta.write(lambda tx: _fill(tx, "team/app/sub"))  # a name below: not part of the move
    before = _snapshot(backend, "team/app")
    below = _snapshot(backend, "team/app/sub")
    assert backend.meta.write(lambda tx: tx.move_repository("team/app", "other/app")) is True
    reopened = backend.reopen()
    after = _snapshot(reopened, "other/app")
    assert after == before and after["tags_of"] == ["latest", "v1"] and after["referrers"] == [REF]
    assert _snapshot(reopened, "team/app/sub") == below
    with reopened.meta.read() as tx:
        assert not tx.has_repository("team/app") and list(tx.iter_tags("team/app")) == []
        assert tx.manifest("team/app", D1) is None and tx.link("team/app", D1) is None
        assert list(tx.usage_refs("repository", "team/app")) == [] and tx.usage_total("repository", "team/app") == 0
        repo_id = before["id"]
        assert isinstance(repo_id, int) and tx.repository_by_id(repo_id) == ("other/app", tx.repository_info("other/app"))
        assert tx.manifest_data(D1) == b"one"  # shared bytes are keyed by digest: untouched
    reopened.close()


def test_a_repository_cannot_move_onto_one_that_exists_and_a_missing_one_moves_nothing(backend: Backend) -> None:
    backend.meta.write(lambda tx: _fill(tx, "a"))
    backend.meta.write(lambda tx: tx.put_link("b", D2, {"size": 1}))  # rows without a repository row count as existing
    with pytest.raises(ValueError):
        backend.meta.write(lambda tx: tx.move_repository("a", "b"))
    assert backend.meta.write(lambda tx: tx.move_repository("nothing", "c")) is False
    assert _snapshot(backend, "a")["tags"] != []


def test_a_moved_project_keeps_its_id_members_policy_and_usage(backend: Backend) -> None:
    def setup(tx: MetaWriter) -> None:
        tx.put_project("g/p", {"id": 7, "public": False, "registry_enabled": True, "size_limit": 99})
        tx.put_project("g/p2", {"id": 8, "public": True, "registry_enabled": True})
        tx.put_member("g/p", "alice", {"role": "maintainer"})
        tx.put_member("g/p2", "bob", {"role": "developer"})
        tx.put_cleanup_policy("g/p", {"enabled": True, "keep_n": 5})
        tx.set_usage_refs("project", "g/p", {D1: UsageRef(2, 10)})
        tx.set_usage_total("project", "g/p", 10)
        tx.put_project_hook("g/p", 3, {"id": 3, "url": "http://127.0.0.1:9/"})
        tx.put_project_hook("g/p2", 4, {"id": 4, "url": "http://127.0.0.1:9/"})

    backend.meta.write(setup)
    assert backend.meta.write(lambda tx: tx.move_project("g/p", "h/q")) is True
    with pytest.raises(ValueError):
        backend.meta.write(lambda tx: tx.move_project("g/p2", "h/q"))
    assert backend.meta.write(lambda tx: tx.move_project("nothing", "x")) is False
    with backend.reopen().meta.read() as tx:
        assert tx.project("g/p") is None and tx.project("h/q") == {
            "id": 7,
            "public": False,
            "registry_enabled": True,
            "size_limit": 99,
        }
        assert tx.project_by_id(7) == ("h/q", tx.project("h/q"))
        assert list(tx.members("h/q")) == [("alice", {"role": "maintainer"})] and list(tx.members("g/p")) == []
        assert list(tx.members("g/p2")) == [("bob", {"role": "developer"})]
        assert tx.cleanup_policy("h/q") == {"enabled": True, "keep_n": 5} and tx.cleanup_policy("g/p") is None
        assert list(tx.usage_refs("project", "h/q")) == [(D1, UsageRef(2, 10))] and tx.usage_total("project", "h/q") == 10
        assert list(tx.usage_totals("project")) == [("h/q", 10)]
        assert list(tx.project_hooks("h/q")) == [(3, {"id": 3, "url": "http://127.0.0.1:9/"})]
        assert list(tx.project_hooks("g/p")) == [] and [i for i, _ in tx.project_hooks("g/p2")] == [4]


def test_aliases_are_stored_listed_and_removed(backend: Backend) -> None:
    backend.meta.write(lambda tx: tx.put_alias("g/p", {"kind": "project", "target": "h/q", "created": 1.0, "expires": 9.0}))
    backend.meta.write(
        lambda tx: tx.put_alias("g/p/img", {"kind": "repository", "target": "h/q/img", "created": 1.0, "expires": 9.0})
    )
    assert backend.meta.write(lambda tx: tx.delete_alias("g/p/img")) is True
    assert backend.meta.write(lambda tx: tx.delete_alias("g/p/img")) is False
    with backend.reopen().meta.read() as tx:
        assert tx.alias("g/p") == {"kind": "project", "target": "h/q", "created": 1.0, "expires": 9.0}
        assert tx.alias("g") is None
        assert [path for path, _ in tx.iter_aliases()] == ["g/p"]


def test_a_failed_unit_of_work_leaves_the_old_layout(backend: Backend) -> None:
    backend.meta.write(lambda tx: _fill(tx, "a"))
    before = _snapshot(backend, "a")

    def half(tx: MetaWriter) -> None:
        tx.move_repository("a", "b")
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        backend.meta.write(half)
    assert _snapshot(backend, "a") == before and _snapshot(backend, "b")["tags"] == []


def test_moving_ten_thousand_tags_visits_only_their_rows(backend: Backend) -> None:
    def fill(tx: MetaWriter) -> None:
        tx.put_manifest("big", D1, b"one", _row())
        for n in range(10_000):
            tx.set_tag("big", f"t{n}", D1, 1.0)
        tx.set_tag("other", "x", D1, 1.0)

    backend.meta.write(fill)

    def move(tx: MetaWriter) -> int:
        tx.move_repository("big", "moved")
        return int(getattr(tx, "rows_visited", -1))

    visited = backend.meta.write(move)
    # tags, their index, a manifest: nothing of other repositories (-1: a store that does not count)
    assert visited == -1 or visited <= 2 * 10_000 + 10
    with backend.meta.read() as tx:
        assert tx.tags("moved", after=None, limit=3) == (["t0", "t1", "t10"], True) and tx.tag_digest("other", "x") == D1


def test_moved_rows_replace_stale_rows_left_under_the_new_path(backend: Backend) -> None:
    """Rows under the new path without a project or repository row (nothing the registry keeps, but
    possible) give way to the moved ones rather than failing the move; the others stay."""

    def setup(tx: MetaWriter) -> None:
        tx.put_project("g/p", {"id": 7})
        tx.put_member("g/p", "alice", {"role": "maintainer"})
        tx.put_project_hook("g/p", 3, {"id": 3, "url": "http://new/"})
        tx.put_cleanup_policy("g/p", {"keep_n": 5})
        tx.set_usage_refs("project", "g/p", {D1: UsageRef(2, 10)})
        tx.set_usage_total("project", "g/p", 10)
        tx.put_member("h/q", "alice", {"role": "guest"})
        tx.put_member("h/q", "bob", {"role": "guest"})
        tx.put_project_hook("h/q", 3, {"id": 3, "url": "http://stale/"})
        tx.put_cleanup_policy("h/q", {"keep_n": 1})
        tx.set_usage_refs("project", "h/q", {D1: UsageRef(1, 10), D2: UsageRef(1, 4)})
        tx.set_usage_total("project", "h/q", 14)
        _fill(tx, "a")
        tx.set_usage_refs("repository", "b", {D1: UsageRef(5, 10)})
        tx.set_usage_total("repository", "b", 10)

    backend.meta.write(setup)
    assert backend.meta.write(lambda tx: tx.move_project("g/p", "h/q")) is True
    assert backend.meta.write(lambda tx: tx.move_repository("a", "b")) is True
    with backend.meta.read() as tx:
        assert list(tx.members("h/q")) == [("alice", {"role": "maintainer"}), ("bob", {"role": "guest"})]
        assert list(tx.project_hooks("h/q")) == [(3, {"id": 3, "url": "http://new/"})]
        assert tx.cleanup_policy("h/q") == {"keep_n": 5} and tx.usage_total("project", "h/q") == 10
        assert list(tx.usage_refs("project", "h/q")) == [(D1, UsageRef(2, 10)), (D2, UsageRef(1, 4))]
        assert list(tx.usage_refs("repository", "b")) == [(D1, UsageRef(1, 10))] and tx.usage_total("repository", "b") == 10
