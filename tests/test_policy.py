"""The permission decision, table by table, and how project paths and repositories relate.

Rules: reporter and above pull; developer and above push and delete; admins may do everything
in a project; a public project lets anyone pull; a project whose registry is off refuses
everyone; a repository outside every project is refused to everyone, admins too; a token never
exceeds its scopes nor its owner's role; a deploy token acts on its own project only.
"""

from __future__ import annotations

import pytest
from tinyreg.access.paths import PathError, check_project_path, project_of
from tinyreg.access.policy import ANONYMOUS, Principal, ProjectAccess, allowed_actions

PROJECT = "group/project"
ACTIONS = ("pull", "push", "delete")

# What each principal may do, by project visibility and by the scopes of the credential used
# (`password`: a password login, limited by role only).
ROLE_TABLE = """
who          visibility  password           read_registry  write_registry  read+write
guest        private     -                  -              -               -
guest        public      pull               pull           pull            pull
reporter     private     pull               pull           -               pull
reporter     public      pull               pull           pull            pull
developer    private     pull,push,delete   pull           push,delete     pull,push,delete
developer    public      pull,push,delete   pull           pull,push,delete pull,push,delete
maintainer   private     pull,push,delete   pull           push,delete     pull,push,delete
maintainer   public      pull,push,delete   pull           pull,push,delete pull,push,delete
owner        private     pull,push,delete   pull           push,delete     pull,push,delete
owner        public      pull,push,delete   pull           pull,push,delete pull,push,delete
non-member   private     -                  -              -               -
non-member   public      pull               pull           pull            pull
admin        private     pull,push,delete   pull           push,delete     pull,push,delete
admin        public      pull,push,delete   pull           pull,push,delete pull,push,delete
"""

SCOPE_COLUMNS: dict[str, frozenset[str] | None] = {
    "password": None,
    "read_registry": frozenset({"read_registry"}),
    "write_registry": frozenset({"write_registry"}),
    "read+write": frozenset({"read_registry", "write_registry"}),
}


def actions_of(cell: str) -> frozenset[str]:
    """`pull,push` → {"pull", "push"}; `-` → nothing."""
    return frozenset() if cell == "-" else frozenset(cell.split(","))


def table_rows() -> list[tuple[str, str, str, frozenset[str]]]:
    """(who, visibility, scope column, allowed actions) for every cell of `ROLE_TABLE`."""
    lines = [line.split() for line in ROLE_TABLE.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    return [(row[0], row[1], column, actions_of(cell)) for row in rows for column, cell in zip(header[2:], row[2:], strict=True)]


def principal_for(who: str, scopes: frozenset[str] | None) -> Principal:
    """A user principal: an admin, or a plain user whose role comes from the project."""
    return Principal("user", who, admin=who == "admin", scopes=scopes)


def project_for(who: str, visibility: str, *, registry_enabled: bool = True) -> ProjectAccess:
    """`PROJECT` as `who` sees it: its visibility and `who`'s role (None for non-members and admins)."""
    role = None if who in ("non-member", "admin") else who
    return ProjectAccess(PROJECT, visibility == "public", registry_enabled, role)


def one_action(principal: Principal, project: ProjectAccess | None, action: str) -> bool:
    """Whether `principal` may do `action` on a repository of `project`."""
    allowed = allowed_actions(principal, project, {action})
    assert allowed <= {action}, f"asked for {action}, got {set(allowed)}"
    return action in allowed


def test_the_table_covers_every_role_visibility_and_scope() -> None:
    rows = table_rows()
    assert {row[0] for row in rows} == {"guest", "reporter", "developer", "maintainer", "owner", "non-member", "admin"}
    assert len(rows) == 7 * 2 * 4
    assert len({row[:3] for row in rows}) == len(rows)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    ("who", "visibility", "scopes", "expected"), table_rows(), ids=lambda v: v if isinstance(v, str) else None
)
def test_role_visibility_and_scopes_decide_each_action(
    who: str, visibility: str, scopes: str, expected: frozenset[str], action: str
) -> None:
    principal = principal_for(who, SCOPE_COLUMNS[scopes])
    assert one_action(principal, project_for(who, visibility), action) is (action in expected)


@pytest.mark.parametrize(
    ("who", "visibility", "scopes", "expected"), table_rows(), ids=lambda v: v if isinstance(v, str) else None
)
def test_asking_for_every_action_at_once_gives_the_whole_row(
    who: str, visibility: str, scopes: str, expected: frozenset[str]
) -> None:
    principal = principal_for(who, SCOPE_COLUMNS[scopes])
    assert allowed_actions(principal, project_for(who, visibility), set(ACTIONS)) == expected


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("visibility", ["public", "private"])
@pytest.mark.parametrize("who", ["guest", "reporter", "developer", "maintainer", "owner", "non-member", "admin"])
def test_a_project_whose_registry_is_off_refuses_everyone_even_admins(who: str, visibility: str, action: str) -> None:
    project = project_for(who, visibility, registry_enabled=False)
    assert not one_action(principal_for(who, None), project, action)
    assert not one_action(ANONYMOUS, project, action)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_project_whose_registry_is_off_refuses_its_own_deploy_token(action: str) -> None:
    deploy = Principal("deploy", "tinyreg+deploy-token-1", scopes=frozenset({"read_registry", "write_registry"}), project=PROJECT)
    assert not one_action(deploy, ProjectAccess(PROJECT, True, False, None), action)


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        (Principal("user", "root", admin=True), set()),
        (Principal("user", "root", admin=True, scopes=frozenset({"read_registry"})), set()),
        (Principal("user", "alice"), set()),
        (ANONYMOUS, set()),
        (
            Principal("deploy", "tinyreg+deploy-token-1", scopes=frozenset({"read_registry", "write_registry"}), project=PROJECT),
            set(),
        ),
    ],
    ids=["admin", "admin-read-token", "user", "anonymous", "deploy-token"],
)
def test_a_repository_outside_every_project_is_refused_to_everyone_admins_too(principal: Principal, expected: set[str]) -> None:
    assert allowed_actions(principal, None, set(ACTIONS)) == expected


