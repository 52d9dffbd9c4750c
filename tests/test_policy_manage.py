"""Role inheritance, the management decisions and the API's scope check, table by table.

Rules: the highest role wins (a project's own and those of the groups above it); anyone with a
role (guest too), an admin, or a public project may be seen; maintainers, owners and admins
manage a project; who may delete images is who may DELETE through the registry; admins
administer users; group owners and admins manage a group, maintainers may create in it.
A write API call needs the scope `api`, a read `api` or `read_api`, `GET /user` also
`read_user`; deploy tokens and registry-only tokens never reach the API.
"""

from __future__ import annotations

import pytest
from tinyreg.access.policy import (
    ANONYMOUS,
    GroupAccess,
    Principal,
    ProjectAccess,
    allowed_actions,
    effective_role,
    may_administer,
    may_call_api,
    may_create_in_group,
    may_delete_images,
    may_manage_group,
    may_manage_project,
    may_read_images,
    may_see_group,
    may_see_project,
)

PROJECT = "group/project"


@pytest.mark.parametrize(
    ("roles", "effective"),
    [
        ([], None),
        ([None], None),
        ([None, None], None),
        (["guest"], "guest"),
        (["guest", None], "guest"),
        (["reporter", "developer"], "developer"),
        (["owner", "guest"], "owner"),
        (["maintainer", "developer", "reporter"], "maintainer"),
        ([None, "reporter", "guest"], "reporter"),
        (["bogus", "guest"], "guest"),  # an unknown role counts for nothing
    ],
)
def test_the_highest_role_wins(roles: list[str | None], effective: str | None) -> None:
    assert effective_role(roles) == effective
    assert effective_role(iter(roles)) == effective  # any iterable, read once


# Per principal and project visibility: see, manage, read images, delete images (y/n each).
PROJECT_TABLE = """
who          private  public
anonymous    nnnn     ynyn
guest        ynnn     ynyn
reporter     ynyn     ynyn
developer    ynyy     ynyy
maintainer   yyyy     yyyy
owner        yyyy     yyyy
non-member   nnnn     ynyn
admin        yyyy     yyyy
deploy-own   ynyy     ynyy
deploy-other nnnn     ynyn
"""


def principal_for(who: str, scopes: frozenset[str] | None = None) -> Principal:
    if who == "anonymous":
        return ANONYMOUS
    if who.startswith("deploy"):
        return Principal("deploy", "tinyreg+deploy-token-1", project=PROJECT if who == "deploy-own" else "other/project")
    return Principal("user", who, admin=who == "admin", scopes=scopes)


def project_for(who: str, visibility: str, *, registry: bool = True) -> ProjectAccess:
    role = who if who in ("guest", "reporter", "developer", "maintainer", "owner") else None
    return ProjectAccess(PROJECT, visibility == "public", registry, role)


