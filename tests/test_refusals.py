"""Why a request is refused, as pure functions: the words of each refusal, and what they must not reveal.

Rules: an anonymous caller is told to log in; a caller who may not know a project exists (not a
member of a private project, or a repository no project owns) hears "not found or no access",
the same words either way; an admin or a member hears the precise reason (no project and the
naming rule, registry off, role, token scopes). A new project that would take repositories of
another project names them.
"""

from __future__ import annotations

import pytest
from tinyreg.access.paths import (
    LISTED_REPOSITORIES,
    nearest_project,
    taken_over,
    takeover_refusal,
    unowned_repository_message,
    within_reach,
)
from tinyreg.access.policy import ANONYMOUS, Principal, ProjectAccess, explain_refusal
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import check_name, name_fault

ROOT = Principal("user", "root", admin=True)
ALICE = Principal("user", "alice")
DEPLOY = Principal("deploy", "tinyreg+deploy-token-3", scopes=frozenset({"read_registry"}), project="acme/app", token_id=3)
OTHER_DEPLOY = Principal("deploy", "tinyreg+deploy-token-4", scopes=frozenset({"read_registry"}), project="zeta/box", token_id=4)
READ_PAT = Principal("user", "alice", scopes=frozenset({"read_registry"}), token_id=9)


def access(role: str | None = None, *, public: bool = False, enabled: bool = True, path: str = "acme/app") -> ProjectAccess:
    return ProjectAccess(path, public, enabled, role)


PULL, PUSH, PULL_PUSH = frozenset({"pull"}), frozenset({"push"}), frozenset({"pull", "push"})

# (case, principal, owning project, nearest project, requested, repository, words it must hold, words it must not)
EXPLAIN_TABLE = [
    (
        "anonymous-private",
        ANONYMOUS,
        access(),
        None,
        PULL,
        "acme/app",
        ["authentication required", "log in first", "acme/app"],
        [],
    ),
    ("anonymous-no-project", ANONYMOUS, None, None, PULL, "nosuch/x", ["log in first"], ["no project", "tinyreg project"]),
    ("anonymous-public-push", ANONYMOUS, access(public=True), None, PUSH, "acme/app", ["log in first", "push"], []),
    ("anonymous-public-off", ANONYMOUS, access(public=True, enabled=False), None, PULL, "acme/app", ["switched off"], []),
    (
        "admin-no-project",
        ROOT,
        None,
        None,
        PULL_PUSH,
        "nosuch/project",
        ["belongs to no project", "<project path>/<at most two more components>", "tinyreg project create PATH"],
        ["nearest"],
    ),
    (
        "admin-too-deep",
        ROOT,
        None,
        access(path="acme/app"),
        PULL_PUSH,
        "acme/app/a/b/c",
        ["belongs to no project", "<project path>/<at most two more components>", "nearest project is acme/app", "acme/app/a/b"],
        [],
    ),
    ("admin-registry-off", ROOT, access(enabled=False), None, PULL, "acme/app", ["switched off for project acme/app"], []),
    ("member-registry-off", ALICE, access("developer", enabled=False), None, PULL, "acme/app", ["switched off"], []),
    ("member-too-deep", ALICE, None, access("developer"), PUSH, "acme/app/a/b/c", ["nearest project is acme/app"], []),
    (
        "non-member-too-deep",
        ALICE,
        None,
        access(),
        PUSH,
        "acme/app/a/b/c",
        ["not found or no access"],
        ["acme/app is", "nearest"],
    ),
    ("non-member-no-project", ALICE, None, None, PUSH, "nosuch/x", ["nosuch/x: not found or no access"], ["no project"]),
    ("non-member-private", ALICE, access(), None, PULL, "acme/app", ["acme/app: not found or no access"], ["role", "member"]),
    ("non-member-private-off", ALICE, access(enabled=False), None, PULL, "acme/app", ["not found or no access"], ["switched"]),
    (
        "non-member-public-push",
        ALICE,
        access(public=True),
        None,
        PUSH,
        "acme/app",
        ["not a member of project acme/app", "developer"],
        [],
    ),
    ("guest", ALICE, access("guest"), None, PULL, "acme/app/api", ["role in project acme/app is guest", "pull", "reporter"], []),
    (
        "reporter-push",
        ALICE,
        access("reporter"),
        None,
        PULL_PUSH,
        "acme/app",
        ["is reporter", "allow push", "developer"],
        ["pull/"],
    ),
    ("read-token-push", READ_PAT, access("owner"), None, PULL_PUSH, "acme/app", ["scopes: read_registry", "allow push"], []),
    ("deploy-own-push", DEPLOY, access(), None, PUSH, "acme/app", ["scopes: read_registry", "push"], []),
    ("deploy-other-private", OTHER_DEPLOY, access(), None, PULL, "acme/app", ["not found or no access"], ["zeta"]),
    ("deploy-other-public", OTHER_DEPLOY, access(public=True), None, PUSH, "acme/app", ["deploy token of zeta/box"], []),
]


