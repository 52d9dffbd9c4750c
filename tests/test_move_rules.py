"""The rules of moves, table by table: refusals (pure), who may move (policy.py), aliases."""

from __future__ import annotations

import pytest
from tinyreg.access.move_rules import ProjectMove, RepositoryMove, project_move_refusal, renamed, repository_move_refusal
from tinyreg.access.policy import GroupAccess, Principal, ProjectAccess, may_move_project, may_move_repository
from tinyreg.registry.aliases import DAY, in_force, new_alias, push_refusal, upload_cancelled

OK = None


@pytest.mark.parametrize(
    ("move", "expected"),
    [
        (ProjectMove("g/p", "h/q", True), OK),
        (ProjectMove("g/p", "H/q", True), "invalid project path 'H/q'"),
        (ProjectMove("g/p", "h//q", True), "invalid project path"),
        (ProjectMove("g/p", "", True), "cannot be empty"),
        (ProjectMove("g/p", "h/q", True, exists=False), "no project g/p"),
        (ProjectMove("g/p", "h/q", False), "needs the maintainer role in the project and where it goes"),
        (ProjectMove("g/p", "g/p", True), "already at g/p"),
        (ProjectMove("g/p", "g/p/sub", True), "cannot move below itself"),
        (ProjectMove("g/p", "h/q", True, occupied="project h/q exists"), "cannot move project g/p to h/q: project h/q exists"),
        (ProjectMove("g/p", "h/" + "q" * 250, True, repositories=["g/p/img"]), "would exceed 255 characters: h/qqq"),
        (ProjectMove("g/p", "h/q", True, repositories=["g/p/a"], blocked=["h/q/a"]), "still answer at h/q/a"),
        (ProjectMove("g/p", "h/q", True, repositories=["g/p/a"], signed=["g/p/a"]), "g/p/a hold signed schema 1 manifests"),
    ],
)
def test_project_move_refusals(move: ProjectMove, expected: str | None) -> None:
    refusal = project_move_refusal(move)
    assert refusal is None if expected is None else (refusal is not None and expected in refusal), refusal


@pytest.mark.parametrize(
    ("move", "expected"),
    [
        (RepositoryMove("g/p/a", "g/p/b", True, source_project="g/p", target_project="g/p"), OK),
        (RepositoryMove("g/p/a", "h/q/x/y", True, source_project="g/p", target_project="h/q"), OK),
        (RepositoryMove("a", "b", True, depth_rule=False), OK),  # an open registry without projects
        (RepositoryMove("g/p/a", "g/p/B", True, source_project="g/p", target_project="g/p"), "invalid repository name"),
        (RepositoryMove("g/p/a", "g/p/b", True, exists=False, source_project="g/p", target_project="g/p"), "no repository"),
        (
            RepositoryMove("g/p/a", "g/p/x/y/z", True, source_project="g/p", nearest_target="g/p"),
            "more than 2 components below project g/p",
        ),
        (RepositoryMove("g/p/a", "nowhere/x", True, source_project="g/p"), "would belong to no project"),
        (
            RepositoryMove("g/p/a", "h/q/a", False, source_project="g/p", target_project="h/q"),
            "maintainer role in project g/p and in project h/q",
        ),
        (RepositoryMove("g/p/a", "g/p/a", True, source_project="g/p", target_project="g/p"), "already called"),
        (
            RepositoryMove(
                "g/p/a", "g/p/b", True, source_project="g/p", target_project="g/p", occupied="repository g/p/b exists"
            ),
            "repository g/p/b exists",
        ),
        (
            RepositoryMove("g/p/a", "g/p/b", True, source_project="g/p", target_project="g/p", signed=True),
            "signed schema 1",
        ),
    ],
)
def test_repository_move_refusals(move: RepositoryMove, expected: str | None) -> None:
    refusal = repository_move_refusal(move)
    assert refusal is None if expected is None else (refusal is not None and expected in refusal), refusal


def _user(name: str = "u", admin: bool = False) -> Principal:
    return Principal("user", name, admin=admin)


def _project(role: str | None) -> ProjectAccess:
    return ProjectAccess("g/p", False, True, role)


def _group(role: str | None) -> GroupAccess:
    return GroupAccess("h", False, role)


@pytest.mark.parametrize(
    ("principal", "role", "namespace", "group", "same", "allowed"),
    [
        (_user(admin=True), None, "", None, False, True),  # admins anywhere, top level too
        (_user(), "maintainer", "g", None, True, True),  # a rename in the same group
        (_user(), "owner", "g", None, True, True),
        (_user(), "developer", "g", None, True, False),
        (_user(), None, "g", None, True, False),
        (_user(), "maintainer", "h", _group("maintainer"), False, True),  # maintainer on both sides
        (_user(), "maintainer", "h", _group("owner"), False, True),
        (_user(), "maintainer", "h", _group("developer"), False, False),
        (_user(), "maintainer", "h", None, False, False),  # no such group: only admins create it
        (_user("u"), "maintainer", "u", None, False, True),  # into the user's own namespace
        (_user(), "maintainer", "", None, False, False),  # top level: admins only
        (Principal("deploy", "d", project="g/p"), None, "g", None, True, False),
        (Principal("anonymous"), None, "g", None, True, False),
    ],
)
def test_who_may_move_a_project(
    principal: Principal, role: str | None, namespace: str, group: GroupAccess | None, same: bool, allowed: bool
) -> None:
    assert may_move_project(principal, _project(role), namespace, group, same_namespace=same) is allowed


@pytest.mark.parametrize(
    ("principal", "source", "target", "allowed"),
    [
        (_user(admin=True), None, None, True),
        (_user(), "maintainer", "maintainer", True),
        (_user(), "owner", "maintainer", True),
        (_user(), "maintainer", "developer", False),
        (_user(), "developer", "maintainer", False),
        (_user(), "maintainer", None, False),
        (Principal("deploy", "d", project="g/p"), None, None, False),
    ],
)
def test_who_may_move_a_repository(principal: Principal, source: str | None, target: str | None, allowed: bool) -> None:
    assert may_move_repository(principal, _project(source), ProjectAccess("h/q", False, True, target)) is allowed


def test_renamed_keeps_what_lies_below_the_old_path() -> None:
    assert [renamed(r, "g/p", "h/q") for r in ("g/p", "g/p/a", "g/p/a/b")] == ["h/q", "h/q/a", "h/q/a/b"]


def test_aliases_last_their_days_and_zero_days_keeps_none() -> None:
    alias = new_alias("repository", "h/q/a", 1000.0, 30)
    assert alias == {"kind": "repository", "target": "h/q/a", "created": 1000.0, "expires": 1000.0 + 30 * DAY}
    assert in_force(alias, 1000.0 + 30 * DAY - 1) and not in_force(alias, 1000.0 + 30 * DAY) and not in_force(None, 0)
    assert new_alias("project", "h/q", 1000.0, 0) is None
    assert "push to h/q/a" in push_refusal("g/p/a", alias) and "g/p/a only answers pulls until" in push_refusal("g/p/a", alias)
    assert upload_cancelled("g/p/a", "h/q/a").endswith("start the upload again at h/q/a")
