"""Groups through `/api/v4` with python-gitlab: making them, their members, roles inherited by
the projects below, and a group's container repositories."""

from __future__ import annotations

from collections.abc import Iterator

import gitlab
import pytest
from tinyreg.testing import run_registry

from tests.gitlab_helpers import GitLabWorld, gitlab_error


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitLabWorld]:
    with run_registry(tmp_path_factory.mktemp("gitlab-groups"), auth=True) as registry:
        yield GitLabWorld.build(registry)


def user_id(world: GitLabWorld, name: str) -> int:
    return int(world.gitlab("root").users.list(username=name)[0].id)


def test_groups_subgroups_projects_and_inherited_roles(world: GitLabWorld) -> None:
    root, alice = world.gitlab("root"), world.gitlab("alice")
    acme = root.groups.create({"name": "acme", "path": "acme"})
    assert (acme.full_path, acme.visibility, acme.parent_id) == ("acme", "private", None)
    assert gitlab_error(lambda: alice.groups.create({"name": "mine", "path": "mine"}), 403) == "403 Forbidden"
    assert gitlab_error(lambda: alice.groups.get(acme.id), 404) == "404 Group Not Found"

    acme.members.create({"user_id": user_id(world, "alice"), "access_level": gitlab.const.AccessLevel.OWNER})
    assert gitlab_error(lambda: acme.members.create({"user_id": user_id(world, "alice"), "access_level": 50}), 409)
    web = alice.groups.create({"name": "web", "path": "web", "parent_id": acme.id})
    assert (web.full_path, web.parent_id) == ("acme/web", acme.id)
    assert alice.groups.get("acme/web").id == web.id

    project = alice.projects.create({"path": "app", "namespace_id": web.id})
    assert project.path_with_namespace == "acme/web/app" and project.namespace["id"] == web.id
    world.push("acme/web/app", "v1", "v2")

    # dave has no role anywhere, then inherits developer from acme
    dave = world.gitlab("dave")
    assert gitlab_error(lambda: dave.projects.get("acme/web/app"), 404) == "404 Project Not Found"
    acme.members.create({"user_id": user_id(world, "dave"), "access_level": gitlab.const.AccessLevel.DEVELOPER})
    assert {m.username: m.access_level for m in acme.members.list()} == {
        "root": 50,
        "alice": 50,
        "dave": 30,
    }  # its creator owns it
    repo = dave.projects.get("acme/web/app").repositories.list()[0]
    repo.tags.delete("v1")
    assert [t.name for t in repo.tags.list()] == ["v2"]
    assert gitlab_error(lambda: dave.groups.get(acme.id).members.delete(user_id(world, "alice")), 403) == "403 Forbidden"

    acme.members.delete(user_id(world, "dave"))
    assert gitlab_error(lambda: acme.members.delete(user_id(world, "dave")), 404) == "404 Member Not Found"
    assert gitlab_error(lambda: dave.projects.get("acme/web/app"), 404) == "404 Project Not Found"


def test_a_groups_repositories_are_those_of_its_projects_the_caller_may_read(world: GitLabWorld) -> None:
    world.registry.create_project("corp/one", owner="alice")
    world.registry.create_project("corp/sub/two", owner="alice")
    world.registry.create_project("corp/three", owner="carol")
    for repo in ("corp/one", "corp/one/tool", "corp/sub/two", "corp/three"):
        world.push(repo, "v1")
    group = world.gitlab("root").groups.get("corp")
    assert [r.path for r in group.registry_repositories.list(get_all=True)] == [
        "corp/one",
        "corp/one/tool",
        "corp/sub/two",
        "corp/three",
    ]
    world.gitlab("root").groups.get("corp").members.create({"user_id": user_id(world, "bob"), "access_level": 10})
    assert world.gitlab("bob").groups.get("corp").registry_repositories.list() == []  # a guest reads no images
    world.registry.add_member("corp/three", "bob", "reporter")
    assert [r.path for r in world.gitlab("bob").groups.get("corp").registry_repositories.list()] == ["corp/three"]
    sub = world.gitlab("root").groups.get("corp/sub")
    assert [r.path for r in sub.registry_repositories.list()] == ["corp/sub/two"]
    first = world.gitlab("root").groups.get("corp").registry_repositories.list(per_page=1, page=2)
    assert [r.path for r in first] == ["corp/one/tool"]