# A deploy token: (scopes, whose project, visibility) → allowed actions.
DEPLOY_TABLE = [
    ({"read_registry"}, "own", "private", {"pull"}),
    ({"write_registry"}, "own", "private", {"push", "delete"}),
    ({"read_registry", "write_registry"}, "own", "private", {"pull", "push", "delete"}),
    ({"read_registry"}, "own", "public", {"pull"}),
    ({"write_registry"}, "own", "public", {"pull", "push", "delete"}),
    ({"read_registry", "write_registry"}, "other", "private", set()),
    ({"read_registry", "write_registry"}, "other", "public", {"pull"}),
    ({"read_registry"}, "parent", "private", set()),
]


@pytest.mark.parametrize(("scopes", "whose", "visibility", "expected"), DEPLOY_TABLE)
def test_a_deploy_token_acts_on_its_own_project_within_its_scopes(
    scopes: set[str], whose: str, visibility: str, expected: set[str]
) -> None:
    owner = {"own": PROJECT, "other": "group/other", "parent": "group"}[whose]
    deploy = Principal("deploy", "tinyreg+deploy-token-7", scopes=frozenset(scopes), project=owner, token_id=7)
    assert allowed_actions(deploy, ProjectAccess(PROJECT, visibility == "public", True, None), set(ACTIONS)) == expected


@pytest.mark.parametrize(("visibility", "expected"), [("public", {"pull"}), ("private", set())])
def test_anonymous_may_pull_public_projects_only_and_never_write(visibility: str, expected: set[str]) -> None:
    assert allowed_actions(ANONYMOUS, ProjectAccess(PROJECT, visibility == "public", True, None), set(ACTIONS)) == expected


def test_a_role_given_to_anonymous_grants_nothing_beyond_public_pull() -> None:
    assert allowed_actions(ANONYMOUS, ProjectAccess(PROJECT, False, True, "owner"), set(ACTIONS)) == set()


def test_unknown_actions_are_never_granted() -> None:
    admin = Principal("user", "root", admin=True)
    assert allowed_actions(admin, ProjectAccess(PROJECT, True, True, None), {"*", "admin", "pull"}) == {"pull"}


def test_an_unknown_token_scope_grants_nothing() -> None:
    owner = Principal("user", "alice", scopes=frozenset({"sudo"}))
    assert allowed_actions(owner, ProjectAccess(PROJECT, False, True, "owner"), set(ACTIONS)) == set()


# -- project paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["group", "group/project", "a/b/c/d", "my-group/sub_group/project.name", "a__b/x--y", "0/9"])
def test_valid_project_paths_are_accepted(path: str) -> None:
    assert check_project_path(path) == path


# path → (offending character, its 1-based position in the path)
BAD_PATHS = [
    ("Group/x", "G", 1),
    ("group/_project", "_", 7),
    ("group/project-", "-", 14),
    ("group/pro ject", " ", 10),
    ("gr@up", "@", 3),
    ("a..b", ".", 3),
    ("a/b.", ".", 4),
    ("group/-x", "-", 7),
    ("a___b", "_", 4),
    ("my__-x", "-", 5),
    ("a/B", "B", 3),
]


@pytest.mark.parametrize(("path", "char", "position"), BAD_PATHS)
def test_an_invalid_project_path_names_the_offending_character_and_position(path: str, char: str, position: int) -> None:
    assert path[position - 1] == char
    with pytest.raises(PathError) as info:
        check_project_path(path)
    message = str(info.value)
    assert repr(char) in message, message
    assert f"position {position}" in message, message


@pytest.mark.parametrize(("path", "position"), [("a//b", 3), ("/a", 1), ("a/", 3)])
def test_an_empty_path_component_is_refused_with_its_position(path: str, position: int) -> None:
    with pytest.raises(PathError, match=f"empty .*position {position}"):
        check_project_path(path)


@pytest.mark.parametrize("path", ["", "x" * 256])
def test_empty_and_overlong_project_paths_are_refused(path: str) -> None:
    with pytest.raises(PathError):
        check_project_path(path)


NESTED = {"group/project", "team", "team/sub/app"}


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("group/project", "group/project"),
        ("group/project/image", "group/project"),
        ("group/project/my/image", "group/project"),
        ("group/project/a/b/c", None),
        ("group", None),
        ("group/projectx", None),
        ("group/other/image", None),
        ("team/sub/app/image", "team/sub/app"),
        ("team/sub/app/my/image", "team/sub/app"),
        ("team/sub/other", "team"),
        ("team/image", "team"),
        ("team/sub/app/a/b/c", None),
        ("team/a/b/c", None),
        ("elsewhere/image", None),
    ],
)
def test_a_repository_belongs_to_its_longest_project_prefix_within_two_components(repo: str, expected: str | None) -> None:
    assert project_of(repo, NESTED.__contains__) == expected