@pytest.mark.parametrize(
    ("principal", "project", "nearest", "requested", "repo", "holds", "lacks"),
    [case[1:] for case in EXPLAIN_TABLE],
    ids=[case[0] for case in EXPLAIN_TABLE],
)
def test_a_refusal_says_why_as_far_as_the_caller_may_know(
    principal: Principal,
    project: ProjectAccess | None,
    nearest: ProjectAccess | None,
    requested: frozenset[str],
    repo: str,
    holds: list[str],
    lacks: list[str],
) -> None:
    message = explain_refusal(principal, project, requested, repo=repo, nearest=nearest)
    for words in holds:
        assert words in message, message
    for words in lacks:
        assert words not in message, message


def test_a_non_member_cannot_tell_a_private_project_from_no_project() -> None:
    private = explain_refusal(ALICE, access(), PULL, repo="acme/app", nearest=access())
    missing = explain_refusal(ALICE, None, PULL, repo="acme/app", nearest=None)
    assert private == missing


# -- repositories and projects ----------------------------------------------------------------

PROJECTS = {"acme/app", "team-a", "deep/a/b"}


@pytest.mark.parametrize(
    ("repo", "nearest", "reach"),
    [
        ("acme/app", "acme/app", True),
        ("acme/app/a/b", "acme/app", True),
        ("acme/app/a/b/c", "acme/app", False),
        ("acme/apps/x", None, False),
        ("nosuch/project", None, False),
        ("team-a/tools/app", "team-a", True),
        ("team-a/tools/app/x", "team-a", False),
        ("deep/a/b/c", "deep/a/b", True),
    ],
)
def test_the_nearest_project_is_the_longest_prefix_however_deep(repo: str, nearest: str | None, reach: bool) -> None:
    assert nearest_project(repo, PROJECTS.__contains__) == nearest
    assert (nearest is not None and within_reach(repo, nearest)) is reach


def test_the_unowned_message_shows_how_deep_names_may_go_below_the_nearest_project() -> None:
    message = unowned_repository_message("acme/app/a/b/c", "acme/app")
    assert "<project path>/<at most two more components>" in message
    assert "acme/app/a/b at most" in message


# new project → repositories it would take from another project (not those of no project, nor beyond reach)
TAKEOVER_TABLE = [
    ("team-a/tools", ["team-a/tools/app"], [("team-a/tools/app", "team-a")]),
    ("team-a/tools", ["team-a/tools"], [("team-a/tools", "team-a")]),
    ("team-a/tools", ["team-a/tools/a/b", "team-a/tools/a/b/c"], []),  # beyond team-a's reach: no project owns them today
    ("team-a/tools", ["team-a/toolsx/app", "team-a/other"], []),
    ("acme/app/sub", ["acme/app/sub/x"], [("acme/app/sub/x", "acme/app")]),
    ("acme", ["acme/app/x", "acme/other"], []),  # acme/app keeps its own; acme/other had no project
    ("deep/a", ["deep/a/b/c", "deep/a/c"], []),  # deep/a/b keeps deep/a/b/c; deep/a/c had no project
    ("nosuch", ["nosuch/project"], []),
]


@pytest.mark.parametrize(("path", "repos", "moved"), TAKEOVER_TABLE)
def test_a_new_project_takes_over_the_repositories_whose_project_would_change(
    path: str, repos: list[str], moved: list[tuple[str, str]]
) -> None:
    assert taken_over(path, repos, PROJECTS.__contains__) == moved


def test_the_takeover_refusal_lists_the_first_repositories_and_counts_the_rest() -> None:
    moved = [(f"team-a/tools/app{i:02}", "team-a") for i in range(LISTED_REPOSITORIES + 3)]
    message = takeover_refusal("team-a/tools", moved)
    assert f"would move {LISTED_REPOSITORIES + 3} existing repositories" in message
    assert "team-a/tools/app00 (now in team-a)" in message
    assert f"team-a/tools/app{LISTED_REPOSITORIES - 1:02}" in message
    assert f"team-a/tools/app{LISTED_REPOSITORIES:02}" not in message
    assert "and 3 more" in message and "--adopt" in message


# -- names: which component breaks which rule --------------------------------------------------

# name → words the NAME_INVALID message must hold
BAD_NAMES = [
    ("Acme/app", ["'A'", "position 1", "component 1", "uppercase"]),
    ("acme/my_-app", ["'-'", "position 9", "component 2", "separators"]),
    ("acme/app/", ["empty component", "position 10"]),
    ("acme/ap p", ["' '", "position 8", "only a-z, 0-9"]),
    ("acme/-app", ["component 2", "must start with a letter or digit"]),
    ("acme/app.", ["component 2", "must end with a letter or digit"]),
    ("a" * 256, ["at most 255 characters"]),
]


@pytest.mark.parametrize(("name", "words"), BAD_NAMES, ids=[name[:20] for name, _ in BAD_NAMES])
def test_name_invalid_says_which_component_breaks_which_rule(name: str, words: list[str]) -> None:
    with pytest.raises(RegistryError) as info:
        check_name(name)
    assert info.value.code == "NAME_INVALID"
    for word in words:
        assert word in info.value.message, info.value.message
    assert info.value.detail["reason"] == name_fault(name, "repository name")
