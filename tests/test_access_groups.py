"""Groups in the access store: explicit and implicit creation, nesting, members passed down,
and what a principal may see (with ids and effective roles)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tinyreg.access.policy import ANONYMOUS, GroupAccess, Principal, ProjectAccess
from tinyreg.access.store import AccessError, AccessStore
from tinyreg.storage.opening import open_meta


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AccessStore]:
    meta = open_meta(tmp_path / "data")
    try:
        access = AccessStore(meta)
        for name in ("ann", "ben", "cat", "root"):
            access.add_user(name, None, admin=name == "root")
        yield access
    finally:
        meta.close()


def paths(rows: list[dict[str, object]]) -> list[object]:
    return [row["path"] for row in rows]


def test_a_project_creates_the_groups_it_lives_in_and_a_top_level_project_none(store: AccessStore) -> None:
    assert store.create_project("a/b/c") == 1
    store.create_project("solo")
    assert paths(store.groups()) == ["a", "a/b"]
    assert [(g["id"], g["public"]) for g in store.groups()] == [(1, False), (2, False)]
    assert store.group_members("a") == {} and store.group_by_id(2) == store.group("a/b")
    store.create_project("a/d")  # in the existing group a: nothing new
    assert paths(store.groups()) == ["a", "a/b"]


def test_a_refused_project_leaves_no_group_behind(store: AccessStore) -> None:
    with pytest.raises(AccessError, match="no user 'nobody'"):
        store.create_project("x/y/z", owner="nobody")
    assert store.groups() == [] and store.projects() == []


def test_groups_are_created_explicitly_with_their_parents_and_an_owner(store: AccessStore) -> None:
    assert store.create_group("p/q", visibility="public", owner="ann") == 2  # p first, then p/q
    assert (store.group("p/q") or {})["public"] is True and (store.group("p") or {})["public"] is False
    assert store.group_members("p/q") == {"ann": "owner"} and store.group_members("p") == {}
    store.update_group("p", public=True)
    assert (store.group("p") or {})["public"] is True
    refusals: list[tuple[Callable[[], object], str]] = [
        (lambda: store.create_group("p/q"), "group 'p/q' already exists"),
        (lambda: store.create_group("Bad/Path"), "invalid group path"),
        (lambda: store.create_group("r", visibility="internal"), "visibility must be one of private, public"),
        (lambda: store.create_group("r", owner="nobody"), "no user 'nobody'"),
        (lambda: store.update_group("zz", public=True), "no group 'zz'"),
        (lambda: store.set_group_member("zz", "ann", "owner"), "no group 'zz'"),
        (lambda: store.set_group_member("p", "nobody", "owner"), "no user 'nobody'"),
        (lambda: store.set_group_member("p", "ann", "boss"), "role must be one of"),
        (lambda: store.set_group_member("p", "ben", None), "'ben' is not a member of group 'p'"),
    ]
    for call, message in refusals:
        with pytest.raises(AccessError, match=message):
            call()
    assert store.group("r") is None


def test_subgroups_and_projects_of_a_group_directly_or_at_any_depth(store: AccessStore) -> None:
    for project in ("a/p", "a/b/q", "a/b/c/r", "ab/s", "a-x/t"):
        store.create_project(project)
    assert paths(store.subgroups("a")) == ["a/b"]
    assert paths(store.subgroups("a", recursive=True)) == ["a/b", "a/b/c"]
    assert paths(store.projects_in_group("a")) == ["a/b/c/r", "a/b/q", "a/p"]
    assert paths(store.projects_in_group("a", recursive=False)) == ["a/p"]
    assert [p["id"] for p in store.projects_in_group("a/b")] == [3, 2]
    assert store.subgroups("ab") == [] and store.projects_in_group("nobody") == []


def test_group_roles_pass_down_and_the_highest_wins(store: AccessStore) -> None:
    store.create_project("a/b/app", owner="cat")
    store.set_group_member("a", "ann", "reporter")
    store.set_group_member("a/b", "ann", "maintainer")
    store.set_group_member("a", "ben", "owner")
    store.set_member("a/b/app", "ben", "guest")
    assert store.project_access("a/b/app/img", "ann") == ProjectAccess("a/b/app", False, True, "maintainer")
    assert (store.project_access("a/b/app", "ben") or ProjectAccess("", False, False, None)).role == "owner"
    assert (store.project_access("a/b/app", "root") or ProjectAccess("", False, False, None)).role is None  # admin: no role
    assert store.members("a/b/app") == {"ben": "guest", "cat": "owner"}
    assert store.members("a/b/app", inherited=True) == {"ann": "maintainer", "ben": "owner", "cat": "owner"}
    assert store.group_members("a/b", inherited=True) == {"ann": "maintainer", "ben": "owner"}
    assert store.group_access("a/b", "ann") == GroupAccess("a/b", False, "maintainer")
    assert store.group_access("a", "cat") == GroupAccess("a", False, None)
    assert store.group_access("zz", "ann") is None
    store.set_group_member("a/b", "ann", None)
    assert (store.project_access("a/b/app", "ann") or ProjectAccess("", False, False, None)).role == "reporter"
    store.remove_user("ben")
    assert store.group_members("a") == {"ann": "reporter"}


def test_visible_projects_and_groups_with_ids_and_effective_roles(store: AccessStore) -> None:
    store.create_project("a/private")
    store.create_project("a/public", public=True)
    store.create_project("b/other")
    store.create_group("c", visibility="public")
    store.set_group_member("a", "ann", "developer")
    store.set_member("b/other", "ben", "guest")

    def seen(principal: Principal) -> list[tuple[str, int, str | None]]:
        return [(p["path"], p["id"], p["role"]) for p in store.visible_projects(principal)]

    assert seen(Principal("user", "ann")) == [("a/private", 1, "developer"), ("a/public", 2, "developer")]
    assert seen(Principal("user", "ben")) == [("a/public", 2, None), ("b/other", 3, "guest")]
    assert seen(ANONYMOUS) == [("a/public", 2, None)]
    assert seen(Principal("user", "root", admin=True)) == [("a/private", 1, None), ("a/public", 2, None), ("b/other", 3, None)]
    assert seen(Principal("deploy", "tinyreg+deploy-token-1", project="b/other")) == [("a/public", 2, None), ("b/other", 3, None)]
    [row] = [p for p in store.visible_projects(ANONYMOUS)]
    assert (row["public"], row["registry_enabled"]) == (True, True) and "created" in row
    groups = [(g["path"], g["role"]) for g in store.visible_groups(Principal("user", "ann"))]
    assert groups == [("a", "developer"), ("c", None)]
    assert [g["path"] for g in store.visible_groups(ANONYMOUS)] == ["c"]
    assert [g["path"] for g in store.visible_groups(Principal("user", "root", admin=True))] == ["a", "b", "c"]