def project_cells() -> list[tuple[str, str, str]]:
    lines = [line.split() for line in PROJECT_TABLE.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    return [(row[0], visibility, cell) for row in rows for visibility, cell in zip(header[1:], row[1:], strict=True)]


@pytest.mark.parametrize(("who", "visibility", "cell"), project_cells())
def test_project_decisions_by_role_and_visibility(who: str, visibility: str, cell: str) -> None:
    principal, project = principal_for(who), project_for(who, visibility)
    decided = [may_see_project, may_manage_project, may_read_images, may_delete_images]
    assert "".join("y" if decide(principal, project) else "n" for decide in decided) == cell


@pytest.mark.parametrize("who", ["developer", "maintainer", "admin"])
def test_images_follow_the_registry_switch_and_token_scopes_but_management_does_not(who: str) -> None:
    off = project_for(who, "private", registry=False)
    assert not may_read_images(principal_for(who), off) and not may_delete_images(principal_for(who), off)
    assert may_manage_project(principal_for(who), off) == (who != "developer")  # switching it back on
    on = project_for(who, "private")
    assert not may_delete_images(principal_for(who, frozenset({"read_api"})), on)
    assert may_delete_images(principal_for(who, frozenset({"api"})), on)
    assert not may_read_images(principal_for(who, frozenset({"read_user"})), on)


@pytest.mark.parametrize(
    ("who", "admin"),
    [("anonymous", False), ("owner", False), ("admin", True), ("deploy-own", False)],
)
def test_only_admins_administer_users_and_groups(who: str, admin: bool) -> None:
    assert may_administer(principal_for(who)) is admin
    assert may_administer(Principal("deploy", "x", admin=True)) is False  # only users are admins


# Per principal and group visibility: see, manage, create in it (y/n each).
GROUP_TABLE = """
who          private  public
anonymous    nnn      ynn
guest        ynn      ynn
reporter     ynn      ynn
developer    ynn      ynn
maintainer   yny      yny
owner        yyy      yyy
non-member   nnn      ynn
admin        yyy      yyy
deploy-own   nnn      ynn
"""


@pytest.mark.parametrize(
    ("who", "visibility", "cell"),
    [
        (row[0], visibility, cell)
        for row in [line.split() for line in GROUP_TABLE.strip().splitlines()[1:]]
        for visibility, cell in zip(("private", "public"), row[1:], strict=True)
    ],
)
def test_group_decisions_by_role_and_visibility(who: str, visibility: str, cell: str) -> None:
    role = who if who in ("guest", "reporter", "developer", "maintainer", "owner") else None
    group = GroupAccess("group", visibility == "public", role)
    decided = [may_see_group, may_manage_group, may_create_in_group]
    assert "".join("y" if decide(principal_for(who), group) else "n" for decide in decided) == cell


# Per credential: a read call, a write call, a read of the current user (GET /user).
API_TABLE = """
credential                read  write  user
anonymous                 y     n      n
password                  y     y      y
read_registry             n     n      n
write_registry            n     n      n
read_registry+write_registry n  n      n
api                       y     y      y
read_api                  y     n      y
read_user                 n     n      y
read_user+read_registry   n     n      y
read_api+write_registry   y     n      y
deploy                    n     n      n
"""


def credential(name: str) -> Principal:
    if name == "anonymous":
        return ANONYMOUS
    if name == "deploy":
        return Principal("deploy", "tinyreg+deploy-token-1", scopes=frozenset({"read_registry"}), project=PROJECT)
    return Principal("user", "alice", scopes=None if name == "password" else frozenset(name.split("+")))


@pytest.mark.parametrize("row", [line.split() for line in API_TABLE.strip().splitlines()[1:]], ids=lambda row: row[0])
def test_which_credentials_may_call_the_api(row: list[str]) -> None:
    principal = credential(row[0])
    got = [
        may_call_api(principal, write=False),
        may_call_api(principal, write=True),
        may_call_api(principal, write=False, user_only=True),
    ]
    assert ["y" if allowed else "n" for allowed in got] == row[1:]
    admin = Principal("user", "root", admin=True, scopes=principal.scopes) if principal.kind == "user" else principal
    assert may_call_api(admin, write=True) == (row[2] == "y")  # being an admin widens no scope


@pytest.mark.parametrize(
    ("scopes", "developer_may"),
    [
        ({"api"}, {"pull", "push", "delete"}),
        ({"read_api"}, {"pull"}),
        ({"read_user"}, set()),
        ({"read_user", "read_registry"}, {"pull"}),
        ({"read_api", "write_registry"}, {"pull", "push", "delete"}),
    ],
)
def test_api_scopes_reach_the_registry_as_in_gitlab(scopes: set[str], developer_may: set[str]) -> None:
    principal = Principal("user", "dev", scopes=frozenset(scopes))
    project = ProjectAccess(PROJECT, False, True, "developer")
    assert allowed_actions(principal, project, {"pull", "push", "delete"}) == developer_may
    reporter = ProjectAccess(PROJECT, False, True, "reporter")
    assert allowed_actions(principal, reporter, {"pull", "push", "delete"}) == developer_may & {"pull"}  # never above the role
